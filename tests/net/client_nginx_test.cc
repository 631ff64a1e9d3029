// Client against real nginx (tests/support NginxUpstream): HTTPS with the test CA (HTTP/2 by
// ALPN, and HTTP/1.1 when HTTP/2 is off), HTTP, redirects, keep-alive, connection limits, many
// requests multiplexed on one HTTP/2 connection and streamed multi-MiB files.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <simdjson.h>

#include "net/client.h"
#include "net/rate_limiter.h"
#include "tests/net/test_util.h"
#include "tests/support/nginx_upstream.h"

namespace cistern::net {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr size_t kBigFileSize = 6 * 1024 * 1024 + 123;

Request Get(const std::string& url, std::string accept = "") {
  Request request;
  request.url = *Url::Parse(url);
  if (!accept.empty()) {
    request.headers.Add("Accept", std::move(accept));
  }
  return request;
}

// Checks that the client never calls OnData again before the previous call finished, and
// yields to the event loop on every chunk, like a disk writer would.
class CheckingSink final : public BodySink {
 public:
  Result<void> OnHead(const ResponseHead&) override { return {}; }
  Task<Result<void>> OnData(std::span<const uint8_t> bytes) override {
    if (in_flight_) {
      overlapped_ = true;
    }
    in_flight_ = true;
    body_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    ++chunks_;
    co_await SleepFor(chunks_ % 16 == 0 ? 1ms : 0ms);
    in_flight_ = false;
    co_return Result<void>{};
  }
  const std::string& body() const { return body_; }
  bool overlapped() const { return overlapped_; }
  int chunks() const { return chunks_; }

 private:
  std::string body_;
  bool in_flight_ = false;
  bool overlapped_ = false;
  int chunks_ = 0;
};

class ClientNginxTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cistern::testing::NginxUpstreamOptions options;
    options.extra_conf = "location = /to-http { return 302 http://127.0.0.1:9/simple/; }";
    upstream_ = cistern::testing::NginxUpstream::Start(options).release();
    if (upstream_ == nullptr) {
      return;
    }
    // This suite owns its upstream, so it may add a file to the served tree.
    std::mt19937_64 random(42);
    std::string big(kBigFileSize, '\0');
    for (char& c : big) {
      c = static_cast<char>(random() & 0xff);
    }
    fs::create_directories(fs::path(upstream_->tree_dir()) / "packages/zz");
    std::ofstream(fs::path(upstream_->tree_dir()) / "packages/zz/big.bin", std::ios::binary) << big;
    big_file_ = new std::string(std::move(big));
  }
  static void TearDownTestSuite() {
    delete upstream_;
    upstream_ = nullptr;
    delete big_file_;
    big_file_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(upstream_, nullptr); }

  void TearDown() override { testing::CloseAndDrain(io_, client_); }

  void MakeClient(ClientOptions options) {
    testing::CloseAndDrain(io_, client_);
    auto client = Client::Create(io_.get_executor(), std::move(options));
    ASSERT_TRUE(client.has_value()) << client.error().message();
    client_ = std::move(*client);
  }
  ClientOptions TrustingOptions() {
    ClientOptions options;
    options.ca_files = {upstream_->ca_file()};
    return options;
  }
  Result<ResponseHead> Fetch(Request request, BodySink& sink) {
    return testing::RunOn(io_, client_->Fetch(std::move(request), sink));
  }

  static cistern::testing::NginxUpstream* upstream_;
  static std::string* big_file_;
  asio::io_context io_{1};
  std::unique_ptr<Client> client_;
};

cistern::testing::NginxUpstream* ClientNginxTest::upstream_ = nullptr;
std::string* ClientNginxTest::big_file_ = nullptr;

