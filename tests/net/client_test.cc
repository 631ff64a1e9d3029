#include "net/client.h"

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <zlib.h>

#include "tests/net/loopback_server.h"
#include "tests/net/test_util.h"

namespace cistern::net {
namespace {

using namespace std::chrono_literals;
using testing::LoopbackServer;
using testing::Reply;
using testing::Response;

std::string Gzip(std::string_view text) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, static_cast<uLong>(text.size())), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

template <class F>
ClientOptions Options(F edit) {
  ClientOptions options;
  edit(options);
  return options;
}

Request Get(const std::string& url) {
  Request request;
  request.url = *Url::Parse(url);
  return request;
}

// A sink that waits `delay` per chunk: a slow disk.
class SlowSink final : public BodySink {
 public:
  explicit SlowSink(std::chrono::milliseconds delay) : delay_(delay) {}
  Result<void> OnHead(const ResponseHead&) override { return {}; }
  Task<Result<void>> OnData(std::span<const uint8_t> bytes) override {
    body_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    ++chunks_;
    co_await SleepFor(delay_);
    co_return Result<void>{};
  }
  const std::string& body() const { return body_; }
  int chunks() const { return chunks_; }

 private:
  std::chrono::milliseconds delay_;
  std::string body_;
  int chunks_ = 0;
};

class ClientTest : public ::testing::Test {
 protected:
  void Serve(testing::Script script) {
    server_ = std::make_unique<LoopbackServer>(io_, std::move(script));
  }
  void MakeClient(ClientOptions options = {}) {
    auto client = Client::Create(io_.get_executor(), std::move(options));
    ASSERT_TRUE(client.has_value()) << client.error().message();
    client_ = std::move(*client);
  }
  Result<ResponseHead> Fetch(const std::string& path, BodySink& sink) {
    return testing::RunOn(io_, client_->Fetch(Get(server_->url(path)), sink));
  }

  asio::io_context io_{1};
  std::unique_ptr<LoopbackServer> server_;
  std::unique_ptr<Client> client_;
};

TEST_F(ClientTest, ReturnsStatusHeadersAndBody) {
  Serve([](const std::string& head, int, int) {
    if (head.starts_with("GET /missing ")) {
      return Reply{Response(404, "no such project")};
    }
    return Reply{Response(200, "hello", "X-PyPI-Last-Serial: 42\r\n")};
  });
  MakeClient();
  StringSink sink(1 << 20);
  auto head = Fetch("/simple/", sink);
  ASSERT_TRUE(head.has_value()) << head.error().message();
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->headers.Get("x-pypi-last-serial"), "42");
  EXPECT_EQ(head->protocol, "http/1.1");
  EXPECT_EQ(head->content_length, 5u);
  EXPECT_EQ(head->url.str(), server_->url("/simple/"));
  EXPECT_EQ(sink.body(), "hello");
  EXPECT_GE(sink.body().capacity(), sink.body().size() + StringSink::kPadding);

  StringSink missing(1 << 20);
  auto not_found = Fetch("/missing", missing);
  ASSERT_TRUE(not_found.has_value()) << not_found.error().message();
  EXPECT_EQ(not_found->status, 404);
  EXPECT_EQ(missing.body(), "no such project");
}

TEST_F(ClientTest, SendsUserAgentAndInflatesGzip) {
  std::string json =
      R"({"meta":{"api-version":"1.1"},"projects":[)" + std::string(5000, ' ') + "]}";
  std::string compressed = Gzip(json);
  Serve([&compressed](const std::string&, int, int) {
    return Reply{Response(200, compressed, "Content-Encoding: gzip\r\n")};
  });
  MakeClient(Options([](ClientOptions& o) { o.user_agent = "cistern-test/1"; }));
  StringSink sink(1 << 20);
  auto head = Fetch("/simple/", sink);
  ASSERT_TRUE(head.has_value()) << head.error().message();
  EXPECT_EQ(sink.body(), json);
  EXPECT_EQ(head->content_length, std::nullopt);
  ASSERT_EQ(server_->request_heads().size(), 1u);
  const std::string& sent = server_->request_heads()[0];
  EXPECT_NE(sent.find("\r\nUser-Agent: cistern-test/1\r\n"), std::string::npos) << sent;
  EXPECT_NE(sent.find("\r\nAccept-Encoding: gzip\r\n"), std::string::npos) << sent;
}

