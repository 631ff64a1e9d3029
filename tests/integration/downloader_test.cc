// Downloader against FaultServer (tests/support) over HTTPS, HTTP/2 and HTTP/1.1: resumable range
// downloads after resets and short bodies, If-Range and 416 handling, hash mismatches, Retry-After,
// permanent failures and the run's retry budget. Real client, TLS, sockets and tree on disk.

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "engine/downloader.h"
#include "engine/http_upstream.h"
#include "net/client.h"
#include "store/bytes.h"
#include "store/digest.h"
#include "store/tree.h"
#include "tests/support/fault_server.h"
#include "tests/support/nginx_upstream.h"
#include "tests/support/run_task.h"
#include "tests/support/test_certificates.h"

namespace cistern::engine {
namespace {

namespace fs = std::filesystem;
using cistern::testing::Fault;
using cistern::testing::FaultServer;
using cistern::testing::FaultServerOptions;
using cistern::testing::RequestRecord;
using cistern::testing::Resource;

constexpr uint64_t kSize = uint64_t{6} << 20;  // 6 MiB
constexpr std::string_view kPath = "/packages/aa/bb/big-1.0-py3-none-any.whl";
constexpr std::string_view kDest = "packages/aa/bb/big-1.0-py3-none-any.whl";

std::string RandomBytes(size_t size, uint64_t seed) {
  std::mt19937_64 engine(seed);
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; i += 8) {
    const uint64_t word = engine();
    for (size_t k = 0; k < 8 && i + k < size; ++k) {
      bytes[i + k] = static_cast<char>((word >> (8 * k)) & 0xff);
    }
  }
  return bytes;
}

// "bytes=N-" -> N; nullopt for anything else.
std::optional<uint64_t> RangeStart(const std::string& range) {
  if (!range.starts_with("bytes=") || !range.ends_with("-")) {
    return std::nullopt;
  }
  return std::stoull(range.substr(6, range.size() - 7));
}

std::vector<std::string> IncomingNames(const fs::path& incoming) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(incoming)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class DownloaderTest : public ::testing::TestWithParam<FaultServerOptions::Alpn> {
 protected:
  void SetUp() override {
    auto certificates = cistern::testing::MakeTestCertificates(temp_.path());
    ASSERT_TRUE(certificates.has_value()) << certificates.error();
    FaultServerOptions options;
    options.tls_cert_file = certificates->cert_file;
    options.tls_key_file = certificates->key_file;
    options.alpn = GetParam();
    auto server = FaultServer::Start(options);
    ASSERT_TRUE(server.has_value()) << server.error();
    server_ = std::move(*server);
    body_ = RandomBytes(kSize, 42);
    server_->SetResource(std::string(kPath), Resource{.body = body_, .etag = "\"v1\""});

    net::ClientOptions client_options;
    ca_file_ = certificates->ca_file;
    client_options.ca_files = {ca_file_};
    client_options.idle_timeout = std::chrono::seconds(10);
    auto client = net::Client::Create(io_.get_executor(), client_options);
    ASSERT_TRUE(client.has_value()) << client.error().message();
    client_ = std::move(*client);
    upstream_ = std::make_unique<HttpUpstream>(*client_, *net::Url::Parse(server_->url("/simple/")));
    auto tree = store::Tree::Open(temp_.path() / "mirror", store::TreeOptions{.fsync = false});
    ASSERT_TRUE(tree.has_value()) << tree.error().detail;
    tree_.emplace(std::move(*tree));
    options_.backoff = std::chrono::milliseconds(10);
    options_.random = [] { return 0.5; };  // deterministic jitter
  }

  // Ends every connection task before io_ goes (a Debug build's TaskGroup refuses to be
  // destroyed with children): Run() stops io_ as soon as the download returns.
  void TearDown() override {
    upstream_.reset();
    cistern::testing::CloseAndDrain(io_, client_);
  }

  // A Downloader as one run makes it; a new one is a new run.
  std::unique_ptr<Downloader> NewRun() {
    return std::make_unique<Downloader>(*upstream_, *tree_, disk_, options_);
  }

  DownloadJob Job() const {
    return DownloadJob{"big",
                       "big-1.0-py3-none-any.whl",
                       *net::Url::Parse(server_->url(kPath)),
                       *store::RelativePath::Parse(kDest),
                       store::Sha256Of(store::AsBytes(body_)),
                       std::nullopt,
                       kSize};
  }

  Result<DownloadedFile> Run(Downloader& downloader, DownloadJob job,
                             std::chrono::seconds limit = std::chrono::seconds(60)) {
    std::optional<Result<DownloadedFile>> result;
    io_.restart();
    net::Spawn(io_.get_executor(), downloader.Download(std::move(job)),
               [&](std::exception_ptr, Result<DownloadedFile> r) {
                 result.emplace(std::move(r));
                 io_.stop();
               });
    io_.run_for(limit);
    if (!result) {
      ADD_FAILURE() << "download did not finish within " << limit.count() << " s";
      return tl::make_unexpected(MakeError(Errc::kFileFetch, "test limit"));
    }
    return std::move(*result);
  }

  std::string Published() const {
    return cistern::testing::ReadFile(temp_.path() / "mirror" / "web" / kDest);
  }
  bool IsPublished() const { return fs::exists(temp_.path() / "mirror" / "web" / kDest); }
  std::vector<std::string> Incoming() const {
    return IncomingNames(temp_.path() / "mirror" / "incoming");
  }
  std::vector<RequestRecord> Records() const { return server_->RequestsFor(kPath); }

  cistern::testing::TempDir temp_;
  std::string ca_file_;
  std::unique_ptr<FaultServer> server_;
  std::string body_;
  asio::io_context io_{1};
  asio::thread_pool disk_{1};
  std::unique_ptr<net::Client> client_;
  std::unique_ptr<HttpUpstream> upstream_;
  std::optional<store::Tree> tree_;
  DownloaderOptions options_;
};

TEST_P(DownloaderTest, AResetAt60PercentResumesWithARangeRequestForTheRestOnly) {
  server_->AddFault(std::string(kPath), Fault{.request = 1, .reset_at_fraction = 0.6});
  auto downloader = NewRun();
  auto file = Run(*downloader, Job());
  ASSERT_TRUE(file.has_value()) << file.error().Message();
  EXPECT_EQ(file->sha256, store::Sha256Of(store::AsBytes(body_)));
  EXPECT_EQ(file->size, kSize);
  EXPECT_TRUE(Published() == body_) << "published bytes differ";
  EXPECT_TRUE(Incoming().empty());

  ASSERT_TRUE(server_->WaitForFinishedRequests(2, std::chrono::seconds(5)));
  const auto records = Records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].range, "");
  EXPECT_EQ(records[0].outcome, "reset");
  const auto start = RangeStart(records[1].range);
  ASSERT_TRUE(start.has_value()) << records[1].range;
  // What reached the disk before the reset: at most what was sent, most of the 60%.
  EXPECT_LE(*start, records[0].body_bytes_sent);
  EXPECT_GE(*start, kSize / 2);
  EXPECT_EQ(records[1].if_range, "\"v1\"");
  EXPECT_EQ(records[1].status, 206);
  EXPECT_EQ(records[1].body_bytes_sent, kSize - *start);
  EXPECT_EQ(file->resumed_bytes, *start);
  EXPECT_EQ(downloader->stats().retries, 1u);
  EXPECT_EQ(downloader->stats().resumed, 1u);
}

