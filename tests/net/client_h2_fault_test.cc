// Client over HTTPS + HTTP/2 against FaultServer (tests/support): what nginx cannot produce —
// GOAWAY that refuses a stream, REFUSED_STREAM, RST_STREAM in the middle of a body, a stream that
// ends short of its content-length, a stream that stalls while its connection flows.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "net/client.h"
#include "tests/net/test_util.h"
#include "tests/support/fault_server.h"
#include "tests/support/nginx_upstream.h"
#include "tests/support/test_certificates.h"

namespace cistern::net {
namespace {

using cistern::testing::Fault;
using cistern::testing::FaultServer;
using cistern::testing::GoAway;
using cistern::testing::H2Error;

class ClientH2FaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto certificates = cistern::testing::MakeTestCertificates(temp_.path());
    ASSERT_TRUE(certificates.has_value()) << certificates.error();
    ca_file_ = certificates->ca_file;
    cistern::testing::FaultServerOptions options;
    options.tls_cert_file = certificates->cert_file;
    options.tls_key_file = certificates->key_file;
    auto server = FaultServer::Start(options);
    ASSERT_TRUE(server.has_value()) << server.error();
    server_ = std::move(*server);
    server_->SetResource("/a", {.body = std::string(100'000, 'a')});
    server_->SetResource("/b", {.body = "bee"});
    ClientOptions client_options;
    client_options.ca_files = {ca_file_};
    auto client = Client::Create(io_.get_executor(), client_options);
    ASSERT_TRUE(client.has_value()) << client.error().message();
    client_ = std::move(*client);
  }

  void TearDown() override { testing::CloseAndDrain(io_, client_); }

  Request Get(const std::string& path) {
    Request request;
    request.url = *Url::Parse(server_->url(path));
    return request;
  }

  cistern::testing::TempDir temp_;
  std::string ca_file_;
  std::unique_ptr<FaultServer> server_;
  asio::io_context io_{1};
  std::unique_ptr<Client> client_;
};

struct Fetched {
  StringSink sink{1 << 20};
  Result<ResponseHead> head = Fail(Errc::kProtocol, "not run");
};

Task<void> FetchInto(Client* client, Request request, Fetched* out) {
  out->head = co_await client->Fetch(std::move(request), out->sink);
}

Task<Result<void>> FetchBoth(Client* client, Request a, Request b, Fetched* out_a,
                             Fetched* out_b) {
  TaskGroup group(co_await asio::this_coro::executor);
  group.Spawn(FetchInto(client, std::move(a), out_a));
  group.Spawn(FetchInto(client, std::move(b), out_b));
  co_await group.Wait();
  co_return Result<void>{};
}

TEST_F(ClientH2FaultTest, RetriesAStreamRefusedByGoawayOnANewConnection) {
  server_->AddFault("/b", Fault{.request = 1, .goaway = GoAway{.last_stream_id = 0}});
  StringSink sink(1 << 20);
  auto head = testing::RunOn(io_, client_->Fetch(Get("/b"), sink));
  ASSERT_TRUE(head.has_value()) << head.error().message();
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->protocol, "h2");
  EXPECT_EQ(sink.body(), "bee");
  EXPECT_EQ(client_->stats().connections_opened, 2u);
  EXPECT_EQ(client_->stats().requests, 2u);
  auto records = server_->RequestsFor("/b");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_NE(records[0].connection_id, records[1].connection_id);
}

TEST_F(ClientH2FaultTest, RefusedStreamAfterAHeadIsAResetAndNotRetried) {
  // FaultServer sends the head first: once a head arrived the server did process the request,
  // so REFUSED_STREAM no longer means "safe to retry" (RFC 9113 §8.7).
  server_->AddFault("/b", Fault{.rst_stream_after_bytes = 0,
                                .rst_stream_code = H2Error::kRefusedStream});
  StringSink sink(1 << 20);
  auto head = testing::RunOn(io_, client_->Fetch(Get("/b"), sink));
  ASSERT_FALSE(head.has_value());
  EXPECT_EQ(head.error().code, make_error_code(Errc::kStreamReset)) << head.error().message();
  EXPECT_NE(head.error().message().find("REFUSED_STREAM"), std::string::npos);
  EXPECT_EQ(server_->RequestsFor("/b").size(), 1u);
}

TEST_F(ClientH2FaultTest, AResetInTheMiddleOfABodyFailsOnlyThatRequest) {
  server_->AddFault("/a", Fault{.rst_stream_after_bytes = 30'000});
  Fetched a;
  Fetched b;
  ASSERT_TRUE(testing::RunOn(io_, FetchBoth(client_.get(), Get("/a"), Get("/b"), &a, &b)));
  ASSERT_FALSE(a.head.has_value());
  EXPECT_EQ(a.head.error().code, make_error_code(Errc::kStreamReset)) << a.head.error().message();
  EXPECT_TRUE(IsTransient(a.head.error()));
  ASSERT_TRUE(b.head.has_value()) << b.head.error().message();
  EXPECT_EQ(b.sink.body(), "bee");
  EXPECT_EQ(client_->stats().connections_opened, 1u);
  EXPECT_EQ(client_->stats().requests, 2u);  // a reset after the head is not retried
}

TEST_F(ClientH2FaultTest, AStreamEndedShortOfItsContentLengthIsATransientEarlyClose) {
  server_->AddFault("/a", Fault{.request = 1, .close_after_bytes = 30'000});
  Fetched a;
  Fetched b;
  ASSERT_TRUE(testing::RunOn(io_, FetchBoth(client_.get(), Get("/a"), Get("/b"), &a, &b)));
  ASSERT_FALSE(a.head.has_value());
  EXPECT_EQ(a.head.error().code, make_error_code(Errc::kConnectionClosed))
      << a.head.error().message();
  EXPECT_NE(a.head.error().message().find("of the 100000 body bytes"), std::string::npos)
      << a.head.error().message();
  EXPECT_TRUE(IsTransient(a.head.error()));
  EXPECT_EQ(a.sink.body(), std::string(30'000, 'a'));  // what arrived stays with the sink
  ASSERT_TRUE(b.head.has_value()) << b.head.error().message();
  EXPECT_EQ(b.sink.body(), "bee");
  // Only that stream ended: the connection goes on and the next request reuses it.
  StringSink again(1 << 20);
  auto head = testing::RunOn(io_, client_->Fetch(Get("/a"), again));
  ASSERT_TRUE(head.has_value()) << head.error().message();
  EXPECT_EQ(again.body().size(), 100'000u);
  EXPECT_EQ(client_->stats().connections_opened, 1u);
  const auto records = server_->RequestsFor("/a");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].body_bytes_sent, 30'000u);
  EXPECT_EQ(records[0].protocol, "h2");
}

TEST_F(ClientH2FaultTest, AStalledStreamTimesOutAloneWhileItsConnectionFlows) {
  ClientOptions options;
  options.ca_files = {ca_file_};
  // Far above a scheduling stall of a loaded machine: a stall before the first bytes would let
  // both streams' timers win against bytes already waiting (300 ms was not enough).
  options.idle_timeout = std::chrono::milliseconds(1000);
  auto client = Client::Create(io_.get_executor(), options);
  ASSERT_TRUE(client.has_value()) << client.error().message();
  client_ = std::move(*client);
  // /a sends 1,000 bytes, then nothing until the server stops; /slow flows for about 3 s on the
  // same connection, longer than two idle periods.
  server_->SetResource("/slow", {.body = std::string(60'000, 's')});
  server_->AddFault("/a", Fault{.stall_after_bytes = 1'000});
  server_->AddFault("/slow", Fault{.bytes_per_second = 20'000});
  Fetched a;
  Fetched slow;
  ASSERT_TRUE(testing::RunOn(io_, FetchBoth(client_.get(), Get("/a"), Get("/slow"), &a, &slow)));
  ASSERT_FALSE(a.head.has_value());
  EXPECT_EQ(a.head.error().code, make_error_code(Errc::kTimeout)) << a.head.error().message();
  EXPECT_NE(a.head.error().message().find("received nothing for 1000 ms while its connection "
                                          "was alive"),
            std::string::npos)
      << a.head.error().message();
  EXPECT_TRUE(IsTransient(a.head.error()));
  EXPECT_EQ(a.sink.body().size(), 1'000u);
  ASSERT_TRUE(slow.head.has_value()) << slow.head.error().message();
  EXPECT_EQ(slow.sink.body(), std::string(60'000, 's'));
  EXPECT_EQ(client_->stats().connections_opened, 1u);

  ASSERT_TRUE(server_->WaitForFinishedRequests(2, std::chrono::seconds(5)));
  const auto a_records = server_->RequestsFor("/a");
  const auto slow_records = server_->RequestsFor("/slow");
  ASSERT_EQ(a_records.size(), 1u);
  ASSERT_EQ(slow_records.size(), 1u);
  // The client reset the stalled stream (RST_STREAM), on the connection /slow went on using.
  EXPECT_EQ(a_records[0].outcome, "peer_closed");
  EXPECT_EQ(slow_records[0].outcome, "complete");
  EXPECT_EQ(a_records[0].connection_id, slow_records[0].connection_id);
}

}  // namespace
}  // namespace cistern::net
