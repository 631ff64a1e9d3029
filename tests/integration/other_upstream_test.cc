// Upstreams other than a PEP 691 server: a local directory (`file://`) and a PEP 503 HTML-only
// index over HTTPS. Each is mirrored from the generated upstream and compared, file by file, with
// what the generator says a mirror must hold (manifest.json) and with a mirror of the same tree
// synced from nginx as JSON; FileUpstream's HTTP-like answers (ranges, If-Range, 404, 416) and its
// confinement to the index's directory are checked directly.

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "engine/file_upstream.h"
#include "engine/pypi/project_name.h"
#include "engine/pypi/simple_json.h"
#include "engine/sync_run.h"
#include "net/body_sink.h"
#include "net/client.h"
#include "net/url.h"
#include "tests/integration/manifest.h"
#include "tests/integration/sync_util.h"
#include "tests/support/nginx_upstream.h"
#include "tests/support/run_task.h"

namespace cistern {
namespace {

namespace fs = std::filesystem;
using testing::LoadManifest;
using testing::Manifest;
using testing::NginxUpstream;
using testing::NginxUpstreamOptions;
using testing::ReadFile;
using testing::RunCommand;
using testing::RunTask;
using testing::Sha256Hex;
using testing::Sync;
using testing::SyncOk;
using testing::TempDir;

// One file as a mirror serves it: what its page says and the bytes its link leads to.
struct Served {
  std::string sha256;  // of the bytes on disk
  bool yanked = false;
  std::string yank_reason;
  std::optional<std::string> requires_python;
  std::optional<std::string> metadata_sha256;  // of the .metadata file, when the page offers one
  bool operator==(const Served&) const = default;
};
using ServedTree = std::map<std::string, std::map<std::string, Served>>;  // project -> file

void PrintTo(const Served& served, std::ostream* os) {
  *os << served.sha256 << (served.yanked ? " yanked" : "")
      << (served.metadata_sha256 ? " +metadata" : "");
}

// Reads a mirror's web/ as pip would: the root, every project page, every link.
ServedTree ReadServed(const fs::path& web) {
  ServedTree tree;
  engine::SimpleJsonParser parser;
  std::string root_body = ReadFile(web / "simple/index.v1_json");
  auto root = parser.ParseRoot(root_body);
  EXPECT_TRUE(root.has_value()) << web << ": " << root.error().Message();
  if (!root) {
    return tree;
  }
  for (const auto& entry : root->projects) {
    const std::string name = engine::NormalizeProjectName(entry.name);
    const fs::path page_dir = web / "simple" / name;
    std::string body = ReadFile(page_dir / "index.v1_json");
    auto page = parser.ParseProject(body);
    EXPECT_TRUE(page.has_value()) << page_dir;
    if (!page) {
      continue;
    }
    auto& files = tree[name];
    for (const auto& file : page->files) {
      auto decoded = net::PercentDecode(file.url);
      EXPECT_TRUE(decoded.has_value()) << file.url;
      const fs::path on_disk = (page_dir / *decoded).lexically_normal();
      Served served;
      served.sha256 = Sha256Hex(ReadFile(on_disk));
      EXPECT_EQ(served.sha256, file.hashes.at("sha256")) << on_disk;
      served.yanked = file.yanked.yanked;
      served.yank_reason = file.yanked.reason;
      served.requires_python = file.requires_python;
      if (file.core_metadata.available) {
        served.metadata_sha256 = Sha256Hex(ReadFile(on_disk.string() + ".metadata"));
      }
      files[file.filename] = served;
    }
  }
  return tree;
}

// What the generator says a mirror must serve.
ServedTree Expected(const Manifest& manifest) {
  ServedTree tree;
  for (const auto& project : manifest.projects) {
    auto& files = tree[project.normalized];
    for (const auto& file : project.files) {
      files[file.filename] = Served{file.sha256, file.yanked, {}, {}, file.metadata_sha256};
    }
  }
  return tree;
}

// Drops what the manifest does not describe (yank reasons, requires-python) for a comparison.
ServedTree Essentials(ServedTree tree) {
  for (auto& [project, files] : tree) {
    for (auto& [name, served] : files) {
      served.yank_reason.clear();
      served.requires_python.reset();
    }
  }
  return tree;
}

// Generates the small upstream (page-relative file URLs) into `out`; returns its tree/.
fs::path Generate(const fs::path& out) {
  const auto result =
      RunCommand({"python3", testing::SourceDir() + "/tools/test_upstream/generate.py", "--out",
                  out.string(), "--profile", "small", "--seed", "1"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  return out / "tree";
}

// Removes every PEP 691 file (index.v1_json, index.v1_html) from the project pages of `tree`,
// leaving the PEP 503 index.html; with `root` the root's too.
void MakeHtmlOnly(const fs::path& tree, bool root) {
  for (const auto& entry : fs::recursive_directory_iterator(tree / "simple")) {
    const std::string name = entry.path().filename().string();
    const bool at_root = entry.path().parent_path() == tree / "simple";
    if ((name == "index.v1_json" || name == "index.v1_html") && (root || !at_root)) {
      fs::remove(entry.path());
    }
  }
}

engine::SyncOptions LocalOptions(const fs::path& mirror, const fs::path& tree) {
  engine::SyncOptions options;
  options.mirror = mirror;
  options.upstream = "file://" + (tree / "simple").string() + "/";
  options.page_backoff = std::chrono::milliseconds(20);
  options.download.backoff = std::chrono::milliseconds(20);
  return options;
}

TEST(FileUpstreamSyncTest, MirrorsALocalIndexAsTheSameFilesAndPagesAsOverHttps) {
  TempDir temp;
  const fs::path tree = Generate(temp.path() / "upstream");
  const Manifest manifest = LoadManifest((temp.path() / "upstream/manifest.json").string());
  ASSERT_FALSE(manifest.projects.empty());

  const fs::path local = temp.path() / "local";
  const engine::SyncReport report = SyncOk(LocalOptions(local, tree));
  EXPECT_TRUE(report.deferred.empty());
  EXPECT_EQ(report.projects_synced, manifest.projects.size());
  EXPECT_EQ(report.serial, manifest.serial);
  const ServedTree served = ReadServed(local / "web");
  EXPECT_EQ(Essentials(served), Expected(manifest));

  // The same tree served by nginx and mirrored over HTTPS gives the same mirror, byte for byte:
  // the local tree's PyPI layout (packages/<2>/<2>/<60>/) is kept below its web root.
  NginxUpstreamOptions serve;
  serve.tree = tree.string();
  auto upstream = NginxUpstream::Start(serve);
  ASSERT_NE(upstream, nullptr);
  const fs::path remote = temp.path() / "remote";
  SyncOk(testing::SyncOptionsFor(remote, *upstream));
  EXPECT_EQ(served, ReadServed(remote / "web"));
  const auto local_tree = testing::Snapshot(local / "web");
  const auto remote_tree = testing::Snapshot(remote / "web");
  EXPECT_EQ(local_tree.size(), remote_tree.size());
  EXPECT_TRUE(local_tree == remote_tree) << testing::DescribeDifferences(remote_tree, local_tree);

  // Nothing changed: nothing is fetched again and no page is rewritten.
  const engine::SyncReport again = SyncOk(LocalOptions(local, tree));
  EXPECT_EQ(again.projects_changed, 0u);
  EXPECT_EQ(again.files_fetched, 0u);
  EXPECT_EQ(again.pages_written, 0u);
}

TEST(FileUpstreamSyncTest, AnHtmlOnlyTreeNeedsAutoAndThenMirrorsTheSameFiles) {
  TempDir temp;
  const fs::path tree = Generate(temp.path() / "upstream");
  const Manifest manifest = LoadManifest((temp.path() / "upstream/manifest.json").string());
  MakeHtmlOnly(tree, /*root=*/true);

  const fs::path mirror = temp.path() / "mirror";
  auto refused = Sync(LocalOptions(mirror, tree));
  ASSERT_TRUE(refused.has_value());
  ASSERT_FALSE(refused->has_value());
  EXPECT_EQ(refused->error().code, engine::Errc::kUpstreamIndex);
  EXPECT_NE(refused->error().Message().find("upstream_format = \"auto\""), std::string::npos)
      << refused->error().Message();

  engine::SyncOptions options = LocalOptions(mirror, tree);
  options.upstream_format = engine::UpstreamFormat::kAuto;
  const engine::SyncReport report = SyncOk(options);
  EXPECT_TRUE(report.deferred.empty());
  EXPECT_EQ(report.projects_synced, manifest.projects.size());
  EXPECT_EQ(Essentials(ReadServed(mirror / "web")), Expected(manifest));
}

TEST(FileUpstreamSyncTest, FilesWithoutAnyHashAreMirroredWithTheSha256ComputedWhileFetched) {
  TempDir temp;
  const fs::path tree = Generate(temp.path() / "upstream");
  const Manifest manifest = LoadManifest((temp.path() / "upstream/manifest.json").string());
  MakeHtmlOnly(tree, /*root=*/true);
  // PEP 503 makes hashes optional: a plain directory listing of files, as many simple indexes are.
  const std::regex fragment("#sha256=[0-9a-f]{64}");
  const std::regex metadata("data-(core|dist-info)-metadata=\"sha256=[0-9a-f]{64}\"");
  for (const auto& entry : fs::recursive_directory_iterator(tree / "simple")) {
    if (entry.path().filename() == "index.html") {
      std::string page = ReadFile(entry.path());
      page = std::regex_replace(page, fragment, "");
      page = std::regex_replace(page, metadata, "data-$1-metadata=\"true\"");
      ASSERT_EQ(page.find("sha256="), std::string::npos) << entry.path();
      std::ofstream(entry.path(), std::ios::trunc) << page;
    }
  }
  engine::SyncOptions options = LocalOptions(temp.path() / "mirror", tree);
  options.upstream_format = engine::UpstreamFormat::kAuto;
  const engine::SyncReport report = SyncOk(options);
  EXPECT_TRUE(report.deferred.empty());
  EXPECT_TRUE(report.warnings.empty()) << report.warnings.front().Message();
  // ReadServed checks each page's sha256 against the bytes it links; the manifest, the content.
  EXPECT_EQ(Essentials(ReadServed(temp.path() / "mirror/web")), Expected(manifest));
  const engine::SyncReport again = SyncOk(options);
  EXPECT_EQ(again.files_fetched, 0u);
  EXPECT_EQ(again.pages_written, 0u);
}

class HtmlUpstreamTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    temp_ = new TempDir();
    tree_ = new fs::path(Generate(temp_->path() / "upstream"));
    manifest_ = new Manifest(LoadManifest((temp_->path() / "upstream/manifest.json").string()));
    MakeHtmlOnly(*tree_, /*root=*/false);
    // serve.py reads the root's serials from index.v1_json, so it stays on disk; the root is
    // served as HTML all the same, as an HTML-only index serves it.
    NginxUpstreamOptions options;
    options.tree = tree_->string();
    options.extra_conf =
        "location = /simple/ { default_type text/html; try_files /simple/index.html =404; }";
    upstream_ = NginxUpstream::Start(options).release();
  }
  static void TearDownTestSuite() {
    delete upstream_;
    delete manifest_;
    delete tree_;
    delete temp_;
  }

  static TempDir* temp_;
  static fs::path* tree_;
  static Manifest* manifest_;
  static NginxUpstream* upstream_;
  TempDir scratch_;
};

TempDir* HtmlUpstreamTest::temp_ = nullptr;
fs::path* HtmlUpstreamTest::tree_ = nullptr;
Manifest* HtmlUpstreamTest::manifest_ = nullptr;
NginxUpstream* HtmlUpstreamTest::upstream_ = nullptr;

TEST_F(HtmlUpstreamTest, AnHtmlAnswerIsRefusedUnlessAllowedAndNamesTheSetting) {
  ASSERT_NE(upstream_, nullptr);
  const fs::path mirror = scratch_.path() / "mirror";
  auto result = Sync(testing::SyncOptionsFor(mirror, *upstream_));
  ASSERT_TRUE(result.has_value());
  ASSERT_FALSE(result->has_value());
  EXPECT_EQ(result->error().code, engine::Errc::kUpstreamIndex);
  EXPECT_NE(result->error().Message().find("text/html"), std::string::npos)
      << result->error().Message();
  EXPECT_NE(result->error().Message().find("upstream_format = \"auto\""), std::string::npos)
      << result->error().Message();
}

TEST_F(HtmlUpstreamTest, AutoMirrorsEveryFileWithItsAttributesAndARerunFetchesNoFile) {
  ASSERT_NE(upstream_, nullptr);
  const fs::path mirror = scratch_.path() / "mirror";
  engine::SyncOptions options = testing::SyncOptionsFor(mirror, *upstream_);
  options.upstream_format = engine::UpstreamFormat::kAuto;
  const engine::SyncReport report = SyncOk(options);
  EXPECT_TRUE(report.deferred.empty());
  EXPECT_EQ(report.projects_synced, manifest_->projects.size());
  const ServedTree served = ReadServed(mirror / "web");
  EXPECT_EQ(Essentials(served), Expected(*manifest_));
  // PEP 503 carries yank reasons and requires-python as data- attributes: the same as JSON gives.
  const fs::path json_mirror = scratch_.path() / "json";
  // The original tree with its JSON pages: generated again (same seed, same bytes).
  Generate(temp_->path() / "json-upstream");
  NginxUpstreamOptions json_options;
  json_options.tree = (temp_->path() / "json-upstream/tree").string();
  auto json_upstream = NginxUpstream::Start(json_options);
  ASSERT_NE(json_upstream, nullptr);
  SyncOk(testing::SyncOptionsFor(json_mirror, *json_upstream));
  EXPECT_EQ(served, ReadServed(json_mirror / "web"));

  // The root has no serials, so every page is read again; no file is fetched again.
  const engine::SyncReport again = SyncOk(options);
  EXPECT_EQ(again.files_fetched, 0u);
  EXPECT_EQ(again.pages_written, 0u);
  EXPECT_TRUE(again.deferred.empty());
}

// FileUpstream answers a file: link as an HTTP server would.
class FileUpstreamFetchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(temp_.path() / "web/simple");
    fs::create_directories(temp_.path() / "web/packages/aa");
    body_ = std::string(1000, 'x') + std::string(500, 'y');
    std::ofstream(temp_.path() / "web/packages/aa/f-1.0.tar.gz") << body_;
    std::ofstream(temp_.path() / "secret") << "not for the mirror";
    auto index = net::Url::Parse("file://" + (temp_.path() / "web/simple").string() + "/",
                                 net::Schemes::kHttpOrFile);
    ASSERT_TRUE(index.has_value());
    index_ = *index;
  }

