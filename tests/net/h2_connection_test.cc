// H2Connection against H2LoopbackServer: nghttp2's server session over loopback TCP, with prior
// knowledge (RFC 9113 §3.3), so the driver is tested without TLS in the way.
#include "net/h2_connection.h"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <zlib.h>

#include "tests/net/h2_server_session.h"
#include "tests/net/test_util.h"

namespace cistern::net {
namespace {

using namespace std::chrono_literals;
using testing::H2LoopbackServer;
using testing::H2Reply;
using testing::ServerRequest;

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

std::string BodyFor(const std::string& path, size_t size) {
  std::string body;
  while (body.size() < size) {
    body += path + ";";
  }
  body.resize(size);
  return body;
}

H2Reply Ok(std::string body, std::vector<std::pair<std::string, std::string>> headers = {}) {
  H2Reply reply;
  reply.body = std::move(body);
  reply.headers = std::move(headers);
  return reply;
}

// Takes everything, waiting `delay` per chunk (a slow disk when non-zero).
class RecordingSink final : public BodySink {
 public:
  explicit RecordingSink(std::chrono::milliseconds delay = 0ms) : delay_(delay) {}
  Result<void> OnHead(const ResponseHead& head) override {
    head_ = head;
    return {};
  }
  Task<Result<void>> OnData(std::span<const uint8_t> bytes) override {
    if (in_flight_) {
      overlapped_ = true;
    }
    in_flight_ = true;
    body_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    ++chunks_;
    if (delay_ > 0ms) {
      co_await SleepFor(delay_);
    }
    in_flight_ = false;
    co_return Result<void>{};
  }
  const std::string& body() const { return body_; }
  const ResponseHead& head() const { return head_; }
  bool overlapped() const { return overlapped_; }

 private:
  std::chrono::milliseconds delay_;
  ResponseHead head_;
  std::string body_;
  int chunks_ = 0;
  bool in_flight_ = false;
  bool overlapped_ = false;
};

struct Exchange {
  Request request;
  RecordingSink sink;
  Result<ResponseHead> head = Fail(Errc::kProtocol, "not run");
  std::chrono::steady_clock::time_point done;
};

Task<void> RunExchange(H2Connection* connection, Exchange* exchange) {
  exchange->head = co_await connection->RoundTrip(exchange->request, "cistern/test",
                                                  exchange->sink);
  exchange->done = std::chrono::steady_clock::now();
}

Task<void> RunExchangeWithDeadline(H2Connection* connection, Exchange* exchange,
                                   std::chrono::milliseconds deadline) {
  exchange->head = co_await WithDeadline(
      connection->RoundTrip(exchange->request, "cistern/test", exchange->sink), deadline);
  exchange->done = std::chrono::steady_clock::now();
}

class H2ConnectionTest : public ::testing::Test {
 protected:
  void Serve(testing::H2Script script, std::vector<nghttp2_settings_entry> settings = {}) {
    server_ = std::make_unique<H2LoopbackServer>(io_, std::move(script), std::move(settings));
  }

  Request Get(const std::string& path) {
    Request request;
    request.url = *Url::Parse("http://127.0.0.1:" + std::to_string(server_->port()) + path);
    return request;
  }

  // Run() must end before io_ is destroyed, or its frame would be destroyed mid-flight.
  void TearDown() override { CloseConnection(); }

  void CloseConnection() {
    if (!connection_ || run_finished_) {
      return;
    }
    connection_->Close();
    io_.restart();
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!run_finished_ && std::chrono::steady_clock::now() < deadline) {
      io_.run_one_for(100ms);
    }
    EXPECT_TRUE(run_finished_) << "Run() did not end within 10 s of Close()";
  }

  // Connects, starts Run(), and runs every exchange concurrently until all are done.
  Result<void> RunAll(std::vector<Exchange>& exchanges, H2ConnectionOptions options = {}) {
    CloseConnection();
    return testing::RunOn(io_, RunAllTask(&exchanges, options));
  }

  Task<Result<void>> RunAllTask(std::vector<Exchange>* exchanges, H2ConnectionOptions options) {
    Executor executor = co_await asio::this_coro::executor;
    asio::ip::tcp::endpoint endpoint(asio::ip::address_v4::loopback(), server_->port());
    std::vector<asio::ip::tcp::endpoint> endpoints{endpoint};
    auto stream = co_await Stream::ConnectTcp(endpoints);
    if (!stream) {
      co_return tl::unexpected(stream.error());
    }
    connection_ = std::make_shared<H2Connection>(executor, std::move(*stream), stats_, options);
    run_finished_ = false;
    std::shared_ptr<H2Connection> keep = connection_;
    Spawn(executor, connection_->Run(), [this, keep](std::exception_ptr error) {
      ASSERT_FALSE(error);
      run_finished_ = true;
    });
    if (warm_up_) {
      // One exchange first, so the server's SETTINGS have arrived before the others start.
      Exchange first;
      first.request = Get("/warm-up");
      first.head = co_await connection_->RoundTrip(first.request, "ua", first.sink);
      if (!first.head) {
        co_return tl::unexpected(first.head.error());
      }
    }
    TaskGroup group(executor);
    for (Exchange& exchange : *exchanges) {
      if (deadline_ > 0ms) {
        group.Spawn(RunExchangeWithDeadline(connection_.get(), &exchange, deadline_));
      } else {
        group.Spawn(RunExchange(connection_.get(), &exchange));
      }
    }
    co_await group.Wait();
    co_return Result<void>{};
  }

