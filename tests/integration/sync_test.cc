// A whole sync, in process, against real nginx serving the generated upstream over HTTPS (HTTP/2
// offered, HTTP/1.1 used today): every file lands with its SHA-256, every page link resolves, a
// second run fetches nothing, and bad input defers or rejects exactly what it must while
// everything else completes.

#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "engine/pypi/simple_json.h"
#include "engine/sync_run.h"
#include "net/url.h"
#include "store/bytes.h"
#include "store/digest.h"
#include "tests/integration/manifest.h"
#include "tests/integration/sync_util.h"
#include "tests/support/run_task.h"
#include "tests/support/nginx_upstream.h"

namespace cistern {
namespace {

namespace fs = std::filesystem;
using testing::LoadManifest;
using testing::Manifest;
using testing::NginxUpstream;
using testing::NginxUpstreamOptions;
using testing::ReadFile;
using testing::RunTask;
using testing::DeferredProjects;
using testing::Sha256Hex;
using testing::Snapshot;
using testing::Sync;
using testing::SyncOk;
using testing::TempDir;

engine::SyncOptions Options(const fs::path& mirror, const NginxUpstream& upstream) {
  return testing::SyncOptionsFor(mirror, upstream);
}

class SyncTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    upstream_ = NginxUpstream::Start().release();
    if (upstream_ != nullptr) {
      manifest_ = new Manifest(LoadManifest(upstream_->manifest_path()));
    }
  }
  static void TearDownTestSuite() {
    delete upstream_;
    delete manifest_;
    upstream_ = nullptr;
    manifest_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(upstream_, nullptr);
    ASSERT_FALSE(manifest_->projects.empty());
  }

  static NginxUpstream* upstream_;
  static Manifest* manifest_;
  TempDir temp_;
};

NginxUpstream* SyncTest::upstream_ = nullptr;
Manifest* SyncTest::manifest_ = nullptr;

TEST_F(SyncTest, MirrorsEveryUpstreamFileWithItsSha256) {
  const fs::path mirror = temp_.path() / "mirror";
  const engine::SyncReport report = SyncOk(Options(mirror, *upstream_));
  EXPECT_TRUE(report.deferred.empty());
  EXPECT_EQ(report.projects_synced, manifest_->projects.size());
  EXPECT_EQ(report.serial, manifest_->serial);

  size_t files = 0;
  for (const auto& project : manifest_->projects) {
    for (const auto& file : project.files) {
      const fs::path path = mirror / "web" / file.path;
      ASSERT_TRUE(fs::exists(path)) << project.normalized << ": " << file.path;
      EXPECT_EQ(Sha256Hex(ReadFile(path)), file.sha256) << file.path;
      if (file.metadata_sha256) {
        EXPECT_EQ(Sha256Hex(ReadFile(path.string() + ".metadata")), *file.metadata_sha256);
      } else {
        EXPECT_FALSE(fs::exists(path.string() + ".metadata")) << file.path;
      }
      ++files;
    }
    const fs::path pages = mirror / "web/simple" / project.normalized;
    EXPECT_EQ(ReadFile(pages / "index.html"), ReadFile(pages / "index.v1_html"));
    EXPECT_TRUE(fs::exists(pages / "index.v1_json")) << project.normalized;
  }
  EXPECT_GT(files, 200u);
  // Nothing temporary is left behind, and nothing hidden is published.
  EXPECT_TRUE(fs::is_empty(mirror / "incoming"));
  for (const auto& [path, bytes] : Snapshot(mirror / "web")) {
    EXPECT_EQ(fs::path(path).filename().string().front() == '.', false) << path;
  }
}