TEST_P(DownloaderTest, AShortBodyThenCloseResumes) {
  server_->AddFault(std::string(kPath), Fault{.request = 1, .close_after_bytes = kSize / 3});
  auto downloader = NewRun();
  auto file = Run(*downloader, Job());
  ASSERT_TRUE(file.has_value()) << file.error().Message();
  EXPECT_TRUE(Published() == body_);
  ASSERT_TRUE(server_->WaitForFinishedRequests(2, std::chrono::seconds(5)));
  const auto records = Records();
  ASSERT_EQ(records.size(), 2u);
  // HTTP/1.1 closes the connection after a third of the body; HTTP/2 ends the stream
  // (END_STREAM) short of its content-length: both are an early close, resumed with a Range
  // for exactly the bytes that did not reach the disk.
  EXPECT_EQ(records[0].body_bytes_sent, kSize / 3);
  EXPECT_EQ(records[0].outcome, "closed");
  const auto start = RangeStart(records[1].range);
  ASSERT_TRUE(start.has_value()) << records[1].range;
  EXPECT_LE(*start, kSize / 3);
  EXPECT_GT(*start, 0u);
  EXPECT_EQ(records[1].if_range, "\"v1\"");
  EXPECT_EQ(records[1].status, 206);
  EXPECT_EQ(records[1].body_bytes_sent, kSize - *start);
  EXPECT_EQ(file->resumed_bytes, *start);
  EXPECT_EQ(downloader->stats().retries, 1u);
}

