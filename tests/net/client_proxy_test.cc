// Client through a real HTTP proxy (Debian's tinyproxy, tests/support TinyProxy) to real
// nginx: HTTPS over HTTP/2 and plain HTTP in CONNECT tunnels, no_proxy, a proxy that refuses,
// one that wants credentials, and one that is not there. Skipped when tinyproxy is missing.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "net/client.h"
#include "tests/net/test_util.h"
#include "tests/support/nginx_upstream.h"
#include "tests/support/tinyproxy.h"

namespace cistern::net {
namespace {

using cistern::testing::TinyProxy;
using cistern::testing::TinyProxyOptions;

Request Get(const std::string& url) {
  Request request;
  request.url = *Url::Parse(url);
  return request;
}

uint16_t PortOf(const std::string& url) { return Url::Parse(url)->port(); }

// "127.0.0.1:<port>": what the proxy's log shows as the CONNECT target.
std::string TargetOf(const std::string& url) { return "127.0.0.1:" + std::to_string(PortOf(url)); }

class ClientProxyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!TinyProxy::Installed()) {
      return;
    }
    upstream_ = cistern::testing::NginxUpstream::Start().release();
  }
  static void TearDownTestSuite() {
    delete upstream_;
    upstream_ = nullptr;
  }
  void SetUp() override {
    if (!TinyProxy::Installed()) {
      GTEST_SKIP()
          << "tinyproxy is not installed: apt-get install tinyproxy (tools/install_deps.sh "
             "installs it)";
    }
    ASSERT_NE(upstream_, nullptr);
  }

  // A proxy that lets CONNECT reach both of nginx's ports, unless told otherwise.
  std::unique_ptr<TinyProxy> StartProxy(TinyProxyOptions options = {}) {
    if (options.connect_ports.empty()) {
      options.connect_ports = {PortOf(upstream_->https_url()), PortOf(upstream_->http_url())};
    }
    return TinyProxy::Start(options);
  }

  ClientOptions OptionsVia(const std::string& proxy_url) {
    ClientOptions options;
    options.ca_files = {upstream_->ca_file()};
    options.proxy.https_proxy = proxy_url;
    options.proxy.http_proxy = proxy_url;
    return options;
  }

  void TearDown() override { testing::CloseAndDrain(io_, client_); }

  void MakeClient(ClientOptions options) {
    testing::CloseAndDrain(io_, client_);
    auto client = Client::Create(io_.get_executor(), std::move(options));
    ASSERT_TRUE(client.has_value()) << client.error().message();
    client_ = std::move(*client);
  }

  Result<ResponseHead> Fetch(const std::string& url, StringSink& sink) {
    return testing::RunOn(io_, client_->Fetch(Get(url), sink));
  }

  static cistern::testing::NginxUpstream* upstream_;
  asio::io_context io_{1};
  std::unique_ptr<Client> client_;
};

cistern::testing::NginxUpstream* ClientProxyTest::upstream_ = nullptr;

TEST_F(ClientProxyTest, FetchesOverHttp2InsideACONNECTTunnel) {
  auto proxy = StartProxy();
  ASSERT_NE(proxy, nullptr);
  MakeClient(OptionsVia(proxy->url()));
  for (int i = 0; i < 3; ++i) {
    StringSink sink(64 << 20);
    auto head = Fetch(upstream_->https_url() + "/simple/foo-bar/", sink);
    ASSERT_TRUE(head.has_value()) << head.error().message();
    EXPECT_EQ(head->status, 200);
    EXPECT_EQ(head->protocol, "h2");  // ALPN inside the tunnel
    EXPECT_NE(sink.body().find("foo-bar"), std::string::npos);
  }
  // One tunnel carried all three requests: the pool keys connections by origin as usual.
  EXPECT_EQ(client_->stats().connections_opened, 1u);
  EXPECT_EQ(proxy->ConnectTargets(), std::vector<std::string>{TargetOf(upstream_->https_url())})
      << proxy->Log();
}

TEST_F(ClientProxyTest, TunnelsPlainHttpWithCONNECTToo) {
  auto proxy = StartProxy();
  ASSERT_NE(proxy, nullptr);
  MakeClient(OptionsVia(proxy->url()));
  StringSink sink(64 << 20);
  auto head = Fetch(upstream_->http_url() + "/simple/foo-bar/", sink);
  ASSERT_TRUE(head.has_value()) << head.error().message();
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->protocol, "http/1.1");
  EXPECT_EQ(proxy->ConnectTargets(), std::vector<std::string>{TargetOf(upstream_->http_url())})
      << proxy->Log();
}