TEST_F(ClientNginxTest, FetchesAGzippedJsonPageOverHttps) {
  MakeClient(TrustingOptions());
  StringSink sink(64 << 20);
  auto head =
      Fetch(Get(upstream_->https_url() + "/simple/foo-bar/", "application/vnd.pypi.simple.v1+json"),
            sink);
  ASSERT_TRUE(head.has_value()) << head.error().message();
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->protocol, "h2");
  EXPECT_EQ(head->headers.Get("Content-Encoding"), "gzip");
  EXPECT_EQ(head->headers.Get("Content-Type"), "application/vnd.pypi.simple.v1+json");
  EXPECT_TRUE(head->headers.Get("X-PyPI-Last-Serial").has_value());
  // The body was inflated, and its padding lets simdjson parse it in place.
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(sink.body().data(), sink.body().size(), false).get(doc),
            simdjson::SUCCESS);
  std::string_view name;
  ASSERT_EQ(doc["name"].get(name), simdjson::SUCCESS);
  EXPECT_EQ(name, "foo-bar");
}

TEST_F(ClientNginxTest, TlsVerificationFailsWithoutTheTestCa) {
  MakeClient(ClientOptions{});
  StringSink sink(1 << 20);
  auto head = Fetch(Get(upstream_->https_url() + "/simple/"), sink);
  ASSERT_FALSE(head.has_value());
  EXPECT_EQ(head.error().code.category(), X509Category()) << head.error().message();
  // nginx sends only the leaf, so OpenSSL cannot find its issuer in the system store.
  EXPECT_EQ(head.error().message(), "GET " + upstream_->https_url() +
                                        "/simple/: TLS handshake with 127.0.0.1: certificate "
                                        "verify failed: unable to get local issuer certificate");
  EXPECT_FALSE(IsTransient(head.error()));
}

TEST_F(ClientNginxTest, VerifiesTheHostNameOverSni) {
  MakeClient(TrustingOptions());
  std::string url = upstream_->https_url();
  url.replace(url.find("127.0.0.1"), 9, "localhost");
  StringSink sink(64 << 20);
  auto head = Fetch(Get(url + "/simple/"), sink);
  ASSERT_TRUE(head.has_value()) << head.error().message();
  EXPECT_EQ(head->status, 200);
}

TEST_F(ClientNginxTest, FollowsTheRedirectToTheNormalizedName) {
  MakeClient(TrustingOptions());
  StringSink sink(64 << 20);
  auto head =
      Fetch(Get(upstream_->https_url() + "/simple/Foo_Bar/", "application/vnd.pypi.simple.v1+json"),
            sink);
  ASSERT_TRUE(head.has_value()) << head.error().message();
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->url.str(), upstream_->https_url() + "/simple/foo-bar/");
  EXPECT_NE(sink.body().find("\"name\":\"foo-bar\""), std::string::npos);
}

TEST_F(ClientNginxTest, RefusesARedirectFromHttpsToHttp) {
  MakeClient(TrustingOptions());
  StringSink sink(1 << 20);
  auto head = Fetch(Get(upstream_->https_url() + "/to-http"), sink);
  ASSERT_FALSE(head.has_value());
  EXPECT_EQ(head.error().code, make_error_code(Errc::kUnsupportedScheme)) << head.error().message();
}

TEST_F(ClientNginxTest, SequentialRequestsOpenOneConnection) {
  MakeClient(TrustingOptions());
  for (int i = 0; i < 20; ++i) {
    StringSink sink(64 << 20);
    auto head = Fetch(
        Get(upstream_->https_url() + "/simple/foo-bar/", "application/vnd.pypi.simple.v1+json"),
        sink);
    ASSERT_TRUE(head.has_value()) << head.error().message();
    ASSERT_EQ(head->status, 200);
  }
  EXPECT_EQ(client_->stats().connections_opened, 1u);
  EXPECT_EQ(client_->stats().requests, 20u);
}

struct ParallelFetch {
  StringSink sink{64 << 20};
  Result<ResponseHead> head;
};

Task<void> FetchInto(Client* client, Request request, ParallelFetch* out) {
  out->head = co_await client->Fetch(std::move(request), out->sink);
}

