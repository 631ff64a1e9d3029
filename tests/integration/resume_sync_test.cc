// A whole sync (RunSync) against FaultServer serving a generated fake PyPI (generate.py's tree;
// the pages are registered as resources, the files come from disk with nginx-style ETags): a
// reset in the middle of a large file is resumed with a Range request in the same run, a file
// deferred by one run is resumed by the next, and leftover partials are swept. Page and index
// fetches are retried like files: a 429's Retry-After is waited out, 503s are retried, and a page
// that never recovers defers only its project, within the run's retry budget.

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "store/bytes.h"
#include "store/digest.h"
#include "tests/integration/sync_util.h"
#include "tests/support/fault_server.h"
#include "tests/support/nginx_upstream.h"
#include "tests/support/test_certificates.h"

namespace cistern::testing {
namespace {

namespace fs = std::filesystem;

class ResumeSyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto generated = RunCommand({"python3", SourceDir() + "/tools/test_upstream/generate.py",
                                       "--out", (temp_.path() / "upstream").string()});
    ASSERT_EQ(generated.exit_code, 0) << generated.err;
    tree_ = temp_.path() / "upstream" / "tree";
    auto certificates = MakeTestCertificates(temp_.path());
    ASSERT_TRUE(certificates.has_value()) << certificates.error();
    ca_file_ = certificates->ca_file;
    FaultServerOptions options;
    options.tls_cert_file = certificates->cert_file;
    options.tls_key_file = certificates->key_file;
    options.root = tree_;
    auto server = FaultServer::Start(options);
    ASSERT_TRUE(server.has_value()) << server.error();
    server_ = std::move(*server);
    // PEP 691 pages at their directory URLs, as nginx's try_files serves them.
    const std::string json_type = "application/vnd.pypi.simple.v1+json";
    server_->SetResource("/simple/", Resource{.body = ReadFile(tree_ / "simple" / "index.v1_json"),
                                              .content_type = json_type});
    for (const auto& entry : fs::directory_iterator(tree_ / "simple")) {
      if (entry.is_directory()) {
        server_->SetResource("/simple/" + entry.path().filename().string() + "/",
                             Resource{.body = ReadFile(entry.path() / "index.v1_json"),
                                      .content_type = json_type});
      }
    }
    for (const auto& entry : fs::recursive_directory_iterator(tree_ / "packages")) {
      if (entry.path().filename() == "big_blobs-1.0-py3-none-any.whl") {
        big_ = fs::relative(entry.path(), tree_).string();
      }
    }
    ASSERT_FALSE(big_.empty());
  }

  engine::SyncOptions Options() const {
    engine::SyncOptions options;
    options.mirror = mirror_;
    options.upstream = server_->url("");
    options.client.ca_files = {ca_file_};
    options.tree.fsync = false;
    options.page_backoff = std::chrono::milliseconds(10);
    options.download.backoff = std::chrono::milliseconds(10);
    options.download.random = [] { return 0.0; };
    return options;
  }

  std::string BigPath() const { return "/" + big_; }
  uint64_t BigSize() const { return fs::file_size(tree_ / big_); }
  fs::path Incoming() const { return mirror_ / "incoming"; }

  TempDir temp_;
  fs::path tree_;
  fs::path mirror_ = temp_.path() / "mirror";
  std::string ca_file_;
  std::unique_ptr<FaultServer> server_;
  std::string big_;  // packages/.../big_blobs-1.0-py3-none-any.whl
};

TEST_F(ResumeSyncTest, AResetMidFileIsResumedInTheRunAndLeftoverPartialsAreSwept) {
  // A partial nothing touched for 8 days, and a fresh one of a file no project lists.
  fs::create_directories(Incoming());
  const std::string stale = "part-" + std::string(32, 'a');
  const std::string unwanted = "part-" + std::string(32, 'b');
  for (const std::string& base : {stale, unwanted}) {
    std::ofstream(Incoming() / (base + ".data")) << "some bytes";
    std::ofstream(Incoming() / (base + ".meta")) << "cistern-partial 1\n";
  }
  fs::last_write_time(Incoming() / (stale + ".data"),
                      fs::file_time_type::clock::now() - std::chrono::hours(24 * 8));

  server_->AddFault(BigPath(), Fault{.request = 1, .reset_at_fraction = 0.6});
  const engine::SyncReport report = SyncOk(Options());
  // Over HTTP/2 the reset takes the whole connection down: every stream on it is retried, and the
  // other large file in flight is resumed too.
  EXPECT_TRUE(report.deferred.empty());
  EXPECT_GE(report.downloads.retries, 1u);
  EXPECT_GE(report.downloads.resumed, 1u);
  EXPECT_EQ(report.partials_removed, 2u);

  const auto records = server_->RequestsFor(BigPath());
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].outcome, "reset");
  ASSERT_TRUE(records[1].range.starts_with("bytes=")) << records[1].range;
  const uint64_t start = std::stoull(records[1].range.substr(6));
  EXPECT_GT(start, 0u);
  EXPECT_EQ(records[1].status, 206);
  EXPECT_EQ(records[1].body_bytes_sent, BigSize() - start);
  EXPECT_GE(report.downloads.bytes_resumed, start);
  EXPECT_TRUE(ReadFile(mirror_ / "web" / big_) == ReadFile(tree_ / big_));
  EXPECT_TRUE(fs::is_empty(Incoming()));
}