TEST_F(ClientProxyTest, NoProxyHostsAreReachedDirectly) {
  auto proxy = StartProxy();
  ASSERT_NE(proxy, nullptr);
  ClientOptions options = OptionsVia(proxy->url());
  options.proxy.no_proxy = {"example.org, 127.0.0.1"};
  MakeClient(options);
  StringSink sink(64 << 20);
  auto head = Fetch(upstream_->https_url() + "/simple/foo-bar/", sink);
  ASSERT_TRUE(head.has_value()) << head.error().message();
  EXPECT_EQ(head->status, 200);
  EXPECT_TRUE(proxy->ConnectTargets().empty()) << proxy->Log();

  // "localhost" is not exempt because 127.0.0.1 is: it goes through the proxy.
  std::string url = upstream_->https_url();
  url.replace(url.find("127.0.0.1"), 9, "localhost");
  StringSink by_name(64 << 20);
  auto through = Fetch(url + "/simple/foo-bar/", by_name);
  ASSERT_TRUE(through.has_value()) << through.error().message();
  EXPECT_EQ(proxy->ConnectTargets(),
            std::vector<std::string>{"localhost:" + std::to_string(PortOf(upstream_->https_url()))})
      << proxy->Log();
}

TEST_F(ClientProxyTest, AProxyThatRefusesTheTunnelGivesAClearPermanentError) {
  TinyProxyOptions options;
  options.connect_ports = {443};  // not nginx's port: tinyproxy answers 403
  auto proxy = TinyProxy::Start(options);
  ASSERT_NE(proxy, nullptr);
  MakeClient(OptionsVia(proxy->url()));
  StringSink sink(1 << 20);
  auto head = Fetch(upstream_->https_url() + "/simple/", sink);
  ASSERT_FALSE(head.has_value());
  EXPECT_EQ(head.error().code, make_error_code(Errc::kProxyRefused)) << head.error().message();
  EXPECT_EQ(head.error().message(), "GET " + upstream_->https_url() + "/simple/: proxy " +
                                        proxy->url() + " answered CONNECT " +
                                        TargetOf(upstream_->https_url()) +
                                        " with 403 Access violation: the proxy refused the tunnel");
  EXPECT_FALSE(IsTransient(head.error()));
}

TEST_F(ClientProxyTest, AProxyThatWantsCredentialsSaysSoAndAcceptsThemFromTheUrl) {
  TinyProxyOptions options;
  options.basic_auth = "mirror s3cret";
  auto proxy = StartProxy(options);
  ASSERT_NE(proxy, nullptr);

  MakeClient(OptionsVia(proxy->url()));
  StringSink refused(1 << 20);
  auto head = Fetch(upstream_->https_url() + "/simple/", refused);
  ASSERT_FALSE(head.has_value());
  EXPECT_EQ(head.error().code, make_error_code(Errc::kProxyAuthRequired)) << head.error().message();
  EXPECT_NE(head.error().message().find("with 407"), std::string::npos) << head.error().message();
  EXPECT_NE(head.error().message().find("the proxy requires authentication"), std::string::npos);
  EXPECT_FALSE(IsTransient(head.error()));

  MakeClient(OptionsVia("http://mirror:wrong@127.0.0.1:" + std::to_string(proxy->port())));
  StringSink wrong(1 << 20);
  auto rejected = Fetch(upstream_->https_url() + "/simple/", wrong);
  ASSERT_FALSE(rejected.has_value());
  EXPECT_EQ(rejected.error().code, make_error_code(Errc::kProxyAuthRequired));
  EXPECT_NE(rejected.error().message().find("did not accept the credentials"), std::string::npos)
      << rejected.error().message();
  EXPECT_EQ(rejected.error().message().find("wrong"), std::string::npos)
      << rejected.error().message();

  MakeClient(OptionsVia("http://mirror:s3cret@127.0.0.1:" + std::to_string(proxy->port())));
  StringSink sink(64 << 20);
  auto accepted = Fetch(upstream_->https_url() + "/simple/foo-bar/", sink);
  ASSERT_TRUE(accepted.has_value()) << accepted.error().message();
  EXPECT_EQ(accepted->status, 200);
  EXPECT_EQ(accepted->protocol, "h2");
}

TEST_F(ClientProxyTest, AnUnreachableProxyIsAConnectErrorNamingIt) {
  // A port that was free a moment ago: nothing listens there.
  std::string proxy_url;
  {
    auto proxy = StartProxy();
    ASSERT_NE(proxy, nullptr);
    proxy_url = proxy->url();
  }
  MakeClient(OptionsVia(proxy_url));
  StringSink sink(1 << 20);
  auto head = Fetch(upstream_->https_url() + "/simple/", sink);
  ASSERT_FALSE(head.has_value());
  EXPECT_EQ(head.error().code, make_error_code(Errc::kConnect)) << head.error().message();
  EXPECT_NE(head.error().message().find("connect to proxy " + proxy_url), std::string::npos)
      << head.error().message();
  EXPECT_TRUE(IsTransient(head.error()));
}

TEST_F(ClientProxyTest, AnInvalidProxyUrlFailsClientCreation) {
  ClientOptions options;
  options.proxy.https_proxy = "https://proxy.example:3128";
  auto client = Client::Create(io_.get_executor(), options);
  ASSERT_FALSE(client.has_value());
  EXPECT_EQ(client.error().code, make_error_code(Errc::kUnsupportedScheme));
}

}  // namespace
}  // namespace cistern::net
