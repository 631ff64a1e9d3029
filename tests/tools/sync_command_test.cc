// How `cistern sync` turns the [network] proxy keys and the environment into net::ProxyOptions.
#include "tools/cistern/sync_command.h"

#include <map>
#include <string>

#include <gtest/gtest.h>

namespace cistern::cli {
namespace {

class ProxyOptionsForTest : public ::testing::Test {
 protected:
  net::ProxyOptions For(const Config& config) {
    return ProxyOptionsFor(config, [this](const char* name) -> const char* {
      auto it = env_.find(name);
      return it == env_.end() ? nullptr : it->second.c_str();
    });
  }

  std::map<std::string, std::string> env_ = {{"https_proxy", "http://env-proxy:3128"},
                                             {"HTTP_PROXY", "http://env-plain:3128"},
                                             {"no_proxy", "localhost,.internal"}};
};

TEST_F(ProxyOptionsForTest, AnEmptyProxyFollowsTheEnvironment) {
  net::ProxyOptions options = For(Config{});
  EXPECT_EQ(options.https_proxy, "http://env-proxy:3128");
  EXPECT_EQ(options.http_proxy, "http://env-plain:3128");
  EXPECT_EQ(options.no_proxy, std::vector<std::string>{"localhost,.internal"});
}

TEST_F(ProxyOptionsForTest, NoneIgnoresTheEnvironment) {
  Config config;
  config.proxy = "none";
  config.no_proxy = {"x.example"};
  net::ProxyOptions options = For(config);
  EXPECT_EQ(options.https_proxy, "");
  EXPECT_EQ(options.http_proxy, "");
  EXPECT_TRUE(options.no_proxy.empty());
}

TEST_F(ProxyOptionsForTest, AUrlServesBothSchemesAndTheEnvironmentsNoProxyStillApplies) {
  Config config;
  config.proxy = "http://configured:8080";
  net::ProxyOptions options = For(config);
  EXPECT_EQ(options.https_proxy, "http://configured:8080");
  EXPECT_EQ(options.http_proxy, "http://configured:8080");
  EXPECT_EQ(options.no_proxy, std::vector<std::string>{"localhost,.internal"});
}

TEST_F(ProxyOptionsForTest, AConfiguredNoProxyReplacesTheEnvironments) {
  Config config;
  config.no_proxy = {"mirror.internal", "10.0.0.0/8"};
  net::ProxyOptions options = For(config);
  EXPECT_EQ(options.https_proxy, "http://env-proxy:3128");
  EXPECT_EQ(options.no_proxy, (std::vector<std::string>{"mirror.internal", "10.0.0.0/8"}));
}

TEST_F(ProxyOptionsForTest, AnEmptyEnvironmentAndConfigMeanNoProxy) {
  env_.clear();
  net::ProxyOptions options = For(Config{});
  EXPECT_EQ(options.https_proxy, "");
  EXPECT_EQ(options.http_proxy, "");
  EXPECT_TRUE(options.no_proxy.empty());
}

}  // namespace
}  // namespace cistern::cli
