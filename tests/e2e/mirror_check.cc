#include "tests/e2e/mirror_check.h"

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <signal.h>
#include <spawn.h>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <gtest/gtest.h>
#include <simdjson.h>

#include "store/bytes.h"
#include "store/digest.h"

extern char** environ;

namespace cistern::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kPages[] = {"index.v1_json", "index.html", "index.v1_html"};

std::string PercentDecode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned value = 0;
    if (text[i] == '%' && i + 2 < text.size() &&
        std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16).ptr ==
            text.data() + i + 3) {
      out.push_back(static_cast<char>(value));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

std::string HtmlUnescape(std::string_view text) {
  static constexpr std::pair<std::string_view, char> kEntities[] = {
      {"&amp;", '&'},  {"&lt;", '<'},   {"&gt;", '>'},
      {"&quot;", '"'}, {"&#39;", '\''}, {"&#x27;", '\''}};
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    bool replaced = false;
    if (text[i] == '&') {
      for (const auto& [entity, ch] : kEntities) {
        if (text.substr(i).starts_with(entity)) {
          out.push_back(ch);
          i += entity.size() - 1;
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) {
      out.push_back(text[i]);
    }
  }
  return out;
}

// PEP 503 normalization: lowercase, runs of - _ . become one -.
std::string Normalize(std::string_view name) {
  std::string out;
  bool in_separator = false;
  for (char c : name) {
    if (c == '-' || c == '_' || c == '.') {
      in_separator = true;
      continue;
    }
    if (in_separator && !out.empty()) {
      out.push_back('-');
    }
    in_separator = false;
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

// `url` (as written in a page in `page_dir`, relative to web/) resolved to a path under web/, or
// nullopt when it is absolute or leaves web/.
std::optional<fs::path> Resolve(const fs::path& page_dir, std::string_view url) {
  url = url.substr(0, url.find('#'));
  url = url.substr(0, url.find('?'));
  if (url.empty() || url.find("://") != std::string_view::npos || url.starts_with("/")) {
    return std::nullopt;
  }
  const fs::path resolved = (page_dir / PercentDecode(url)).lexically_normal();
  if (resolved.empty() || *resolved.begin() == "..") {
    return std::nullopt;
  }
  return resolved;
}

// The value of attribute `name` in the tag text `tag`, HTML-unescaped.
std::optional<std::string> Attribute(std::string_view tag, std::string_view name) {
  const std::string needle = " " + std::string(name) + "=\"";
  const size_t start = tag.find(needle);
  if (start == std::string_view::npos) {
    return std::nullopt;
  }
  const size_t value = start + needle.size();
  const size_t end = tag.find('"', value);
  if (end == std::string_view::npos) {
    return std::nullopt;
  }
  return HtmlUnescape(tag.substr(value, end - value));
}

// The text of every `<a ...>` start tag in `html`.
std::vector<std::string_view> AnchorTags(std::string_view html) {
  std::vector<std::string_view> tags;
  for (size_t at = html.find("<a "); at != std::string_view::npos; at = html.find("<a ", at + 1)) {
    const size_t end = html.find('>', at);
    if (end == std::string_view::npos) {
      break;
    }
    tags.push_back(html.substr(at, end - at));
  }
  return tags;
}

class Checker {
 public:
  explicit Checker(const fs::path& web) : web_(web) {}

  LinkCheck Run() {
    std::error_code ec;
    if (!fs::exists(web_ / "simple", ec)) {
      return std::move(check_);
    }
    for (const auto& entry : fs::directory_iterator(web_ / "simple", ec)) {
      if (entry.is_directory()) {
        CheckProject(fs::path("simple") / entry.path().filename());
      }
    }
    CheckRoot();
    return std::move(check_);
  }

 private:
  void Problem(const fs::path& page, const std::string& what) {
    check_.problems.push_back(page.string() + ": " + what);
  }

  bool IsFile(const fs::path& relative) const {
    std::error_code ec;
    return fs::is_regular_file(web_ / relative, ec);
  }

  void CheckLink(const fs::path& page, const fs::path& page_dir, std::string_view url,
                 bool metadata) {
    ++check_.links;
    const auto target = Resolve(page_dir, url);
    if (!target) {
      Problem(page, "link leaves the tree: " + std::string(url));
      return;
    }
    if (!IsFile(*target)) {
      Problem(page, "links a missing file: " + target->string());
    }
    if (metadata) {
      const fs::path sidecar = target->string() + ".metadata";
      if (!IsFile(sidecar)) {
        Problem(page, "advertises missing metadata: " + sidecar.string());
      }
    }
  }

  void CheckProject(const fs::path& dir) {
    const fs::path json_page = dir / "index.v1_json";
    if (IsFile(json_page)) {
      ++check_.projects;
      simdjson::dom::element page;
      if (parser_.load((web_ / json_page).string()).get(page) != simdjson::SUCCESS) {
        Problem(json_page, "not valid JSON");
      } else {
        simdjson::dom::array files;
        if (page["files"].get_array().get(files) != simdjson::SUCCESS) {
          Problem(json_page, "no files array");
        } else {
          for (simdjson::dom::element file : files) {
            std::string_view url;
            if (file["url"].get_string().get(url) != simdjson::SUCCESS) {
              Problem(json_page, "a file without url");
              continue;
            }
            simdjson::dom::element metadata;
            const bool advertised = file["core-metadata"].get(metadata) == simdjson::SUCCESS &&
                                    (metadata.is_object() ||
                                     (metadata.is_bool() && metadata.get_bool().value_unsafe()));
            CheckLink(json_page, dir, url, advertised);
          }
        }
      }
    }
    for (const char* name : {"index.html", "index.v1_html"}) {
      const fs::path html_page = dir / name;
      if (!IsFile(html_page)) {
        continue;
      }
      const std::string html = ReadFile(web_ / html_page);
      for (std::string_view tag : AnchorTags(html)) {
        const auto href = Attribute(tag, "href");
        if (!href) {
          Problem(html_page, "an <a> without href");
          continue;
        }
        CheckLink(html_page, dir, *href, Attribute(tag, "data-core-metadata").has_value());
      }
    }
  }

  void ListedProject(const fs::path& page, const std::string& normalized) {
    for (const char* name : kPages) {
      if (!IsFile(fs::path("simple") / normalized / name)) {
        Problem(page,
                "lists " + normalized + " but simple/" + normalized + "/" + name + " is missing");
      }
    }
  }

  void CheckRoot() {
    const fs::path json_root = fs::path("simple") / "index.v1_json";
    if (IsFile(json_root)) {
      simdjson::dom::element root;
      simdjson::dom::array projects;
      if (parser_.load((web_ / json_root).string()).get(root) != simdjson::SUCCESS ||
          root["projects"].get_array().get(projects) != simdjson::SUCCESS) {
        Problem(json_root, "not valid JSON with a projects array");
      } else {
        for (simdjson::dom::element project : projects) {
          std::string_view name;
          if (project["name"].get_string().get(name) != simdjson::SUCCESS) {
            Problem(json_root, "a project without name");
            continue;
          }
          ListedProject(json_root, Normalize(name));
        }
      }
    }
    for (const char* name : {"index.html", "index.v1_html"}) {
      const fs::path html_root = fs::path("simple") / name;
      if (!IsFile(html_root)) {
        continue;
      }
      const std::string html = ReadFile(web_ / html_root);
      for (std::string_view tag : AnchorTags(html)) {
        const auto href = Attribute(tag, "href");
        if (!href || !href->ends_with("/") || href->find('/') != href->size() - 1) {
          Problem(html_root, "unexpected link " + href.value_or("(none)"));
          continue;
        }
        ListedProject(html_root, PercentDecode(href->substr(0, href->size() - 1)));
      }
    }
  }

  fs::path web_;
  simdjson::dom::parser parser_;
  LinkCheck check_;
};

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (std::string& text : strings) {
    pointers.push_back(text.data());
  }
  pointers.push_back(nullptr);
  return pointers;
}

bool Generate(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"python3", SourceDir() + "/tools/test_upstream/generate.py"};
  argv.insert(argv.end(), args.begin(), args.end());
  const CommandResult result = RunCommand(argv);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  return result.exit_code == 0;
}

}  // namespace

std::unique_ptr<TempDir> ScratchDir() {
  if (const char* base = std::getenv("CISTERN_SCRATCH_DIR"); base != nullptr && *base != '\0') {
    return std::make_unique<TempDir>(base);
  }
  if (::access("/dev/shm", W_OK) == 0) {
    return std::make_unique<TempDir>("/dev/shm");
  }
  return std::make_unique<TempDir>();
}

std::map<std::string, std::string> HashTree(const fs::path& root) {
  std::map<std::string, std::string> files;
  std::error_code ec;
  if (!fs::exists(root, ec)) {
    return files;
  }
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    const std::string path = fs::relative(entry.path(), root).string();
    if (entry.is_symlink()) {
      files[path] = "<not a file>";
    } else if (entry.is_regular_file()) {
      files[path] = store::Sha256Of(store::AsBytes(ReadFile(entry.path()))).Hex();
    } else if (!entry.is_directory()) {
      files[path] = "<not a file>";
    }
  }
  return files;
}