TEST_P(DownloaderTest, AChangedValidatorGivesTheWholeFileAgain) {
  // The second request's If-Range carries the old ETag; the server now has another one, so it
  // answers 200 with the whole body, which replaces the partial.
  server_->AddFault(std::string(kPath), Fault{.request = 1, .reset_at_fraction = 0.5});
  server_->AddFault(std::string(kPath), Fault{.request = 2, .etag = "\"v2\""});
  auto downloader = NewRun();
  auto file = Run(*downloader, Job());
  ASSERT_TRUE(file.has_value()) << file.error().Message();
  EXPECT_TRUE(Published() == body_);
  EXPECT_EQ(file->resumed_bytes, 0u);
  ASSERT_TRUE(server_->WaitForFinishedRequests(2, std::chrono::seconds(5)));
  const auto records = Records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_TRUE(RangeStart(records[1].range).has_value()) << records[1].range;
  EXPECT_EQ(records[1].if_range, "\"v1\"");
  EXPECT_EQ(records[1].status, 200);
  EXPECT_EQ(records[1].body_bytes_sent, kSize);
  EXPECT_EQ(downloader->stats().restarts, 1u);
}

TEST_P(DownloaderTest, A416DiscardsThePartialAndRefetchesFromZero) {
  server_->AddFault(std::string(kPath), Fault{.request = 1, .reset_at_fraction = 0.5});
  server_->AddFault(std::string(kPath),
                    Fault{.request = 2,
                          .status = 416,
                          .headers = {{"content-range", "bytes */" + std::to_string(kSize)}}});
  auto downloader = NewRun();
  auto file = Run(*downloader, Job());
  ASSERT_TRUE(file.has_value()) << file.error().Message();
  EXPECT_TRUE(Published() == body_);
  ASSERT_TRUE(server_->WaitForFinishedRequests(3, std::chrono::seconds(5)));
  const auto records = Records();
  ASSERT_EQ(records.size(), 3u);
  EXPECT_TRUE(RangeStart(records[1].range).has_value());
  EXPECT_EQ(records[1].status, 416);
  EXPECT_EQ(records[2].range, "");
  EXPECT_EQ(records[2].status, 200);
  EXPECT_EQ(records[2].body_bytes_sent, kSize);
}

TEST_P(DownloaderTest, WrongBytesOnceAreFetchedAgainFromZero) {
  server_->AddFault(std::string(kPath), Fault{.request = 1, .corrupt_offsets = {kSize / 2}});
  auto downloader = NewRun();
  auto file = Run(*downloader, Job());
  ASSERT_TRUE(file.has_value()) << file.error().Message();
  EXPECT_TRUE(Published() == body_);
  const auto records = Records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1].range, "");
  EXPECT_EQ(records[1].body_bytes_sent, kSize);
  EXPECT_EQ(downloader->stats().retries, 0u);  // not a transient failure: no budget taken
}

TEST_P(DownloaderTest, WrongBytesEveryTimeFailTheFileAndPublishNothing) {
  server_->AddFault(std::string(kPath), Fault{.corrupt_offsets = {123}});
  auto downloader = NewRun();
  auto file = Run(*downloader, Job());
  ASSERT_FALSE(file.has_value());
  EXPECT_EQ(file.error().code, make_error_code(Errc::kHashMismatch)) << file.error().Message();
  EXPECT_EQ(file.error().project, "big");
  EXPECT_EQ(Records().size(), 2u);
  EXPECT_FALSE(IsPublished());
  EXPECT_TRUE(Incoming().empty());
}