TEST_F(ClientTest, CorruptGzipIsADecompressError) {
  Serve([](const std::string&, int, int) {
    return Reply{Response(200, "this is not gzip", "Content-Encoding: gzip\r\n")};
  });
  MakeClient();
  StringSink sink(1 << 20);
  auto head = Fetch("/x", sink);
  ASSERT_FALSE(head.has_value());
  EXPECT_EQ(head.error().code, make_error_code(Errc::kDecompress)) << head.error().message();
}

TEST_F(ClientTest, TimesOutWhenTheServerNeverAnswers) {
  Serve([](const std::string&, int, int) { return Reply{"", Reply::After::kHang}; });
  MakeClient(Options([](ClientOptions& o) { o.idle_timeout = 200ms; }));
  StringSink sink(1 << 20);
  auto head = Fetch("/hang", sink);
  ASSERT_FALSE(head.has_value());
  EXPECT_EQ(head.error().code, make_error_code(Errc::kTimeout)) << head.error().message();
  EXPECT_TRUE(IsTransient(head.error()));
  EXPECT_EQ(head.error().message(),
            "GET " + server_->url("/hang") + ": idle for 200 ms: timed out");
}

TEST_F(ClientTest, TlsHandshakeTimesOutWhenTheServerNeverSpeaksTls) {
  // A plain TCP server that accepts and never answers the ClientHello.
  Serve([](const std::string&, int, int) { return Reply{"", Reply::After::kHang}; });
  MakeClient(Options([](ClientOptions& o) {
    o.tls_handshake_timeout = 200ms;
    o.idle_timeout = 10s;
  }));
  std::string url = server_->url("/x");
  url.replace(0, 4, "https");
  StringSink sink(1 << 20);
  auto head = testing::RunOn(io_, client_->Fetch(Get(url), sink));
  ASSERT_FALSE(head.has_value());
  EXPECT_EQ(head.error().code, make_error_code(Errc::kTimeout)) << head.error().message();
  EXPECT_NE(head.error().message().find("200 ms"), std::string::npos) << head.error().message();
}

TEST_F(ClientTest, RequestTimeoutBoundsAResponseThatNeverCompletes) {
  // Headers and part of the body, then silence: the idle limit is long, the request limit short.
  Serve([](const std::string&, int, int) {
    return Reply{"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + std::string(10, 'x'),
                 Reply::After::kHang};
  });
  MakeClient(Options([](ClientOptions& o) {
    o.idle_timeout = 10s;
    o.request_timeout = 300ms;
  }));
  StringSink sink(1 << 20);
  auto head = Fetch("/slow", sink);
  ASSERT_FALSE(head.has_value());
  EXPECT_EQ(head.error().code, make_error_code(Errc::kTimeout)) << head.error().message();
  EXPECT_NE(head.error().message().find("300 ms"), std::string::npos) << head.error().message();
}

TEST_F(ClientTest, MidBodyCloseIsAnErrorNotATruncatedSuccess) {
  Serve([](const std::string&, int, int) {
    return Reply{"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + std::string(50, 'x'),
                 Reply::After::kClose};
  });
  MakeClient();
  StringSink sink(1 << 20);
  auto head = Fetch("/file.whl", sink);
  ASSERT_FALSE(head.has_value());
  EXPECT_EQ(head.error().code, make_error_code(Errc::kConnectionClosed)) << head.error().message();
  EXPECT_TRUE(IsTransient(head.error()));
  EXPECT_EQ(sink.body(), std::string(50, 'x'));
}