TEST_F(SyncTest, EveryPageLinkResolvesToAFileWithTheDeclaredHash) {
  const fs::path mirror = temp_.path() / "mirror";
  SyncOk(Options(mirror, *upstream_));
  const fs::path web = mirror / "web";

  engine::SimpleJsonParser parser;
  std::string root_body = ReadFile(web / "simple/index.v1_json");
  auto root = parser.ParseRoot(root_body);
  ASSERT_TRUE(root.has_value()) << root.error().Message();
  ASSERT_EQ(root->projects.size(), manifest_->projects.size());
  EXPECT_EQ(root->last_serial, manifest_->serial);

  const std::regex href(R"re(<a href="([^"#]+)#sha256=([0-9a-f]{64})"[^>]*>)re");
  size_t links = 0;
  for (const auto& project : manifest_->projects) {
    const std::string base = "https://mirror.invalid/simple/" + project.normalized + "/";
    auto page_url = net::Url::Parse(base);
    ASSERT_TRUE(page_url.has_value());
    std::string body = ReadFile(web / "simple" / project.normalized / "index.v1_json");
    auto page = parser.ParseProject(body);
    ASSERT_TRUE(page.has_value()) << project.normalized << ": " << page.error().Message();
    ASSERT_EQ(page->files.size(), project.files.size()) << project.normalized;
    std::set<std::string> json_links;
    for (const auto& file : page->files) {
      auto url = page_url->Resolve(file.url);
      ASSERT_TRUE(url.has_value()) << file.url;
      auto path = net::PercentDecode(url->path().substr(1));
      ASSERT_TRUE(path.has_value()) << file.url;
      const std::string bytes = ReadFile(web / *path);
      EXPECT_EQ(Sha256Hex(bytes), file.hashes.at("sha256")) << *path;
      EXPECT_EQ(file.size, bytes.size()) << *path;
      if (file.core_metadata.available) {
        EXPECT_EQ(Sha256Hex(ReadFile(web / (*path + ".metadata"))),
                  file.core_metadata.hashes.at("sha256"));
      }
      json_links.insert(file.url + "#" + file.hashes.at("sha256"));
      ++links;
    }
    // The HTML page links exactly the same files with the same hashes.
    const std::string html = ReadFile(web / "simple" / project.normalized / "index.html");
    std::set<std::string> html_links;
    for (auto it = std::sregex_iterator(html.begin(), html.end(), href);
         it != std::sregex_iterator(); ++it) {
      html_links.insert((*it)[1].str() + "#" + (*it)[2].str());
    }
    EXPECT_EQ(html_links, json_links) << project.normalized;
  }
  EXPECT_GT(links, 200u);
}

TEST_F(SyncTest, SecondSyncOfAnUnchangedUpstreamDownloadsNothing) {
  const fs::path mirror = temp_.path() / "mirror";
  SyncOk(Options(mirror, *upstream_));
  const auto before = Snapshot(mirror / "web");
  const size_t log_lines = upstream_->AccessLogLines().size();

  const engine::SyncReport second = SyncOk(Options(mirror, *upstream_));
  EXPECT_EQ(second.files_fetched, 0u);
  EXPECT_EQ(second.projects_synced, 0u);
  EXPECT_EQ(second.pages_written, 0u);
  EXPECT_TRUE(second.deferred.empty());
  EXPECT_EQ(second.generation, 2u);

  auto lines = upstream_->AccessLogLines();
  lines.erase(lines.begin(), lines.begin() + static_cast<std::ptrdiff_t>(log_lines));
  ASSERT_EQ(lines.size(), 1u) << "only the index root is fetched";
  EXPECT_NE(lines[0].find("\"GET /simple/ "), std::string::npos) << lines[0];
  EXPECT_EQ(Snapshot(mirror / "web"), before);
}

// The protocol and connection serial of each access log line (the format is in
// tools/test_upstream/serve.py: ... $server_protocol $connection ...).
std::vector<std::pair<std::string, std::string>> ProtocolsAndConnections(
    const std::vector<std::string>& lines) {
  static const std::regex kLine(R"re(^\S+ \[[^\]]*\] "[^"]*" \d+ \d+ "[^"]*" (\S+) (\d+) )re");
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& line : lines) {
    std::smatch match;
    if (std::regex_search(line, match, kLine)) {
      out.emplace_back(match[1], match[2]);
    } else {
      ADD_FAILURE() << "unexpected access log line: " << line;
    }
  }
  return out;
}

TEST_F(SyncTest, FullSyncOverHttp2UsesFewConnectionsAndGivesTheTreeHttp11Gives) {
  const fs::path h2_mirror = temp_.path() / "h2";
  engine::SyncOptions options = Options(h2_mirror, *upstream_);
  options.client.max_connections_per_origin = 2;
  const size_t before = upstream_->AccessLogLines().size();
  const engine::SyncReport h2 = SyncOk(options);
  EXPECT_TRUE(h2.deferred.empty());
  EXPECT_LE(h2.net.connections_opened, 2u);

  auto lines = upstream_->AccessLogLines();
  lines.erase(lines.begin(), lines.begin() + static_cast<std::ptrdiff_t>(before));
  ASSERT_GT(lines.size(), 300u);
  std::set<std::string> connections;
  for (const auto& [protocol, connection] : ProtocolsAndConnections(lines)) {
    EXPECT_EQ(protocol, "HTTP/2.0");
    connections.insert(connection);
  }
  EXPECT_GE(connections.size(), 1u);
  EXPECT_LE(connections.size(), 2u) << "nginx saw more connections than configured";

  // The same upstream over plain HTTP/1.1 gives the same bytes.
  const fs::path h1_mirror = temp_.path() / "h1";
  engine::SyncOptions h1_options = Options(h1_mirror, *upstream_);
  h1_options.upstream = upstream_->http_url();
  const engine::SyncReport h1 = SyncOk(h1_options);
  EXPECT_TRUE(h1.deferred.empty());
  const auto h1_tree = Snapshot(h1_mirror / "web");
  const auto h2_tree = Snapshot(h2_mirror / "web");
  EXPECT_TRUE(h1_tree == h2_tree) << testing::DescribeDifferences(h1_tree, h2_tree);
}

TEST_F(SyncTest, ProjectArgumentsLimitTheRunToThoseProjects) {
  const fs::path mirror = temp_.path() / "mirror";
  engine::SyncOptions options = Options(mirror, *upstream_);
  options.projects = {"Foo_Bar", "CHAIN.a"};
  const engine::SyncReport report = SyncOk(options);
  EXPECT_EQ(report.projects_synced, 2u);
  std::set<std::string> dirs;
  for (const auto& entry : fs::directory_iterator(mirror / "web/simple")) {
    if (entry.is_directory()) {
      dirs.insert(entry.path().filename().string());
    }
  }
  EXPECT_EQ(dirs, (std::set<std::string>{"chain-a", "foo-bar"}));
  EXPECT_EQ(report.serial, std::nullopt)
      << "a run limited to some projects does not claim the upstream serial";
  EXPECT_EQ(SyncOk(Options(mirror, *upstream_)).serial, manifest_->serial);
}

TEST_F(SyncTest, DryRunReportsEveryProjectAndWritesNothing) {
  const fs::path mirror = temp_.path() / "mirror";
  engine::SyncOptions options = Options(mirror, *upstream_);
  options.dry_run = true;
  const engine::SyncReport report = SyncOk(options);
  EXPECT_EQ(report.would_sync.size(), manifest_->projects.size());
  EXPECT_FALSE(fs::exists(mirror));
}

TEST_F(SyncTest, DryRunOnAnExistingMirrorChangesNothing) {
  const fs::path mirror = temp_.path() / "mirror";
  SyncOk(Options(mirror, *upstream_));
  std::ofstream(mirror / "incoming" / ".tmp-left-by-a-killed-run") << "partial";
  const auto web = Snapshot(mirror / "web");
  const auto incoming = Snapshot(mirror / "incoming");

  engine::SyncOptions options = Options(mirror, *upstream_);
  options.dry_run = true;
  const engine::SyncReport report = SyncOk(options);
  EXPECT_TRUE(report.would_sync.empty());
  EXPECT_EQ(report.projects_upstream, manifest_->projects.size());
  EXPECT_EQ(Snapshot(mirror / "web"), web);
  EXPECT_EQ(Snapshot(mirror / "incoming"), incoming);
}

// Starts an upstream whose `/simple/` is replaced by `extra_conf`.
std::unique_ptr<NginxUpstream> UpstreamWithRoot(const std::string& extra_conf) {
  NginxUpstreamOptions options;
  options.extra_conf = extra_conf;
  return NginxUpstream::Start(options);
}

class BadRootTest : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(BadRootTest, LeavesTheMirrorUnchangedAndFailsWithUpstreamIndex) {
  TempDir temp;
  auto good = NginxUpstream::Start();
  ASSERT_NE(good, nullptr);
  const fs::path mirror = temp.path() / "mirror";
  SyncOk(Options(mirror, *good));
  const auto before = Snapshot(mirror / "web");

  auto bad = UpstreamWithRoot(GetParam().second);
  ASSERT_NE(bad, nullptr);
  auto result = Sync(Options(mirror, *bad));
  ASSERT_TRUE(result.has_value());
  ASSERT_FALSE(result->has_value()) << GetParam().first << " was accepted";
  EXPECT_EQ(result->error().code, engine::Errc::kUpstreamIndex) << result->error().Message();
  EXPECT_NE(result->error().Message().find("/simple/"), std::string::npos)
      << result->error().Message();
  EXPECT_EQ(Snapshot(mirror / "web"), before);
}

INSTANTIATE_TEST_SUITE_P(
    Roots, BadRootTest,
    ::testing::Values(
        std::pair{"truncated JSON",
                  R"(location = /simple/ { default_type application/vnd.pypi.simple.v1+json;
                     return 200 '{"meta": {"api-version": "1.4"}, "projects": [{"name": "a'; })"},
        std::pair{"HTML error page", R"(location = /simple/ { default_type text/html;
                     return 200 '<html><body>Service Unavailable</body></html>'; })"},
        std::pair{"503", R"(location = /simple/ { return 503; })"},
        std::pair{"unknown API major", R"(location = /simple/ {
                     default_type application/vnd.pypi.simple.v1+json;
                     return 200 '{"meta": {"api-version": "2.0"}, "projects": []}'; })"}),
    [](const auto& param_info) {
      std::string name = param_info.param.first;
      for (char& c : name) {
        c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      }
      return name;
    });