TEST_P(DownloaderTest, RetryAfterIsWaitedOutNotHammered) {
  server_->AddFault(std::string(kPath),
                    Fault{.request = 1, .status = 429, .headers = {{"retry-after", "2"}}});
  auto downloader = NewRun();
  auto file = Run(*downloader, Job());
  ASSERT_TRUE(file.has_value()) << file.error().Message();
  EXPECT_TRUE(Published() == body_);
  const auto records = Records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].status, 429);
  EXPECT_GE(records[1].time - records[0].time, std::chrono::seconds(2));
  EXPECT_EQ(records[1].range, "");
}

TEST_P(DownloaderTest, RetryAfterPausesTheRunsOtherRequestsToThatOrigin) {
  // The first file gives up at once (one attempt), but the server's pause still holds for the
  // next file of the run.
  options_.attempts = 1;
  server_->SetResource("/other", Resource{.body = "other bytes"});
  server_->AddFault(std::string(kPath),
                    Fault{.request = 1, .status = 429, .headers = {{"retry-after", "2"}}});
  auto downloader = NewRun();
  ASSERT_FALSE(Run(*downloader, Job()).has_value());
  DownloadJob other{"other", "other", *net::Url::Parse(server_->url("/other")),
                    *store::RelativePath::Parse("packages/other"), std::nullopt, std::nullopt,
                    std::nullopt};
  auto file = Run(*downloader, std::move(other));
  ASSERT_TRUE(file.has_value()) << file.error().Message();
  const auto first = Records();
  const auto second = server_->RequestsFor("/other");
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_GE(second[0].time - first[0].time, std::chrono::milliseconds(1900));
}

TEST_P(DownloaderTest, ARetryAfterBeyondTheCapFailsAtOnce) {
  options_.max_retry_after = std::chrono::seconds(60);
  server_->AddFault(std::string(kPath),
                    Fault{.status = 503, .headers = {{"retry-after", "3600"}}});
  auto downloader = NewRun();
  auto file = Run(*downloader, Job());
  ASSERT_FALSE(file.has_value());
  EXPECT_TRUE(file.error().transient);
  EXPECT_NE(file.error().detail.find("3600"), std::string::npos) << file.error().detail;
  EXPECT_EQ(Records().size(), 1u);
}

TEST_P(DownloaderTest, A404FailsWithoutRetry) {
  server_->AddFault(std::string(kPath), Fault{.status = 404});
  auto downloader = NewRun();
  auto file = Run(*downloader, Job());
  ASSERT_FALSE(file.has_value());
  EXPECT_EQ(file.error().code, make_error_code(Errc::kFileFetch));
  EXPECT_NE(file.error().detail.find("HTTP 404"), std::string::npos) << file.error().detail;
  EXPECT_EQ(Records().size(), 1u);
  EXPECT_FALSE(IsPublished());
  EXPECT_TRUE(Incoming().empty());
}

TEST_P(DownloaderTest, TransientFailuresStopWhenTheRunsRetryBudgetIsSpent) {
  options_.retry_budget = 1;
  options_.attempts = 5;
  server_->AddFault(std::string(kPath), Fault{.status = 503});
  auto downloader = NewRun();
  auto first = Run(*downloader, Job());
  ASSERT_FALSE(first.has_value());
  EXPECT_NE(first.error().detail.find("retry budget"), std::string::npos) << first.error().detail;
  EXPECT_EQ(Records().size(), 2u);  // one retry, then the budget is spent
  auto second = Run(*downloader, Job());
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(Records().size(), 3u);  // no retry at all
  EXPECT_EQ(downloader->stats().retries, 1u);
  EXPECT_EQ(downloader->stats().budget_exhausted, 2u);
  // A new run has a new budget.
  server_->ClearFaults();
  auto next_run = NewRun();
  auto third = Run(*next_run, Job());
  ASSERT_TRUE(third.has_value()) << third.error().Message();
}