Task<Result<void>> FetchAll(Client* client, std::string url, std::vector<ParallelFetch>* out) {
  TaskGroup group(co_await asio::this_coro::executor);
  for (ParallelFetch& fetch : *out) {
    group.Spawn(FetchInto(client, Get(url), &fetch));
  }
  co_await group.Wait();
  co_return Result<void>{};
}

TEST_F(ClientNginxTest, ParallelFetchesStayWithinTheConnectionLimit) {
  ClientOptions options = TrustingOptions();
  options.max_connections_per_origin = 2;
  MakeClient(options);
  std::vector<ParallelFetch> fetches(10);
  auto done = testing::RunOn(
      io_, FetchAll(client_.get(), upstream_->https_url() + "/packages/zz/big.bin", &fetches));
  ASSERT_TRUE(done.has_value());
  for (const ParallelFetch& fetch : fetches) {
    ASSERT_TRUE(fetch.head.has_value()) << fetch.head.error().message();
    EXPECT_EQ(fetch.head->status, 200);
    EXPECT_EQ(fetch.sink.body().size(), kBigFileSize);
  }
  EXPECT_LE(client_->stats().connections_opened, 2u);
  EXPECT_GE(client_->stats().connections_opened, 1u);
}

TEST_F(ClientNginxTest, StreamsAMultiMebibyteFileWithBackpressure) {
  ClientOptions options = TrustingOptions();
  options.http2 = false;  // chunks are read-buffer sized over HTTP/1.1
  options.read_buffer_size = 16 * 1024;
  MakeClient(options);
  CheckingSink sink;
  auto head = Fetch(Get(upstream_->https_url() + "/packages/zz/big.bin"), sink);
  ASSERT_TRUE(head.has_value()) << head.error().message();
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->content_length, kBigFileSize);
  EXPECT_FALSE(sink.overlapped());
  EXPECT_GE(sink.chunks(), static_cast<int>(kBigFileSize / (16 * 1024)));
  ASSERT_EQ(sink.body().size(), big_file_->size());
  EXPECT_TRUE(sink.body() == *big_file_);
}

TEST_F(ClientNginxTest, SpeaksHttp11OverHttpsWhenHttp2IsOff) {
  ClientOptions options = TrustingOptions();
  options.http2 = false;
  MakeClient(options);
  StringSink sink(64 << 20);
  auto head = Fetch(Get(upstream_->https_url() + "/simple/foo-bar/"), sink);
  ASSERT_TRUE(head.has_value()) << head.error().message();
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->protocol, "http/1.1");
}

// The same URLs over HTTP/1.1 and over HTTP/2 give the same statuses, heads and bodies.
std::vector<Request> MixedRequests(const std::string& base) {
  std::vector<Request> requests;
  for (int i = 0; i < 3; ++i) {
    requests.push_back(Get(base + "/packages/zz/big.bin"));
    requests.push_back(Get(base + "/simple/"));
    requests.push_back(Get(base + "/simple/foo-bar/", "application/vnd.pypi.simple.v1+json"));
    requests.push_back(Get(base + "/simple/foo-bar/", "text/html"));
    requests.push_back(Get(base + "/simple/Foo_Bar/"));  // a redirect
    requests.push_back(Get(base + "/packages/zz/nope.bin"));
  }
  return requests;
}

Task<void> FetchRequestInto(Client* client, Request request, ParallelFetch* out) {
  out->head = co_await client->Fetch(std::move(request), out->sink);
}

Task<Result<void>> FetchEach(Client* client, std::vector<Request> requests,
                             std::vector<ParallelFetch>* out) {
  TaskGroup group(co_await asio::this_coro::executor);
  for (size_t i = 0; i < requests.size(); ++i) {
    group.Spawn(FetchRequestInto(client, std::move(requests[i]), &(*out)[i]));
  }
  co_await group.Wait();
  co_return Result<void>{};
}