TEST_F(ResumeSyncTest, AFileDeferredByOneRunIsResumedByTheNext) {
  engine::SyncOptions options = Options();
  options.download.attempts = 1;
  server_->AddFault(BigPath(), Fault{.request = 1, .reset_at_fraction = 0.6});
  const engine::SyncReport first = SyncOk(options);
  // Whatever else shared the HTTP/2 connection the reset took down is deferred too.
  EXPECT_TRUE(DeferredProjects(first).contains("big-blobs"));
  EXPECT_FALSE(fs::exists(mirror_ / "web" / big_));
  const std::string data =
      "part-" + store::Sha256Of(store::AsBytes(big_)).Hex().substr(0, 32) + ".data";
  ASSERT_TRUE(fs::exists(Incoming() / data));
  const uint64_t on_disk = fs::file_size(Incoming() / data);
  EXPECT_GT(on_disk, 0u);

  const engine::SyncReport second = SyncOk(options);
  EXPECT_TRUE(second.deferred.empty());
  const auto records = server_->RequestsFor(BigPath());
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1].range, "bytes=" + std::to_string(on_disk) + "-");
  EXPECT_EQ(records[1].status, 206);
  EXPECT_EQ(records[1].body_bytes_sent, BigSize() - on_disk);
  EXPECT_GE(second.downloads.bytes_resumed, on_disk);
  EXPECT_TRUE(ReadFile(mirror_ / "web" / big_) == ReadFile(tree_ / big_));
  EXPECT_TRUE(fs::is_empty(Incoming()));
}

constexpr std::string_view kChainPage = "/simple/chain-c/";

size_t RequestsBetween(const std::vector<RequestRecord>& records,
                       std::chrono::system_clock::time_point from,
                       std::chrono::system_clock::time_point to) {
  size_t count = 0;
  for (const RequestRecord& record : records) {
    count += record.time > from && record.time < to ? 1u : 0u;
  }
  return count;
}

TEST_F(ResumeSyncTest, APage429WithRetryAfterIsWaitedOutNotHammered) {
  server_->AddFault(std::string(kChainPage),
                    Fault{.request = 1, .status = 429, .headers = {{"retry-after", "2"}}});
  const engine::SyncReport report = SyncOk(Options());
  EXPECT_TRUE(report.deferred.empty());
  EXPECT_TRUE(fs::exists(mirror_ / "web/simple/chain-c/index.v1_json"));

  const auto records = server_->RequestsFor(kChainPage);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].status, 429);
  EXPECT_EQ(records[1].status, 200);
  EXPECT_GE(records[1].time - records[0].time, std::chrono::seconds(2));
  EXPECT_GE(report.retries.retries, 1u);
  // The pause holds back the run's other requests to that origin too. Requests already on their
  // way when the 429 arrived may land just after it; none starts in the middle of the pause.
  EXPECT_EQ(RequestsBetween(server_->Requests(), records[0].time + std::chrono::seconds(1),
                            records[0].time + std::chrono::milliseconds(1900)),
            0u);
}

TEST_F(ResumeSyncTest, APageThatAnswers503TwiceIsRetriedAndSynced) {
  server_->AddFault(std::string(kChainPage), Fault{.request = 1, .status = 503});
  server_->AddFault(std::string(kChainPage), Fault{.request = 2, .status = 503});
  const engine::SyncReport report = SyncOk(Options());
  EXPECT_TRUE(report.deferred.empty());
  EXPECT_TRUE(fs::exists(mirror_ / "web/simple/chain-c/index.v1_json"));
  const auto records = server_->RequestsFor(kChainPage);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[2].status, 200);
  EXPECT_EQ(report.retries.retries, 2u);
}

TEST_F(ResumeSyncTest, APageThatAlways503sDefersOnlyItsProjectWithinTheRetryBudget) {
  engine::SyncOptions options = Options();
  options.page_attempts = 10;          // the budget, not the attempts, is what stops it
  options.download.retry_budget = 2;
  server_->AddFault(std::string(kChainPage), Fault{.status = 503});
  const engine::SyncReport report = SyncOk(options);

  ASSERT_EQ(DeferredProjects(report), std::set<std::string>{"chain-c"});
  const std::string message = report.deferred[0].Message();
  EXPECT_NE(message.find("chain-c"), std::string::npos) << message;
  EXPECT_NE(message.find("HTTP 503"), std::string::npos) << message;
  EXPECT_NE(message.find("retry budget of 2 is spent"), std::string::npos) << message;
  EXPECT_EQ(server_->RequestsFor(kChainPage).size(), 3u) << "one request, then the 2 retries";
  EXPECT_EQ(report.retries.retries, 2u);
  EXPECT_EQ(report.retries.budget_exhausted, 1u);
  EXPECT_FALSE(fs::exists(mirror_ / "web/simple/chain-c"));
  // Every other project completes.
  EXPECT_EQ(report.projects_synced + 1, report.projects_changed);
  EXPECT_TRUE(fs::exists(mirror_ / "web/simple/foo-bar/index.v1_json"));
  EXPECT_TRUE(fs::exists(mirror_ / "web" / big_));
}

TEST_F(ResumeSyncTest, TheIndexRootIsRetriedToo) {
  server_->AddFault("/simple/", Fault{.request = 1, .status = 503});
  const engine::SyncReport report = SyncOk(Options());
  EXPECT_TRUE(report.deferred.empty());
  EXPECT_EQ(server_->RequestsFor("/simple/").size(), 2u);
  EXPECT_TRUE(fs::exists(mirror_ / "web/simple/index.html"));
}

}  // namespace
}  // namespace cistern::testing