std::string DescribeTreeDifferences(const std::map<std::string, std::string>& expected,
                                    const std::map<std::string, std::string>& actual) {
  std::string out;
  size_t shown = 0;
  auto note = [&](std::string_view what, const std::string& path) {
    if (++shown <= 20) {
      out += "  " + std::string(what) + " " + path + "\n";
    }
  };
  for (const auto& [path, hash] : expected) {
    auto it = actual.find(path);
    if (it == actual.end()) {
      note("missing", path);
    } else if (it->second != hash) {
      note("differs", path);
    }
  }
  for (const auto& [path, hash] : actual) {
    if (!expected.contains(path)) {
      note("extra  ", path);
    }
  }
  if (shown > 20) {
    out += "  ... " + std::to_string(shown) + " differences in all\n";
  }
  return out;
}

LinkCheck CheckLinks(const fs::path& web) { return Checker(web).Run(); }

std::vector<std::string> TempFiles(const fs::path& incoming) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(incoming, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with(".tmp-")) {
      names.push_back(name);
    }
  }
  return names;
}

std::optional<std::map<std::string, std::string>> JournalTree(const fs::path& mirror) {
  const CommandResult log =
      RunCommand({CisternBinary(), "log", "--mirror", mirror.string(), "--json"});
  if (log.exit_code != 0) {
    ADD_FAILURE() << "cistern log failed (exit " << log.exit_code << "): " << log.err;
    return std::nullopt;
  }
  std::map<std::string, std::string> tree;
  simdjson::dom::parser parser;
  std::istringstream lines(log.out);
  for (std::string line; std::getline(lines, line);) {
    simdjson::dom::element entry;
    std::string_view action;
    std::string_view path;
    if (parser.parse(line).get(entry) != simdjson::SUCCESS ||
        entry["action"].get_string().get(action) != simdjson::SUCCESS ||
        entry["path"].get_string().get(path) != simdjson::SUCCESS) {
      ADD_FAILURE() << "unreadable journal line: " << line;
      return std::nullopt;
    }
    if (action == "removed") {
      tree.erase(std::string(path));
      continue;
    }
    std::string_view sha256;
    if (entry["sha256"].get_string().get(sha256) != simdjson::SUCCESS) {
      ADD_FAILURE() << "journal entry without sha256: " << line;
      return std::nullopt;
    }
    tree[std::string(path)] = std::string(sha256);
  }
  return tree;
}