TEST_F(ClientNginxTest, ParallelFetchesOverHttp2ShareOneConnectionAndMatchHttp11) {
  std::vector<Request> requests = MixedRequests(upstream_->https_url());
  ClientOptions h1_options = TrustingOptions();
  h1_options.http2 = false;
  MakeClient(h1_options);
  std::vector<ParallelFetch> over_h1(requests.size());
  ASSERT_TRUE(testing::RunOn(io_, FetchEach(client_.get(), requests, &over_h1)).has_value());

  MakeClient(TrustingOptions());
  std::vector<ParallelFetch> over_h2(requests.size());
  ASSERT_TRUE(testing::RunOn(io_, FetchEach(client_.get(), requests, &over_h2)).has_value());
  EXPECT_EQ(client_->stats().connections_opened, 1u);
  EXPECT_EQ(client_->stats().requests, requests.size() + 3);  // 3 redirects followed
  EXPECT_GT(client_->stats().bytes_received, 3 * kBigFileSize);

  for (size_t i = 0; i < requests.size(); ++i) {
    SCOPED_TRACE(requests[i].url.str());
    ASSERT_TRUE(over_h1[i].head.has_value()) << over_h1[i].head.error().message();
    ASSERT_TRUE(over_h2[i].head.has_value()) << over_h2[i].head.error().message();
    EXPECT_EQ(over_h1[i].head->protocol, "http/1.1");
    EXPECT_EQ(over_h2[i].head->protocol, "h2");
    EXPECT_EQ(over_h2[i].head->status, over_h1[i].head->status);
    EXPECT_EQ(over_h2[i].head->url, over_h1[i].head->url);
    EXPECT_EQ(over_h2[i].head->content_length, over_h1[i].head->content_length);
    EXPECT_EQ(over_h2[i].head->headers.Get("Content-Type"),
              over_h1[i].head->headers.Get("Content-Type"));
    EXPECT_TRUE(over_h2[i].sink.body() == over_h1[i].sink.body());
  }
  EXPECT_TRUE(over_h2[0].sink.body() == *big_file_);
}

// A slow disk: waits per chunk and records how far the bytes read from the socket ran ahead
// of what it had taken.
class SlowRecordingSink final : public BodySink {
 public:
  explicit SlowRecordingSink(const Client* client) : client_(client) {}
  Result<void> OnHead(const ResponseHead&) override { return {}; }
  Task<Result<void>> OnData(std::span<const uint8_t> bytes) override {
    // Everything before this chunk was taken (and so consumed); the server can have sent at
    // most one stream window beyond it.
    uint64_t ahead = client_->stats().bytes_received - body_.size();
    max_ahead_ = std::max(max_ahead_, ahead);
    body_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    co_await SleepFor(2ms);
    co_return Result<void>{};
  }
  const std::string& body() const { return body_; }
  uint64_t max_ahead() const { return max_ahead_; }

 private:
  const Client* client_;
  std::string body_;
  uint64_t max_ahead_ = 0;
};

TEST_F(ClientNginxTest, ASlowSinkOverHttp2BuffersAtMostOneStreamWindow) {
  ClientOptions options = TrustingOptions();
  options.http2_stream_window = 256 * 1024;
  MakeClient(options);
  SlowRecordingSink sink(client_.get());
  auto head = Fetch(Get(upstream_->https_url() + "/packages/zz/big.bin"), sink);
  ASSERT_TRUE(head.has_value()) << head.error().message();
  EXPECT_EQ(head->protocol, "h2");
  EXPECT_EQ(head->content_length, kBigFileSize);
  EXPECT_TRUE(sink.body() == *big_file_);
  // Window plus framing: 9 bytes per DATA frame, heads, SETTINGS, WINDOW_UPDATE acks, TLS
  // records are not counted (bytes_received is after TLS).
  EXPECT_LE(sink.max_ahead(), 256u * 1024 + 16 * 1024);
  // And the window was used: the server ran well ahead of the slow sink at some point.
  EXPECT_GE(sink.max_ahead(), 128u * 1024);
}