  asio::io_context io_{1};
  std::unique_ptr<H2LoopbackServer> server_;
  TransportStats stats_;
  std::shared_ptr<H2Connection> connection_;
  bool run_finished_ = false;
  std::chrono::milliseconds deadline_{0};
  bool warm_up_ = false;
};

TEST_F(H2ConnectionTest, ConcurrentRoundTripsShareOneConnection) {
  Serve([](const ServerRequest& request, int) {
    return Ok(BodyFor(request.fields.at(":path"), 30'000),
              {{"content-length", "30000"}, {"x-path", request.fields.at(":path")}});
  });
  std::vector<Exchange> exchanges(20);
  for (size_t i = 0; i < exchanges.size(); ++i) {
    exchanges[i].request = Get("/file/" + std::to_string(i));
  }
  ASSERT_TRUE(RunAll(exchanges).has_value());
  for (size_t i = 0; i < exchanges.size(); ++i) {
    const Exchange& exchange = exchanges[i];
    ASSERT_TRUE(exchange.head.has_value()) << exchange.head.error().message();
    EXPECT_EQ(exchange.head->status, 200);
    EXPECT_EQ(exchange.head->protocol, "h2");
    EXPECT_EQ(exchange.head->content_length, 30'000u);
    EXPECT_EQ(exchange.head->headers.Get("X-Path"), "/file/" + std::to_string(i));
    EXPECT_EQ(exchange.head->url, exchange.request.url);
    EXPECT_TRUE(exchange.sink.body() == BodyFor("/file/" + std::to_string(i), 30'000));
    EXPECT_FALSE(exchange.sink.overlapped());
  }
  EXPECT_EQ(server_->connections(), 1);
  EXPECT_EQ(server_->requests(), 20);
  EXPECT_EQ(connection_->active_streams(), 0u);
  EXPECT_TRUE(connection_->accepting());
  EXPECT_GT(stats_.bytes_received, 20u * 30'000);
}

TEST_F(H2ConnectionTest, InflatesAGzipBody) {
  const std::string text = BodyFor("/simple/numpy/", 100'000);
  Serve([&text](const ServerRequest&, int) {
    return Ok(Gzip(text), {{"content-encoding", "gzip"}});
  });
  std::vector<Exchange> exchanges(1);
  exchanges[0].request = Get("/simple/numpy/");
  ASSERT_TRUE(RunAll(exchanges).has_value());
  ASSERT_TRUE(exchanges[0].head.has_value()) << exchanges[0].head.error().message();
  EXPECT_EQ(exchanges[0].head->headers.Get("Content-Encoding"), "gzip");
  EXPECT_FALSE(exchanges[0].head->content_length.has_value());
  EXPECT_TRUE(exchanges[0].sink.body() == text);
}

TEST_F(H2ConnectionTest, ASlowSinkHoldsBackOnlyItsOwnStream) {
  Serve([](const ServerRequest& request, int) {
    const std::string& path = request.fields.at(":path");
    return Ok(BodyFor(path, path == "/slow" ? 512 * 1024 : 64 * 1024));
  });
  H2ConnectionOptions options;
  options.codec.stream_window = 64 * 1024;
  std::vector<Exchange> exchanges(2);
  exchanges[0].request = Get("/slow");
  exchanges[0].sink = RecordingSink(20ms);
  exchanges[1].request = Get("/fast");
  ASSERT_TRUE(RunAll(exchanges, options).has_value());
  ASSERT_TRUE(exchanges[0].head.has_value()) << exchanges[0].head.error().message();
  ASSERT_TRUE(exchanges[1].head.has_value()) << exchanges[1].head.error().message();
  EXPECT_EQ(exchanges[0].sink.body().size(), 512u * 1024);
  EXPECT_EQ(exchanges[1].sink.body().size(), 64u * 1024);
  EXPECT_LT(exchanges[1].done, exchanges[0].done);
  EXPECT_FALSE(exchanges[0].sink.overlapped());
  EXPECT_EQ(connection_->codec_stats().data_bytes_consumed,
            connection_->codec_stats().data_bytes_received);
}

TEST_F(H2ConnectionTest, AResetByThePeerFailsOnlyThatStream) {
  Serve([](const ServerRequest& request, int) {
    if (request.fields.at(":path") == "/reset") {
      H2Reply reply;
      reply.kind = H2Reply::Kind::kReset;
      reply.error_code = 0x2;  // INTERNAL_ERROR
      return reply;
    }
    if (request.fields.at(":path") == "/refuse") {
      H2Reply reply;
      reply.kind = H2Reply::Kind::kReset;
      reply.error_code = kH2RefusedStream;
      return reply;
    }
    return Ok("fine");
  });
  std::vector<Exchange> exchanges(3);
  exchanges[0].request = Get("/a");
  exchanges[1].request = Get("/reset");
  exchanges[2].request = Get("/refuse");
  ASSERT_TRUE(RunAll(exchanges).has_value());
  ASSERT_TRUE(exchanges[0].head.has_value()) << exchanges[0].head.error().message();
  EXPECT_EQ(exchanges[0].sink.body(), "fine");
  ASSERT_FALSE(exchanges[1].head.has_value());
  EXPECT_EQ(exchanges[1].head.error().code, make_error_code(Errc::kStreamReset));
  EXPECT_EQ(exchanges[1].head.error().detail, "stream 3 reset by the peer: INTERNAL_ERROR");
  ASSERT_FALSE(exchanges[2].head.has_value());
  EXPECT_EQ(exchanges[2].head.error().code, make_error_code(Errc::kRefusedStream));
  EXPECT_TRUE(connection_->accepting());
}

TEST_F(H2ConnectionTest, GoawayRefusesLaterStreamsAndTheConnectionClosesWhenDrained) {
  Serve([](const ServerRequest& request, int) {
    if (request.stream == 5) {
      H2Reply reply;
      reply.kind = H2Reply::Kind::kGoaway;
      reply.last_stream = 3;
      return reply;
    }
    return Ok("ok " + std::to_string(request.stream));
  });
  std::vector<Exchange> exchanges(3);
  for (size_t i = 0; i < exchanges.size(); ++i) {
    exchanges[i].request = Get("/" + std::to_string(i));
  }
  ASSERT_TRUE(RunAll(exchanges).has_value());
  ASSERT_TRUE(exchanges[0].head.has_value()) << exchanges[0].head.error().message();
  EXPECT_EQ(exchanges[0].sink.body(), "ok 1");
  ASSERT_TRUE(exchanges[1].head.has_value()) << exchanges[1].head.error().message();
  EXPECT_EQ(exchanges[1].sink.body(), "ok 3");
  ASSERT_FALSE(exchanges[2].head.has_value());
  EXPECT_EQ(exchanges[2].head.error().code, make_error_code(Errc::kRefusedStream))
      << exchanges[2].head.error().message();
  EXPECT_TRUE(IsTransient(exchanges[2].head.error()));
  EXPECT_FALSE(connection_->accepting());
  EXPECT_FALSE(connection_->is_open());  // no stream left after GOAWAY
}

TEST_F(H2ConnectionTest, CancellingOneRoundTripResetsOnlyItsStream) {
  Serve([](const ServerRequest& request, int) {
    if (request.fields.at(":path") == "/hang") {
      H2Reply reply;
      reply.kind = H2Reply::Kind::kHang;
      return reply;
    }
    return Ok("answered");
  });
  deadline_ = 200ms;
  std::vector<Exchange> exchanges(1);
  exchanges[0].request = Get("/hang");
  ASSERT_TRUE(RunAll(exchanges).has_value());
  ASSERT_FALSE(exchanges[0].head.has_value());
  EXPECT_EQ(exchanges[0].head.error().code, make_error_code(Errc::kTimeout));
  EXPECT_EQ(connection_->active_streams(), 0u);
  // The same connection still works, and the server saw our RST_STREAM.
  Exchange next;
  next.request = Get("/ok");
  auto head = testing::RunOn(io_, connection_->RoundTrip(next.request, "ua", next.sink));
  ASSERT_TRUE(head.has_value()) << head.error().message();
  EXPECT_EQ(next.sink.body(), "answered");
  EXPECT_EQ(server_->rst_streams(), 1);
  EXPECT_EQ(server_->connections(), 1);
}

TEST_F(H2ConnectionTest, ASilentPeerIsPingedThenTimedOut) {
  Serve([](const ServerRequest&, int) { return Ok("never"); });
  server_->set_deaf(true);
  H2ConnectionOptions options;
  options.idle_timeout = 100ms;
  std::vector<Exchange> exchanges(2);
  exchanges[0].request = Get("/a");
  exchanges[1].request = Get("/b");
  auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(RunAll(exchanges, options).has_value());
  for (const Exchange& exchange : exchanges) {
    ASSERT_FALSE(exchange.head.has_value());
    EXPECT_EQ(exchange.head.error().code, make_error_code(Errc::kTimeout))
        << exchange.head.error().message();
    EXPECT_NE(exchange.head.error().detail.find("PING"), std::string::npos);
  }
  // One idle period before the PING, one more for its answer.
  EXPECT_GE(std::chrono::steady_clock::now() - started, 200ms);
  EXPECT_FALSE(connection_->is_open());
}

TEST_F(H2ConnectionTest, AStreamSilentWhileThePeerAnswersPingsIsResetNotTheConnection) {
  Serve([](const ServerRequest& request, int) {
    H2Reply reply;
    reply.kind = request.fields.at(":path") == "/hang" ? H2Reply::Kind::kHang
                                                       : H2Reply::Kind::kRespond;
    reply.body = "ok";
    return reply;
  });
  H2ConnectionOptions options;
  options.idle_timeout = 300ms;
  deadline_ = 10s;
  std::vector<Exchange> exchanges(1);
  exchanges[0].request = Get("/hang");
  ASSERT_TRUE(RunAll(exchanges, options).has_value());
  ASSERT_FALSE(exchanges[0].head.has_value());
  // The per-stream idle timeout ended it, not the request deadline nor the watchdog: the peer
  // answered the PING, so the connection is alive and only the stream is given up.
  EXPECT_EQ(exchanges[0].head.error().code, make_error_code(Errc::kTimeout))
      << exchanges[0].head.error().message();
  EXPECT_NE(exchanges[0].head.error().detail.find("received nothing for 300 ms while its "
                                                  "connection was alive"),
            std::string::npos)
      << exchanges[0].head.error().detail;
  EXPECT_GE(server_->pings(), 1);
  EXPECT_TRUE(connection_->is_open());
  // The same connection still works, and the server saw our RST_STREAM (frames arrive in order).
  Exchange next;
  next.request = Get("/ok");
  auto head = testing::RunOn(io_, connection_->RoundTrip(next.request, "ua", next.sink));
  ASSERT_TRUE(head.has_value()) << head.error().message();
  EXPECT_EQ(next.sink.body(), "ok");
  EXPECT_EQ(server_->rst_streams(), 1);
  EXPECT_EQ(server_->connections(), 1);
}

TEST_F(H2ConnectionTest, APeerClosingTheConnectionFailsEveryStream) {
  Serve([](const ServerRequest& request, int) {
    H2Reply reply;
    reply.kind = request.fields.at(":path") == "/close" ? H2Reply::Kind::kCloseConnection
                                                        : H2Reply::Kind::kHang;
    return reply;
  });
  std::vector<Exchange> exchanges(2);
  exchanges[0].request = Get("/hang");
  exchanges[1].request = Get("/close");
  ASSERT_TRUE(RunAll(exchanges).has_value());
  for (const Exchange& exchange : exchanges) {
    ASSERT_FALSE(exchange.head.has_value());
    EXPECT_EQ(exchange.head.error().code, make_error_code(Errc::kConnectionClosed))
        << exchange.head.error().message();
    EXPECT_TRUE(IsTransient(exchange.head.error()));
  }
  EXPECT_FALSE(connection_->is_open());
  Exchange late;
  late.request = Get("/late");
  auto head = testing::RunOn(io_, connection_->RoundTrip(late.request, "ua", late.sink));
  ASSERT_FALSE(head.has_value());
  EXPECT_EQ(head.error().code, make_error_code(Errc::kRefusedStream));
}

TEST_F(H2ConnectionTest, RespectsThePeersConcurrentStreamLimit) {
  Serve([](const ServerRequest& request, int) { return Ok(request.fields.at(":path")); },
        {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 2}});
  std::vector<Exchange> exchanges(6);
  for (size_t i = 0; i < exchanges.size(); ++i) {
    exchanges[i].request = Get("/" + std::to_string(i));
  }
  H2ConnectionOptions options;
  options.max_streams = 50;
  // Before the server's SETTINGS arrive nghttp2 assumes 100 streams, and a server may refuse
  // the excess (REFUSED_STREAM, which the client retries); after them it queues the excess.
  warm_up_ = true;
  ASSERT_TRUE(RunAll(exchanges, options).has_value());
  for (size_t i = 0; i < exchanges.size(); ++i) {
    ASSERT_TRUE(exchanges[i].head.has_value()) << exchanges[i].head.error().message();
    EXPECT_EQ(exchanges[i].sink.body(), "/" + std::to_string(i));
  }
  EXPECT_EQ(connection_->stream_limit(), 2u);
}

}  // namespace
}  // namespace cistern::net
