// A whole sync through a real HTTP proxy (tinyproxy, tests/support TinyProxy) to real nginx:
// the tree equals a direct sync's, and a proxy that refuses stops the run before anything
// changes. Skipped when tinyproxy is not installed.

#include <filesystem>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "engine/sync_run.h"
#include "net/url.h"
#include "tests/integration/sync_util.h"
#include "tests/support/nginx_upstream.h"
#include "tests/support/tinyproxy.h"

namespace cistern {
namespace {

namespace fs = std::filesystem;
using testing::NginxUpstream;
using testing::TinyProxy;
using testing::TinyProxyOptions;

class ProxySyncTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (TinyProxy::Installed()) {
      upstream_ = NginxUpstream::Start().release();
    }
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

  static uint16_t UpstreamPort() { return net::Url::Parse(upstream_->https_url())->port(); }

  static NginxUpstream* upstream_;
  testing::TempDir temp_;
};

NginxUpstream* ProxySyncTest::upstream_ = nullptr;

TEST_F(ProxySyncTest, ASyncThroughTheProxyWritesTheSameTreeAsADirectOne) {
  TinyProxyOptions proxy_options;
  proxy_options.connect_ports = {UpstreamPort()};
  auto proxy = TinyProxy::Start(proxy_options);
  ASSERT_NE(proxy, nullptr);

  const fs::path direct = temp_.path() / "direct";
  testing::SyncOk(testing::SyncOptionsFor(direct, *upstream_));
  ASSERT_TRUE(proxy->ConnectTargets().empty()) << proxy->Log();

  const fs::path proxied = temp_.path() / "proxied";
  engine::SyncOptions options = testing::SyncOptionsFor(proxied, *upstream_);
  options.client.proxy.https_proxy = proxy->url();
  const engine::SyncReport report = testing::SyncOk(options);
  EXPECT_TRUE(report.deferred.empty());
  EXPECT_GT(report.files_fetched, 0u);

  auto expected = testing::Snapshot(direct / "web");
  auto actual = testing::Snapshot(proxied / "web");
  ASSERT_FALSE(expected.empty());
  EXPECT_TRUE(expected == actual) << testing::DescribeDifferences(expected, actual);
  // Every connection of the run was a tunnel to the upstream (HTTP/2 shares few of them).
  const auto targets = proxy->ConnectTargets();
  ASSERT_FALSE(targets.empty()) << proxy->Log();
  EXPECT_EQ(std::set<std::string>(targets.begin(), targets.end()),
            std::set<std::string>{"127.0.0.1:" + std::to_string(UpstreamPort())});
  EXPECT_EQ(targets.size(), report.net.connections_opened);
}

TEST_F(ProxySyncTest, AProxyThatRefusesStopsTheRunWithAnUpstreamErrorNamingIt) {
  TinyProxyOptions proxy_options;
  proxy_options.connect_ports = {443};  // not the upstream's port: 403
  auto proxy = TinyProxy::Start(proxy_options);
  ASSERT_NE(proxy, nullptr);
  const fs::path mirror = temp_.path() / "mirror";
  engine::SyncOptions options = testing::SyncOptionsFor(mirror, *upstream_);
  options.client.proxy.https_proxy = proxy->url();
  auto result = testing::Sync(options);
  ASSERT_TRUE(result.has_value());
  ASSERT_FALSE(result->has_value());
  EXPECT_EQ(result->error().code, make_error_code(engine::Errc::kUpstreamIndex));
  const std::string message = result->error().Message();
  EXPECT_NE(message.find("proxy " + proxy->url() + " answered CONNECT"), std::string::npos)
      << message;
  EXPECT_NE(message.find("403"), std::string::npos) << message;
  EXPECT_TRUE(testing::Snapshot(mirror / "web" / "packages").empty());
}

}  // namespace
}  // namespace cistern