TEST_F(ClientNginxTest, PlainHttpWorks) {
  MakeClient(ClientOptions{});
  StringSink sink(64 << 20);
  auto head = Fetch(
      Get(upstream_->http_url() + "/simple/foo-bar/", "application/vnd.pypi.simple.v1+json"), sink);
  ASSERT_TRUE(head.has_value()) << head.error().message();
  EXPECT_EQ(head->status, 200);
  EXPECT_NE(sink.body().find("\"name\":\"foo-bar\""), std::string::npos);
  StringSink missing(1 << 20);
  auto not_found = Fetch(Get(upstream_->http_url() + "/packages/zz/nope.bin"), missing);
  ASSERT_TRUE(not_found.has_value()) << not_found.error().message();
  EXPECT_EQ(not_found->status, 404);
}

// Seconds the fetches of `bytes` at `rate` must take at least: everything beyond the bucket's
// burst and one read buffer per connection arrives at the rate.
double MinSeconds(uint64_t bytes, uint64_t rate, size_t connections) {
  uint64_t head_start = RateLimiter::DefaultBurst(rate) + connections * 64 * 1024;
  return static_cast<double>(bytes - head_start) / static_cast<double>(rate);
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

TEST_F(ClientNginxTest, MaxRateCapsAnHttp2Download) {
  constexpr uint64_t kRate = 6 << 20;
  ClientOptions options = TrustingOptions();
  options.max_rate = kRate;
  MakeClient(options);
  StringSink sink(64 << 20);
  auto start = std::chrono::steady_clock::now();
  auto head = Fetch(Get(upstream_->https_url() + "/packages/zz/big.bin"), sink);
  double seconds = SecondsSince(start);
  ASSERT_TRUE(head.has_value()) << head.error().message();
  EXPECT_EQ(head->protocol, "h2");
  EXPECT_TRUE(sink.body() == *big_file_);
  EXPECT_GE(seconds, MinSeconds(kBigFileSize, kRate, 1));  // about 0.89 s
  EXPECT_LT(seconds, 20.0);
}

TEST_F(ClientNginxTest, MaxRateCapsAnHttp11Download) {
  constexpr uint64_t kRate = 6 << 20;
  ClientOptions options;
  options.max_rate = kRate;
  MakeClient(options);
  StringSink sink(64 << 20);
  auto start = std::chrono::steady_clock::now();
  auto head = Fetch(Get(upstream_->http_url() + "/packages/zz/big.bin"), sink);
  double seconds = SecondsSince(start);
  ASSERT_TRUE(head.has_value()) << head.error().message();
  EXPECT_EQ(head->protocol, "http/1.1");
  EXPECT_TRUE(sink.body() == *big_file_);
  EXPECT_GE(seconds, MinSeconds(kBigFileSize, kRate, 1));
  EXPECT_LT(seconds, 20.0);
}

TEST_F(ClientNginxTest, MaxRateIsSharedByAllConnectionsOfTheClient) {
  constexpr uint64_t kRate = 12 << 20;
  ClientOptions options = TrustingOptions();
  options.http2 = false;  // one connection per parallel fetch
  options.max_rate = kRate;
  MakeClient(options);
  std::vector<ParallelFetch> fetches(2);
  auto start = std::chrono::steady_clock::now();
  auto done = testing::RunOn(
      io_, FetchAll(client_.get(), upstream_->https_url() + "/packages/zz/big.bin", &fetches));
  double seconds = SecondsSince(start);
  ASSERT_TRUE(done.has_value());
  for (const ParallelFetch& fetch : fetches) {
    ASSERT_TRUE(fetch.head.has_value()) << fetch.head.error().message();
    EXPECT_TRUE(fetch.sink.body() == *big_file_);
  }
  EXPECT_EQ(client_->stats().connections_opened, 2u);
  EXPECT_GE(seconds, MinSeconds(2 * kBigFileSize, kRate, 2));  // about 0.88 s
  EXPECT_LT(seconds, 20.0);
}

}  // namespace
}  // namespace cistern::net