TEST(SyncNamesTest, HostileProjectNamesAreSkippedAndNamedWhileValidOnesSync) {
  TempDir temp;
  auto upstream = UpstreamWithRoot(R"(location = /simple/ {
      default_type application/vnd.pypi.simple.v1+json;
      return 200 '{"meta": {"api-version": "1.4", "_last-serial": 5}, "projects": [
        {"name": "../evil", "_last-serial": 1}, {"name": "a/b", "_last-serial": 1},
        {"name": "_hidden", "_last-serial": 1}, {"name": "Foo_Bar", "_last-serial": 1},
        {"name": "foo.bar", "_last-serial": 1}, {"name": "chain-c", "_last-serial": 1}]}'; })");
  ASSERT_NE(upstream, nullptr);
  const fs::path mirror = temp.path() / "mirror";
  const engine::SyncReport report = SyncOk(Options(mirror, *upstream));
  EXPECT_EQ(report.projects_synced, 2u);
  std::string warnings;
  for (const auto& warning : report.warnings) {
    warnings += warning.Message() + "\n";
  }
  for (const char* name : {"\"../evil\"", "\"a/b\"", "\"_hidden\"", "\"foo.bar\""}) {
    EXPECT_NE(warnings.find(name), std::string::npos) << name << " not named in:\n" << warnings;
  }
  EXPECT_TRUE(fs::exists(mirror / "web/simple/foo-bar/index.v1_json"));
  EXPECT_TRUE(fs::exists(mirror / "web/simple/chain-c/index.v1_json"));
  EXPECT_FALSE(fs::exists(mirror / "evil"));
  EXPECT_FALSE(fs::exists(mirror / "web/evil"));
}

