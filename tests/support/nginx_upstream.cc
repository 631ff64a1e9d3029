#include "tests/support/nginx_upstream.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <iostream>
#include <iterator>
#include <tuple>
#include <string_view>
#include <thread>
#include <system_error>

#include <gtest/gtest.h>
#include <simdjson.h>

extern char** environ;

namespace cistern::testing {
namespace {

namespace fs = std::filesystem;

// Inside a test: that test failed. In suite set-up or tear-down: the suite failed.
bool CurrentTestFailed() {
  ::testing::UnitTest* unit = ::testing::UnitTest::GetInstance();
  if (unit->current_test_info() != nullptr) {
    return ::testing::Test::HasFailure();
  }
  if (const ::testing::TestSuite* suite = unit->current_test_suite(); suite != nullptr) {
    return suite->Failed();
  }
  return unit->Failed();
}

// Closes a file descriptor on scope exit.
class Fd {
 public:
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { Reset(); }

  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    fd_ = -1;
  }

 private:
  int fd_;
};

// The environment of the child: ours with `extra_env` applied, as "K=V" strings.
std::vector<std::string> ChildEnvironment(const std::map<std::string, std::string>& extra_env) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    std::string key(text.substr(0, text.find('=')));
    if (!extra_env.contains(key)) {
      env.emplace_back(text);
    }
  }
  for (const auto& [key, value] : extra_env) {
    env.push_back(key + "=" + value);
  }
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  pointers.reserve(strings.size() + 1);
  for (std::string& text : strings) {
    pointers.push_back(text.data());
  }
  pointers.push_back(nullptr);
  return pointers;
}

// Reads both pipes until EOF or `deadline`. Returns false on timeout.
bool DrainPipes(int out_fd, int err_fd, std::string& out, std::string& err,
                std::chrono::steady_clock::time_point deadline) {
  std::array<pollfd, 2> fds = {pollfd{out_fd, POLLIN, 0}, pollfd{err_fd, POLLIN, 0}};
  std::array<std::string*, 2> sinks = {&out, &err};
  int open_count = 2;
  std::array<char, 65536> buffer{};
  while (open_count > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return false;
    }
    int ready = ::poll(fds.data(), fds.size(), static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) {
      continue;
    }
    if (ready <= 0) {
      return ready == 0 ? false : true;
    }
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) {
        continue;
      }
      ssize_t n = ::read(fds[i].fd, buffer.data(), buffer.size());
      if (n > 0) {
        sinks[i]->append(buffer.data(), static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        fds[i].fd = -1;  // poll ignores negative descriptors
        --open_count;
      }
    }
  }
  return true;
}

int ExitCode(int status) {
  if (WIFEXITED(status)) {
    return WEXITSTATUS(status);
  }
  if (WIFSIGNALED(status)) {
    return 128 + WTERMSIG(status);
  }
  return -1;
}

std::string ServeScript() { return SourceDir() + "/tools/test_upstream/serve.py"; }

bool NginxInstalled() {
  CommandResult which = RunCommand({"sh", "-c", "command -v nginx || test -x /usr/sbin/nginx"},
                                   {}, std::chrono::seconds(10));
  return which.exit_code == 0;
}

}  // namespace