TEST_F(ClientTest, RetriesOnceWhenAKeptAliveConnectionWasClosed) {
  Serve([](const std::string&, int connection, int) {
    // The first connection answers once and closes without saying so (an idle-timeout race).
    if (connection == 0) {
      return Reply{Response(200, "first"), Reply::After::kClose};
    }
    return Reply{Response(200, "second")};
  });
  MakeClient();
  StringSink first(1 << 20);
  ASSERT_TRUE(Fetch("/a", first).has_value());
  EXPECT_EQ(first.body(), "first");
  StringSink second(1 << 20);
  auto head = Fetch("/b", second);
  ASSERT_TRUE(head.has_value()) << head.error().message();
  EXPECT_EQ(second.body(), "second");
  EXPECT_EQ(client_->stats().connections_opened, 2u);
  EXPECT_EQ(client_->stats().requests, 3u);
  EXPECT_EQ(server_->connections(), 2);
}

TEST_F(ClientTest, DoesNotRetryAFreshConnectionThatCloses) {
  Serve([](const std::string&, int, int) { return Reply{"", Reply::After::kClose}; });
  MakeClient();
  StringSink sink(1 << 20);
  auto head = Fetch("/a", sink);
  ASSERT_FALSE(head.has_value());
  EXPECT_EQ(head.error().code, make_error_code(Errc::kConnectionClosed)) << head.error().message();
  EXPECT_EQ(server_->connections(), 1);
}

TEST_F(ClientTest, FollowsARelativeRedirectAndDiscardsItsBody) {
  Serve([](const std::string& head, int, int) {
    if (head.starts_with("GET /simple/Foo_Bar/ ")) {
      return Reply{Response(301, "redirect body", "Location: ../foo-bar/\r\n")};
    }
    return Reply{Response(200, "normalized")};
  });
  MakeClient();
  StringSink sink(1 << 20);
  auto head = Fetch("/simple/Foo_Bar/", sink);
  ASSERT_TRUE(head.has_value()) << head.error().message();
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->url.str(), server_->url("/simple/foo-bar/"));
  EXPECT_EQ(sink.body(), "normalized");
  ASSERT_TRUE(sink.head().has_value());
  EXPECT_EQ(sink.head()->status, 200);
  EXPECT_EQ(client_->stats().connections_opened, 1u);
}

TEST_F(ClientTest, StopsAfterMaxRedirects) {
  Serve(
      [](const std::string&, int, int) { return Reply{Response(302, "", "Location: /loop\r\n")}; });
  MakeClient(Options([](ClientOptions& o) { o.max_redirects = 3; }));
  StringSink sink(1 << 20);
  auto head = Fetch("/loop", sink);
  ASSERT_FALSE(head.has_value());
  EXPECT_EQ(head.error().code, make_error_code(Errc::kTooManyRedirects)) << head.error().message();
  EXPECT_FALSE(IsTransient(head.error()));
  EXPECT_EQ(server_->request_heads().size(), 4u);
  EXPECT_FALSE(sink.head().has_value());
}

TEST_F(ClientTest, SequentialRequestsShareOneConnection) {
  Serve([](const std::string&, int, int request) {
    return Reply{Response(200, "r" + std::to_string(request))};
  });
  MakeClient();
  for (int i = 0; i < 20; ++i) {
    StringSink sink(1 << 20);
    auto head = Fetch("/r", sink);
    ASSERT_TRUE(head.has_value()) << head.error().message();
    EXPECT_EQ(sink.body(), "r" + std::to_string(i));
  }
  EXPECT_EQ(client_->stats().connections_opened, 1u);
  EXPECT_EQ(client_->stats().requests, 20u);
  EXPECT_EQ(server_->connections(), 1);
}