TEST(SyncStaleTest, APageOlderThanTheIndexPromisedIsRetriedThenDeferred) {
  // The index claims a serial for chain-c far above what its page (and X-PyPI-Last-Serial) says:
  // a stale CDN copy (pypi-mirror-protocol.md §1.8).
  TempDir temp;
  auto upstream = UpstreamWithRoot(R"(location = /simple/ {
      default_type application/vnd.pypi.simple.v1+json;
      return 200 '{"meta": {"api-version": "1.4", "_last-serial": 99999999999}, "projects": [
        {"name": "chain_c", "_last-serial": 99999999999}, {"name": "Foo_Bar", "_last-serial": 1}]}';
      })");
  ASSERT_NE(upstream, nullptr);
  const fs::path mirror = temp.path() / "mirror";
  const engine::SyncReport report = SyncOk(Options(mirror, *upstream));

  ASSERT_EQ(DeferredProjects(report), std::set<std::string>{"chain-c"});
  EXPECT_EQ(report.deferred[0].code, engine::Errc::kStalePage);
  EXPECT_NE(report.deferred[0].Message().find("older than the index's 99999999999"),
            std::string::npos)
      << report.deferred[0].Message();
  EXPECT_FALSE(fs::exists(mirror / "web/simple/chain-c"));
  EXPECT_TRUE(fs::exists(mirror / "web/simple/foo-bar/index.v1_json"));
  EXPECT_EQ(report.serial, std::nullopt) << "a run with a deferral does not claim the serial";
  size_t page_requests = 0;
  for (const std::string& line : upstream->AccessLogLines()) {
    page_requests += line.find("\"GET /simple/chain-c/ ") != std::string::npos ? 1u : 0u;
  }
  EXPECT_EQ(page_requests, 3u) << "page_attempts (3), then deferred";
}

