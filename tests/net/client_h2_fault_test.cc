// Client over HTTPS + HTTP/2 against FaultServer (tests/support): what nginx cannot produce —
// GOAWAY that refuses a stream, REFUSED_STREAM, RST_STREAM in the middle of a body.
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

}  // namespace
}  // namespace cistern::net