TEST_P(DownloaderTest, APartialLeftByAFailedRunIsResumedByTheNextRun) {
  options_.attempts = 1;
  server_->AddFault(std::string(kPath), Fault{.request = 1, .reset_at_fraction = 0.6});
  auto first_run = NewRun();
  auto failed = Run(*first_run, Job());
  ASSERT_FALSE(failed.has_value());
  EXPECT_TRUE(failed.error().transient);
  EXPECT_FALSE(IsPublished());
  const auto left = Incoming();
  ASSERT_EQ(left.size(), 2u);  // part-<h>.data and part-<h>.meta
  EXPECT_TRUE(left[0].starts_with("part-") && left[0].ends_with(".data")) << left[0];
  const uint64_t on_disk = fs::file_size(temp_.path() / "mirror" / "incoming" / left[0]);
  EXPECT_GT(on_disk, 0u);

  auto second_run = NewRun();
  auto file = Run(*second_run, Job());
  ASSERT_TRUE(file.has_value()) << file.error().Message();
  EXPECT_TRUE(Published() == body_);
  EXPECT_TRUE(Incoming().empty());
  const auto records = Records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1].range, "bytes=" + std::to_string(on_disk) + "-");
  EXPECT_EQ(records[1].body_bytes_sent, kSize - on_disk);
  EXPECT_EQ(second_run->stats().bytes_resumed, on_disk);
}

TEST_P(DownloaderTest, APartialFromAnotherVersionOfTheFileStartsFromZero) {
  options_.attempts = 1;
  server_->AddFault(std::string(kPath), Fault{.request = 1, .reset_at_fraction = 0.5});
  auto first_run = NewRun();
  ASSERT_FALSE(Run(*first_run, Job()).has_value());
  // Upstream now lists other bytes at the same path: the partial's record does not match.
  body_ = RandomBytes(kSize, 7);
  server_->SetResource(std::string(kPath), Resource{.body = body_, .etag = "\"v9\""});
  auto second_run = NewRun();
  auto file = Run(*second_run, Job());
  ASSERT_TRUE(file.has_value()) << file.error().Message();
  EXPECT_TRUE(Published() == body_);
  const auto records = Records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1].range, "");
}

TEST_P(DownloaderTest, SmallFilesUseATemporaryAndRestartFromZero) {
  options_.resume_min_bytes = kSize + 1;
  server_->AddFault(std::string(kPath), Fault{.request = 1, .reset_at_fraction = 0.5});
  auto downloader = NewRun();
  auto file = Run(*downloader, Job());
  ASSERT_TRUE(file.has_value()) << file.error().Message();
  EXPECT_TRUE(Published() == body_);
  const auto records = Records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1].range, "");
  EXPECT_TRUE(Incoming().empty());
}

TEST_P(DownloaderTest, AStreamResetMidBodyResumes) {
  // HTTP/2: RST_STREAM ends only this stream; HTTP/1.1: the connection is reset instead.
  server_->AddFault(std::string(kPath), Fault{.request = 1, .rst_stream_after_bytes = kSize / 2});
  auto downloader = NewRun();
  auto file = Run(*downloader, Job());
  ASSERT_TRUE(file.has_value()) << file.error().Message();
  EXPECT_TRUE(Published() == body_);
  const auto records = Records();
  ASSERT_EQ(records.size(), 2u);
  const auto start = RangeStart(records[1].range);
  ASSERT_TRUE(start.has_value()) << records[1].range;
  EXPECT_GT(*start, 0u);
  EXPECT_EQ(records[1].body_bytes_sent, kSize - *start);
}