TEST(SyncStaleTest, AnIndexWithALowerSerialNeverTakesTheMirrorsSerialBack) {
  // A stale CDN copy of the index (§1.8) announces an older global serial: the mirror keeps the
  // serial it reached, in its state and in its own root page (§4: never regress a serial).
  auto root = [](int serial) {
    return fmt::format(R"(location = /simple/ {{
        default_type application/vnd.pypi.simple.v1+json;
        return 200 '{{"meta": {{"api-version": "1.4", "_last-serial": {}}}, "projects": [
          {{"name": "Foo_Bar", "_last-serial": 1}}, {{"name": "chain-c", "_last-serial": 1}}]}}'; }})",
                       serial);
  };
  TempDir temp;
  const fs::path mirror = temp.path() / "mirror";
  auto fresh = UpstreamWithRoot(root(5));
  ASSERT_NE(fresh, nullptr);
  EXPECT_EQ(SyncOk(Options(mirror, *fresh)).serial, 5);
  fresh.reset();
  auto stale = UpstreamWithRoot(root(3));
  ASSERT_NE(stale, nullptr);
  const engine::SyncReport report = SyncOk(Options(mirror, *stale));
  EXPECT_EQ(report.upstream_serial, 3);
  EXPECT_EQ(report.serial, 5);
  EXPECT_NE(ReadFile(mirror / "web/simple/index.v1_json").find(R"("api-version":"1.4","_last-serial":5})"),
            std::string::npos)
      << ReadFile(mirror / "web/simple/index.v1_json");
}