  struct Fetched {
    engine::Result<net::ResponseHead> head;
    std::string body;
  };
  Fetched Fetch(const std::string& reference, std::optional<engine::FileRange> range = {}) {
    auto url = index_.Resolve(reference);
    EXPECT_TRUE(url.has_value()) << reference;
    auto task = [](net::Url index, net::Url target,
                   std::optional<engine::FileRange> wanted) -> net::Task<Fetched> {
      // Named, not a braced temporary: GCC 12 destroys temporaries in a co_await expression
      // twice.
      const net::ClientOptions options;
      auto executor = co_await asio::this_coro::executor;
      auto client = net::Client::Create(executor, options);
      engine::FileUpstream upstream(**client, index);
      net::StringSink sink(1 << 20);
      auto head = co_await upstream.FetchFile(target, sink, wanted, false);
      co_return Fetched{std::move(head), sink.body()};
    };
    auto fetched = RunTask(task(index_, *url, std::move(range)));
    EXPECT_TRUE(fetched.has_value());
    return fetched ? std::move(*fetched) : Fetched{};
  }

  TempDir temp_;
  net::Url index_;
  std::string body_;
};

TEST_F(FileUpstreamFetchTest, AnswersWholeFilesRangesIfRangeAnd404) {
  auto whole = Fetch("../packages/aa/f-1.0.tar.gz");
  ASSERT_TRUE(whole.head.has_value()) << whole.head.error().Message();
  EXPECT_EQ(whole.head->status, 200);
  EXPECT_EQ(whole.head->content_length, body_.size());
  EXPECT_EQ(whole.body, body_);
  const auto etag = whole.head->headers.Get("ETag");
  ASSERT_TRUE(etag.has_value());

  auto rest = Fetch("../packages/aa/f-1.0.tar.gz", engine::FileRange{1000, std::string(*etag)});
  ASSERT_TRUE(rest.head.has_value());
  EXPECT_EQ(rest.head->status, 206);
  EXPECT_EQ(rest.head->headers.Get("Content-Range"), "bytes 1000-1499/1500");
  EXPECT_EQ(rest.body, body_.substr(1000));

  // The file changed since the partial began: the whole new file, as If-Range asks.
  auto changed = Fetch("../packages/aa/f-1.0.tar.gz", engine::FileRange{1000, "\"other\""});
  ASSERT_TRUE(changed.head.has_value());
  EXPECT_EQ(changed.head->status, 200);
  EXPECT_EQ(changed.body, body_);

  auto past_end = Fetch("../packages/aa/f-1.0.tar.gz", engine::FileRange{1500, ""});
  ASSERT_TRUE(past_end.head.has_value());
  EXPECT_EQ(past_end.head->status, 416);
  EXPECT_TRUE(past_end.body.empty());

  auto missing = Fetch("../packages/aa/gone-1.0.tar.gz");
  ASSERT_TRUE(missing.head.has_value());
  EXPECT_EQ(missing.head->status, 404);
  auto directory = Fetch("../packages/aa/");
  ASSERT_TRUE(directory.head.has_value());
  EXPECT_EQ(directory.head->status, 404);
}

TEST_F(FileUpstreamFetchTest, RefusesFilesOutsideTheDirectoryHoldingTheIndex) {
  for (const std::string reference :
       {"../../secret", "/etc/passwd", "../packages/%2E%2E/%2E%2E/secret",
        "../packages/aa/%2E%2E%2F%2E%2E%2F..%2Fsecret"}) {
    SCOPED_TRACE(reference);
    auto fetched = Fetch(reference);
    ASSERT_FALSE(fetched.head.has_value());
    EXPECT_EQ(fetched.head.error().code, engine::Errc::kFileFetch);
    EXPECT_NE(fetched.head.error().Message().find("outside"), std::string::npos)
        << fetched.head.error().Message();
    EXPECT_TRUE(fetched.body.empty());
  }
}

}  // namespace
}  // namespace cistern