std::optional<MirrorStatus> Status(const fs::path& mirror) {
  const CommandResult status =
      RunCommand({CisternBinary(), "status", "--mirror", mirror.string(), "--json"});
  if (status.exit_code != 0) {
    ADD_FAILURE() << "cistern status failed (exit " << status.exit_code << "): " << status.err;
    return std::nullopt;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  MirrorStatus result;
  if (parser.parse(status.out).get(root) != simdjson::SUCCESS ||
      root["generation"].get_uint64().get(result.generation) != simdjson::SUCCESS ||
      (!root["serial"].is_null() &&
       root["serial"].get_int64().get(result.serial) != simdjson::SUCCESS) ||
      root["projects"].get_uint64().get(result.projects) != simdjson::SUCCESS ||
      root["files"].get_uint64().get(result.files) != simdjson::SUCCESS ||
      root["bytes"].get_uint64().get(result.bytes) != simdjson::SUCCESS) {
    ADD_FAILURE() << "unexpected status output: " << status.out;
    return std::nullopt;
  }
  return result;
}

void PrintTo(const MirrorStatus& status, std::ostream* os) {
  *os << "{generation " << status.generation << ", serial " << status.serial << ", projects "
      << status.projects << ", files " << status.files << ", bytes " << status.bytes << "}";
}

::testing::AssertionResult CopyMirror(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::create_directories(to, ec);
  for (const auto& entry : fs::directory_iterator(from, ec)) {
    const fs::path name = entry.path().filename();
    // The store never writes a file under web/ in place (it renames over it or unlinks it), so
    // the copy may share those inodes; state/ (RocksDB, the lock file) is copied.
    const auto options =
        fs::copy_options::recursive | fs::copy_options::copy_symlinks |
        (name == "web" ? fs::copy_options::create_hard_links : fs::copy_options::none);
    fs::copy(entry.path(), to / name, options, ec);
    if (ec == std::errc::cross_device_link) {  // another file system: copy the bytes
      fs::remove_all(to / name, ec);
      fs::copy(entry.path(), to / name,
               fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
    }
    if (ec) {
      break;
    }
  }
  if (ec) {
    return ::testing::AssertionFailure() << "copy " << from << " to " << to << ": " << ec.message();
  }
  return ::testing::AssertionSuccess();
}

std::unique_ptr<Generations> Generations::Start(bool evolve, const std::string& extra_conf) {
  std::unique_ptr<Generations> generations(new Generations());
  generations->dir_ = ScratchDir();
  const fs::path dir = generations->dir_->path();
  if (!Generate({"--out", (dir / "gen0").string(), "--profile", "small", "--seed", "1"})) {
    return nullptr;
  }
  if (evolve && !Generate({"--evolve-from", (dir / "gen0").string(), "--out",
                           (dir / "gen1").string(), "--seed", "1"})) {
    return nullptr;
  }
  NginxUpstreamOptions options;
  options.extra_conf = extra_conf;
  options.tree = (dir / "gen0").string();
  generations->gen0_ = NginxUpstream::Start(options);
  if (generations->gen0_ == nullptr) {
    return nullptr;
  }
  if (evolve) {
    options.tree = (dir / "gen1").string();
    generations->gen1_ = NginxUpstream::Start(options);
    if (generations->gen1_ == nullptr) {
      return nullptr;
    }
  }
  return generations;
}

std::vector<std::string> SyncCommand(const fs::path& config, const fs::path& mirror,
                                     const NginxUpstream& upstream) {
  return {CisternBinary(),
          "--config",
          config.string(),
          "-q",
          "sync",
          "--mirror",
          mirror.string(),
          "--upstream",
          upstream.https_url(),
          "--ca-file",
          upstream.ca_file()};
}

fs::path WriteConfig(const fs::path& path, bool fsync) {
  std::ofstream(path) << "[mirror]\nfsync = " << (fsync ? "true" : "false") << "\n";
  return path;
}

Child::Child(const std::vector<std::string>& argv, const fs::path& out, const fs::path& err,
             const std::map<std::string, std::string>& extra_env) {
  std::vector<std::string> args = argv;
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    if (!extra_env.contains(std::string(text.substr(0, text.find('='))))) {
      env.emplace_back(text);
    }
  }
  for (const auto& [key, value] : extra_env) {
    env.push_back(key + "=" + value);
  }
  std::vector<char*> c_args = CStrings(args);
  std::vector<char*> c_env = CStrings(env);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (posix_spawn(&pid_, c_args[0], &actions, nullptr, c_args.data(), c_env.data()) != 0) {
    ADD_FAILURE() << "cannot start " << argv.front();
    pid_ = -1;
  }
  posix_spawn_file_actions_destroy(&actions);
}

Child::~Child() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

void Child::Signal(int number) const {
  if (pid_ > 0) {
    ::kill(pid_, number);
  }
}

int Child::Wait(std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  for (;;) {
    int status = 0;
    if (pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (pid_ <= 0 || Clock::now() >= deadline) {
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace cistern::testing