std::string SourceDir() {
  if (const char* from_env = std::getenv("CISTERN_SOURCE_DIR"); from_env && *from_env) {
    return from_env;
  }
  return CISTERN_SOURCE_DIR_DEFAULT;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string BinaryDir() {
  if (const char* from_env = std::getenv("CISTERN_BINARY_DIR"); from_env && *from_env) {
    return from_env;
  }
  return CISTERN_BINARY_DIR_DEFAULT;
}

std::string CisternBinary() { return BinaryDir() + "/tools/cistern/cistern"; }

TempDir::TempDir() : TempDir([] {
  const char* base = std::getenv("TMPDIR");
  return fs::path(base && *base ? base : "/tmp");
}()) {}

TempDir::TempDir(const fs::path& base) {
  std::string templ = (base / "cistern-test-XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp(" << templ << "): " << std::strerror(errno);
  }
  path_ = templ;
}

TempDir::~TempDir() {
  if (CurrentTestFailed()) {
    std::cerr << "[ TempDir  ] kept " << path_.string() << " (a test failed)\n";
    return;
  }
  std::error_code ignored;  // best effort: a leftover temp dir must not fail the test
  fs::remove_all(path_, ignored);
}

CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& extra_env,
                         std::chrono::seconds timeout) {
  CommandResult result;
  if (argv.empty()) {
    result.err = "RunCommand: empty argv";
    return result;
  }
  // Everything exec needs is built before fork: only async-signal-safe calls in the child.
  std::vector<std::string> args = argv;
  std::vector<std::string> env = ChildEnvironment(extra_env);
  std::vector<char*> c_args = CStrings(args);
  std::vector<char*> c_env = CStrings(env);
  std::array<int, 2> out_pipe{};
  std::array<int, 2> err_pipe{};
  if (::pipe2(out_pipe.data(), O_CLOEXEC) != 0) {
    result.err = std::string("pipe: ") + std::strerror(errno);
    return result;
  }
  Fd out_read(out_pipe[0]);
  Fd out_write(out_pipe[1]);
  if (::pipe2(err_pipe.data(), O_CLOEXEC) != 0) {
    result.err = std::string("pipe: ") + std::strerror(errno);
    return result;
  }
  Fd err_read(err_pipe[0]);
  Fd err_write(err_pipe[1]);
  int dev_null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  Fd null_fd(dev_null);

  pid_t pid = ::fork();
  if (pid < 0) {
    result.err = std::string("fork: ") + std::strerror(errno);
    return result;
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    ::dup2(null_fd.get(), STDIN_FILENO);
    ::dup2(out_write.get(), STDOUT_FILENO);
    ::dup2(err_write.get(), STDERR_FILENO);
    ::execvpe(c_args[0], c_args.data(), c_env.data());
    static constexpr char kMessage[] = "RunCommand: exec failed\n";
    std::ignore = ::write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also here: no window in which a timeout kill misses the group
  out_write.Reset();
  err_write.Reset();

  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool finished = DrainPipes(out_read.get(), err_read.get(), result.out, result.err, deadline);
  if (!finished) {
    ::kill(-pid, SIGKILL);  // the group we created for this child
    result.err += "\nRunCommand: timed out after " + std::to_string(timeout.count()) + " s: " +
                  argv[0];
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = finished ? ExitCode(status) : -1;
  return result;
}

std::unique_ptr<NginxUpstream> NginxUpstream::Start(const NginxUpstreamOptions& options) {
  if (!NginxInstalled()) {
    ADD_FAILURE() << "nginx not found: install the Debian package nginx-light";
    return nullptr;
  }
  std::unique_ptr<NginxUpstream> upstream(new NginxUpstream());
  upstream->temp_dir_ = std::make_unique<TempDir>();
  const std::string workdir = upstream->temp_dir_->path().string();

  // --owner-pid: if this test process dies without its TearDown (an abort), nginx follows it.
  std::vector<std::string> argv = {"python3",   ServeScript(), "start",
                                   "--workdir", workdir,       "--owner-pid",
                                   std::to_string(::getpid())};
  if (!options.mirror_web.empty()) {
    argv.insert(argv.end(), {"--mirror-web", options.mirror_web});
  } else if (!options.tree.empty()) {
    argv.insert(argv.end(), {"--tree", options.tree});
  } else {
    argv.insert(argv.end(), {"--profile", options.profile, "--seed", std::to_string(options.seed)});
    if (options.projects > 0) {
      argv.insert(argv.end(), {"--projects", std::to_string(options.projects)});
    }
    if (options.faults) {
      argv.push_back("--faults");
    }
  }
  if (!options.extra_conf.empty()) {
    std::string path = workdir + "/extra.input.conf";
    std::ofstream(path) << options.extra_conf << "\n";
    argv.insert(argv.end(), {"--extra-conf", path});
  }

  CommandResult started = RunCommand(argv, {}, std::chrono::seconds(600));
  if (started.exit_code != 0) {
    ADD_FAILURE() << "serve.py start failed (exit " << started.exit_code << ") in " << workdir
                  << ":\n"
                  << started.err;
    return nullptr;
  }

  simdjson::ondemand::parser parser;
  simdjson::padded_string json(started.out);
  simdjson::ondemand::document doc;
  if (parser.iterate(json).get(doc) != simdjson::SUCCESS) {
    ADD_FAILURE() << "serve.py printed no JSON: " << started.out;
    return nullptr;
  }
  upstream->workdir_ = workdir;
  struct Field {
    const char* key;
    std::string* target;
  };
  for (const Field& field : {Field{"https_url", &upstream->https_url_},
                             Field{"http_url", &upstream->http_url_},
                             Field{"ca_file", &upstream->ca_file_},
                             Field{"tree", &upstream->tree_dir_},
                             Field{"manifest", &upstream->manifest_path_},
                             Field{"access_log", &upstream->access_log_}}) {
    std::string_view value;
    if (doc[field.key].get_string().get(value) != simdjson::SUCCESS) {
      ADD_FAILURE() << "serve.py output lacks \"" << field.key << "\": " << started.out;
      return nullptr;  // the destructor stops nginx
    }
    *field.target = std::string(value);
  }
  return upstream;
}

NginxUpstream::~NginxUpstream() {
  if (temp_dir_ && fs::exists(temp_dir_->path() / "server.json")) {
    CommandResult stopped = RunCommand(
        {"python3", ServeScript(), "stop", "--workdir", temp_dir_->path().string()}, {},
        std::chrono::seconds(60));
    if (stopped.exit_code != 0) {
      ADD_FAILURE() << "serve.py stop failed: " << stopped.err;
    }
  }
}

::testing::AssertionResult NginxUpstream::Reload() const {
  CommandResult reloaded = RunCommand({"python3", ServeScript(), "reload", "--workdir", workdir_},
                                      {}, std::chrono::seconds(60));
  if (reloaded.exit_code != 0) {
    return ::testing::AssertionFailure() << "serve.py reload failed: " << reloaded.err;
  }
  return ::testing::AssertionSuccess();
}

std::vector<std::string> NginxUpstream::AccessLogLines() const {
  // nginx logs a request just after its response went out, so a client that has its answer may
  // look before the line is there. Wait until the log has stopped growing for 200 ms (bounded).
  std::error_code ec;
  uintmax_t size = std::filesystem::file_size(access_log_, ec);
  auto unchanged_since = std::chrono::steady_clock::now();
  const auto give_up = unchanged_since + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < give_up &&
         std::chrono::steady_clock::now() - unchanged_since < std::chrono::milliseconds(200)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const uintmax_t now_size = std::filesystem::file_size(access_log_, ec);
    if (now_size != size) {
      size = now_size;
      unchanged_since = std::chrono::steady_clock::now();
    }
  }
  std::vector<std::string> lines;
  std::ifstream stream(access_log_);
  for (std::string line; std::getline(stream, line);) {
    lines.push_back(std::move(line));
  }
  return lines;
}

}  // namespace cistern::testing