struct ParallelFetch {
  StringSink sink{1 << 20};
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

TEST_F(ClientTest, RespectsTheConnectionLimitPerOrigin) {
  Serve([](const std::string&, int, int) { return Reply{Response(200, "ok"), {}, 50ms}; });
  MakeClient(Options([](ClientOptions& o) { o.max_connections_per_origin = 2; }));
  std::vector<ParallelFetch> fetches(10);
  auto done = testing::RunOn(io_, FetchAll(client_.get(), server_->url("/p"), &fetches));
  ASSERT_TRUE(done.has_value());
  for (const ParallelFetch& fetch : fetches) {
    ASSERT_TRUE(fetch.head.has_value()) << fetch.head.error().message();
    EXPECT_EQ(fetch.sink.body(), "ok");
  }
  EXPECT_EQ(client_->stats().connections_opened, 2u);
  EXPECT_EQ(server_->max_concurrent_connections(), 2);
  EXPECT_EQ(server_->request_heads().size(), 10u);
}

Task<Result<void>> FetchInOrder(Client* client, std::vector<Request> requests,
                                std::vector<ParallelFetch>* out) {
  TaskGroup group(co_await asio::this_coro::executor);
  for (size_t i = 0; i < requests.size(); ++i) {
    group.Spawn(FetchInto(client, std::move(requests[i]), &(*out)[i]));
  }
  co_await group.Wait();
  co_return Result<void>{};
}

TEST_F(ClientTest, AnUrgentRequestWaitsAheadOfTheOthersForABusyOrigin) {
  // One connection: /slow holds it while three files, then a page, then a second page queue.
  Serve([](const std::string& head, int, int) {
    return Reply{Response(200, "ok"), {}, head.starts_with("GET /slow ") ? 200ms : 0ms};
  });
  MakeClient(Options([](ClientOptions& o) { o.max_connections_per_origin = 1; }));
  std::vector<Request> requests;
  for (const char* path : {"/slow", "/file-1", "/file-2", "/file-3", "/page-1", "/page-2"}) {
    requests.push_back(Get(server_->url(path)));
    requests.back().urgent = std::string_view(path).starts_with("/page");
  }
  std::vector<ParallelFetch> fetches(requests.size());
  auto done = testing::RunOn(io_, FetchInOrder(client_.get(), std::move(requests), &fetches));
  ASSERT_TRUE(done.has_value());
  for (const ParallelFetch& fetch : fetches) {
    ASSERT_TRUE(fetch.head.has_value()) << fetch.head.error().message();
  }
  std::vector<std::string> order;
  for (const std::string& head : server_->request_heads()) {
    order.push_back(head.substr(4, head.find(' ', 4) - 4));
  }
  // The pages go ahead of the files that queued before them, and keep their own order.
  EXPECT_EQ(order, (std::vector<std::string>{"/slow", "/page-1", "/page-2", "/file-1", "/file-2",
                                             "/file-3"}));
  EXPECT_EQ(server_->connections(), 1);
}

TEST_F(ClientTest, SlowSinkDoesNotTripTheIdleTimeout) {
  // Every chunk keeps the sink busy for longer than the idle limit. The limit is far above a
  // scheduling stall of a loaded 2-core machine (50 ms was not), which would otherwise let the
  // idle timer win the race against bytes already waiting in the socket.
  std::string body(48, 'b');
  Serve([&body](const std::string&, int, int) { return Reply{Response(200, body)}; });
  MakeClient(Options([](ClientOptions& o) {
    o.idle_timeout = 500ms;
    o.read_buffer_size = 16;
  }));
  SlowSink sink(800ms);
  auto head = Fetch("/slow", sink);
  ASSERT_TRUE(head.has_value()) << head.error().message();
  EXPECT_EQ(sink.body(), body);
  EXPECT_GE(sink.chunks(), 3);
}

TEST_F(ClientTest, SinkErrorAbortsTheRequest) {
  Serve([](const std::string&, int, int) { return Reply{Response(200, "0123456789")}; });
  MakeClient();
  StringSink sink(3);
  auto head = Fetch("/big", sink);
  ASSERT_FALSE(head.has_value());
  EXPECT_EQ(head.error().code, make_error_code(Errc::kBodyTooLarge)) << head.error().message();
}

TEST_F(ClientTest, CancellationReturnsOperationAbortedAndIsNotRetried) {
  Serve([](const std::string&, int, int) { return Reply{"", Reply::After::kHang}; });
  MakeClient();
  StringSink sink(1 << 20);
  asio::cancellation_signal cancel;
  std::optional<Result<ResponseHead>> result;
  Spawn(io_.get_executor(), client_->Fetch(Get(server_->url("/hang")), sink), cancel.slot(),
        [&](std::exception_ptr, Result<ResponseHead> r) {
          result.emplace(std::move(r));
          io_.stop();
        });
  // Cancelled once the server holds the request (not after a fixed pause, which a stalled
  // machine could spend before connecting).
  asio::steady_timer timer(io_);
  std::function<void(std::error_code)> poll = [&](std::error_code) {
    if (!server_->request_heads().empty()) {
      cancel.emit(asio::cancellation_type::terminal);
      return;
    }
    timer.expires_after(5ms);
    timer.async_wait(poll);
  };
  poll({});
  io_.run_for(10s);
  ASSERT_TRUE(result.has_value());
  ASSERT_FALSE(result->has_value());
  EXPECT_TRUE(IsCancelled(result->error())) << result->error().message();
  EXPECT_FALSE(IsTransient(result->error()));
  EXPECT_EQ(server_->connections(), 1);
}

TEST_F(ClientTest, ConnectionRefusedIsATransientConnectError) {
  uint16_t port = 0;
  {
    asio::ip::tcp::acceptor probe(io_,
                                  asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = probe.local_endpoint().port();
  }
  MakeClient();
  StringSink sink(1 << 20);
  auto head = testing::RunOn(
      io_, client_->Fetch(Get("http://127.0.0.1:" + std::to_string(port) + "/"), sink));
  ASSERT_FALSE(head.has_value());
  EXPECT_EQ(head.error().code, make_error_code(Errc::kConnect)) << head.error().message();
  EXPECT_TRUE(IsTransient(head.error()));
}

TEST_F(ClientTest, RefusesFileUrlsAndRedirectsToThem) {
  Serve([](const std::string&, int, int) {
    return Reply{"HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\nContent-Length: 0\r\n\r\n"};
  });
  MakeClient();
  StringSink sink(1 << 20);
  Request local;
  local.url = *Url::Parse("file:///etc/passwd", Schemes::kHttpOrFile);
  auto direct = testing::RunOn(io_, client_->Fetch(local, sink));
  ASSERT_FALSE(direct.has_value());
  EXPECT_EQ(direct.error().code, make_error_code(Errc::kUnsupportedScheme))
      << direct.error().message();
  EXPECT_EQ(server_->connections(), 0);

  auto redirected = Fetch("/simple/", sink);
  ASSERT_FALSE(redirected.has_value());
  EXPECT_EQ(redirected.error().code, make_error_code(Errc::kUnsupportedScheme))
      << redirected.error().message();
  EXPECT_TRUE(sink.body().empty());
}

TEST_F(ClientTest, CreateFailsForAnUnreadableCaFile) {
  auto client = Client::Create(io_.get_executor(), Options([](ClientOptions& o) {
                                 o.ca_files = {"/nonexistent/cistern-ca.pem"};
                               }));
  ASSERT_FALSE(client.has_value());
  EXPECT_EQ(client.error().code, make_error_code(Errc::kTlsConfig));
  EXPECT_NE(client.error().detail.find("/nonexistent/cistern-ca.pem"), std::string::npos)
      << client.error().detail;
}

}  // namespace
}  // namespace cistern::net