TEST(SyncFaultsTest, BadProjectsAreDeferredOrRejectedAndAllOthersComplete) {
  TempDir temp;
  NginxUpstreamOptions upstream_options;
  upstream_options.faults = true;
  auto upstream = NginxUpstream::Start(upstream_options);
  ASSERT_NE(upstream, nullptr);
  const Manifest manifest = LoadManifest(upstream->manifest_path());
  const fs::path mirror = temp.path() / "mirror";
  const engine::SyncReport report = SyncOk(Options(mirror, *upstream));

  EXPECT_EQ(DeferredProjects(report),
            (std::set<std::string>{"fault-bad-hash", "fault-bad-metadata", "fault-bad-page",
                                   "fault-missing-file"}));
  std::string messages;
  for (const auto& error : report.deferred) {
    messages += error.Message() + "\n";
  }
  for (const auto& warning : report.warnings) {
    messages += warning.Message() + "\n";
  }
  // Each message names the project and, for file problems, the file.
  for (const char* needle : {"fault-missing-file: fault_missing_file-", "HTTP 404",
                             "fault-bad-hash: fault_bad_hash-", "does not match",
                             "fault-bad-page: GET ", "fault-traversal: ", "../../evil.whl"}) {
    EXPECT_NE(messages.find(needle), std::string::npos) << needle << " not in:\n" << messages;
  }
  // Deferred projects have no page; the one with only a bad .metadata is served without it.
  EXPECT_FALSE(fs::exists(mirror / "web/simple/fault-missing-file"));
  EXPECT_FALSE(fs::exists(mirror / "web/simple/fault-bad-hash"));
  EXPECT_FALSE(fs::exists(mirror / "web/simple/fault-bad-page"));
  const std::string bad_metadata = ReadFile(mirror / "web/simple/fault-bad-metadata/index.v1_json");
  EXPECT_EQ(bad_metadata.find("core-metadata"), std::string::npos) << bad_metadata;
  // Traversal names were rejected; the project's valid files are served.
  EXPECT_TRUE(fs::exists(mirror / "web/simple/fault-traversal/index.v1_json"));
  EXPECT_FALSE(fs::exists(mirror / "evil.whl"));
  EXPECT_FALSE(fs::exists(mirror / "web/evil.whl"));
  EXPECT_FALSE(fs::exists(mirror / "web/packages/evil.whl"));
  // Every regular project is complete.
  for (const auto& project : manifest.projects) {
    EXPECT_TRUE(fs::exists(mirror / "web/simple" / project.normalized / "index.v1_json"))
        << project.normalized;
    for (const auto& file : project.files) {
      EXPECT_TRUE(fs::exists(mirror / "web" / file.path)) << file.path;
    }
  }
  // The mirror does not claim the upstream serial while projects are deferred.
  EXPECT_NE(report.serial, manifest.serial);
  EXPECT_TRUE(fs::is_empty(mirror / "incoming"));
}

TEST(SyncResyncTest, PreviousPageAndFilesSurviveAFailedResync) {
  TempDir temp;
  auto upstream = NginxUpstream::Start();
  ASSERT_NE(upstream, nullptr);
  const fs::path mirror = temp.path() / "mirror";
  SyncOk(Options(mirror, *upstream));
  const fs::path page = mirror / "web/simple/chain-c/index.v1_json";
  const std::string page_before = ReadFile(page);
  const auto before = Snapshot(mirror / "web");

  // Upstream adds a release to chain-c whose file is missing (404), and bumps the serials.
  const std::string mutate = R"py(
import json, sys
tree = sys.argv[1]
root_path = tree + "/simple/index.v1_json"
page_path = tree + "/simple/chain-c/index.v1_json"
root = json.load(open(root_path)); page = json.load(open(page_path))
serial = root["meta"]["_last-serial"] + 1
root["meta"]["_last-serial"] = serial
for p in root["projects"]:
    if p["name"] == "chain_c": p["_last-serial"] = serial
page["meta"]["_last-serial"] = serial
base = page["files"][0]["url"].rsplit("/packages/", 1)[0]
page["files"].append({"filename": "chain_c-3.0-py3-none-any.whl",
    "url": base + "/packages/aa/bb/" + "c" * 60 + "/chain_c-3.0-py3-none-any.whl",
    "hashes": {"sha256": "d" * 64}, "size": 10, "yanked": False})
page["versions"].append("3.0")
json.dump(root, open(root_path, "w")); json.dump(page, open(page_path, "w"))
)py";
  auto mutated = testing::RunCommand({"python3", "-c", mutate, upstream->tree_dir()});
  ASSERT_EQ(mutated.exit_code, 0) << mutated.err;
  ASSERT_TRUE(upstream->Reload());

  const engine::SyncReport report = SyncOk(Options(mirror, *upstream));
  ASSERT_EQ(DeferredProjects(report), std::set<std::string>{"chain-c"});
  EXPECT_EQ(report.deferred[0].file, "chain_c-3.0-py3-none-any.whl");
  EXPECT_NE(report.deferred[0].Message().find("HTTP 404"), std::string::npos);
  EXPECT_EQ(ReadFile(page), page_before);
  EXPECT_EQ(Snapshot(mirror / "web"), before);
}

}  // namespace
}  // namespace cistern