TEST_P(DownloaderTest, AStalledBodyTimesOutAndResumes) {
  // A client whose idle timeout is short: HTTP/2 resets the silent stream (the connection
  // answers PINGs), HTTP/1.1 gives up on the silent connection. Both are Errc::kTimeout, retried.
  upstream_.reset();
  cistern::testing::CloseAndDrain(io_, client_);
  net::ClientOptions client_options;
  client_options.ca_files = {ca_file_};
  // Far above a scheduling stall of a loaded machine, which would otherwise time out the resumed
  // request too and make a second retry (400 ms was not enough).
  client_options.idle_timeout = std::chrono::seconds(2);
  auto client = net::Client::Create(io_.get_executor(), client_options);
  ASSERT_TRUE(client.has_value()) << client.error().message();
  client_ = std::move(*client);
  upstream_ = std::make_unique<HttpUpstream>(*client_, *net::Url::Parse(server_->url("/simple/")));
  server_->AddFault(std::string(kPath), Fault{.request = 1, .stall_after_bytes = kSize / 4});
  auto downloader = NewRun();
  auto file = Run(*downloader, Job());
  ASSERT_TRUE(file.has_value()) << file.error().Message();
  EXPECT_TRUE(Published() == body_);
  EXPECT_EQ(downloader->stats().retries, 1u);
  // The stalled HTTP/1.1 response never learns that the client left (it neither reads nor
  // writes until the server stops), so only the second request is waited for.
  auto records = Records();
  for (int i = 0; i < 100 && (records.size() < 2 || records[1].outcome.empty()); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    records = Records();
  }
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1].outcome, "complete");
  EXPECT_EQ(records[0].body_bytes_sent, kSize / 4);
  if (GetParam() != FaultServerOptions::Alpn::kHttp11Only) {
    EXPECT_EQ(records[0].outcome, "peer_closed");  // our RST_STREAM; the server did not give up
  }
  const auto start = RangeStart(records[1].range);
  ASSERT_TRUE(start.has_value()) << records[1].range;
  EXPECT_EQ(*start, kSize / 4);
  EXPECT_EQ(records[1].status, 206);
  EXPECT_EQ(records[1].body_bytes_sent, kSize - kSize / 4);
  EXPECT_EQ(file->resumed_bytes, kSize / 4);
}

TEST_P(DownloaderTest, ACancelledDownloadIsNotRetriedAndKeepsItsPartialForTheNextRun) {
  server_->AddFault(std::string(kPath), Fault{.request = 1, .stall_after_bytes = kSize / 2});
  auto downloader = NewRun();
  std::optional<Result<DownloadedFile>> result;
  asio::cancellation_signal cancel;
  io_.restart();
  net::Spawn(io_.get_executor(), downloader->Download(Job()), cancel.slot(),
             [&](std::exception_ptr, Result<DownloadedFile> r) {
               result.emplace(std::move(r));
               io_.stop();
             });
  // Cancel once the server stalls (it has sent half the body).
  asio::steady_timer poll(io_);
  std::function<void()> wait_for_stall = [&] {
    poll.expires_after(std::chrono::milliseconds(20));
    poll.async_wait([&](std::error_code ec) {
      if (ec) {
        return;
      }
      const auto records = Records();
      if (!records.empty() && records[0].body_bytes_sent >= kSize / 2) {
        // Give the client a moment to take what was sent, then cancel.
        poll.expires_after(std::chrono::milliseconds(200));
        poll.async_wait([&](std::error_code) { cancel.emit(asio::cancellation_type::terminal); });
        return;
      }
      wait_for_stall();
    });
  };
  wait_for_stall();
  io_.run_for(std::chrono::seconds(30));
  ASSERT_TRUE(result.has_value());
  ASSERT_FALSE(result->has_value());
  EXPECT_EQ(result->error().code, asio::error::operation_aborted) << result->error().Message();
  EXPECT_EQ(downloader->stats().retries, 0u);
  EXPECT_EQ(Records().size(), 1u);
  EXPECT_FALSE(IsPublished());
  ASSERT_EQ(Incoming().size(), 2u);  // the resumable partial and its record
  const uint64_t on_disk =
      fs::file_size(temp_.path() / "mirror" / "incoming" / Incoming()[0]);
  EXPECT_GT(on_disk, 0u);

  server_->ClearFaults();
  auto next_run = NewRun();
  auto file = Run(*next_run, Job());
  ASSERT_TRUE(file.has_value()) << file.error().Message();
  EXPECT_TRUE(Published() == body_);
  const auto records = Records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1].range, "bytes=" + std::to_string(on_disk) + "-");
}

INSTANTIATE_TEST_SUITE_P(Protocols, DownloaderTest,
                         ::testing::Values(FaultServerOptions::Alpn::kH2Only,
                                           FaultServerOptions::Alpn::kHttp11Only),
                         [](const auto& param_info) {
                           return param_info.param == FaultServerOptions::Alpn::kH2Only
                                      ? std::string("H2")
                                      : std::string("Http11");
                         });

}  // namespace
}  // namespace cistern::engine
