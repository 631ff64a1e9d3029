// Proxy settings without I/O: proxy URLs, the no_proxy list, the environment and the choice
// of a proxy per origin.
#include "net/proxy.h"

#include <map>
#include <string>

#include <gtest/gtest.h>

namespace cistern::net {
namespace {

Url U(const std::string& text) { return *Url::Parse(text); }

TEST(ProxyEndpointTest, ParsesHostAndPortAndRedactsNothingWithoutCredentials) {
  auto proxy = ProxyEndpoint::Parse("http://proxy.example:3128");
  ASSERT_TRUE(proxy.has_value()) << proxy.error().message();
  EXPECT_EQ(proxy->host(), "proxy.example");
  EXPECT_EQ(proxy->port(), 3128);
  EXPECT_EQ(proxy->str(), "http://proxy.example:3128");
  EXPECT_EQ(proxy->authorization(), "");
}

TEST(ProxyEndpointTest, TakesAHostAndPortWithoutSchemeAsHttpAndDefaultsToPort80) {
  auto bare = ProxyEndpoint::Parse(" 10.0.0.1:8080 ");
  ASSERT_TRUE(bare.has_value()) << bare.error().message();
  EXPECT_EQ(bare->str(), "http://10.0.0.1:8080");
  auto no_port = ProxyEndpoint::Parse("http://proxy.example/");
  ASSERT_TRUE(no_port.has_value()) << no_port.error().message();
  EXPECT_EQ(no_port->port(), 80);
  auto v6 = ProxyEndpoint::Parse("http://[::1]:3128");
  ASSERT_TRUE(v6.has_value()) << v6.error().message();
  EXPECT_EQ(v6->host(), "::1");
  EXPECT_EQ(v6->str(), "http://[::1]:3128");
}

TEST(ProxyEndpointTest, CredentialsBecomeBasicAuthorizationAndStayOutOfItsText) {
  // RFC 7617 §2's example: "Aladdin:open sesame".
  auto proxy = ProxyEndpoint::Parse("http://Aladdin:open%20sesame@proxy.example:3128");
  ASSERT_TRUE(proxy.has_value()) << proxy.error().message();
  EXPECT_EQ(proxy->authorization(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
  EXPECT_EQ(proxy->str(), "http://proxy.example:3128");
  auto user_only = ProxyEndpoint::Parse("http://ab@proxy.example:3128");
  ASSERT_TRUE(user_only.has_value());
  EXPECT_EQ(user_only->authorization(), "Basic YWI6");  // "ab:"
}

TEST(ProxyEndpointTest, RefusesOtherSchemesAndNeverShowsThePassword) {
  auto https = ProxyEndpoint::Parse("https://user:secret@proxy.example:3128");
  ASSERT_FALSE(https.has_value());
  EXPECT_EQ(https.error().code, make_error_code(Errc::kUnsupportedScheme));
  EXPECT_EQ(https.error().message().find("secret"), std::string::npos) << https.error().message();
  EXPECT_NE(https.error().message().find("https://***@proxy.example:3128"), std::string::npos)
      << https.error().message();
  auto socks = ProxyEndpoint::Parse("socks5://proxy.example:1080");
  ASSERT_FALSE(socks.has_value());
  EXPECT_EQ(socks.error().code, make_error_code(Errc::kUnsupportedScheme));
}

TEST(ProxyEndpointTest, RefusesMalformedUrlsWithoutShowingThePassword) {
  for (const char* text : {"http://user:secret@proxy.example:99999", "http://user:secret@/",
                           "http://proxy.example:3128/path", "http://proxy.example:3128/?q",
                           "http://us%zzer:secret@proxy.example:3128", ""}) {
    SCOPED_TRACE(text);
    auto proxy = ProxyEndpoint::Parse(text);
    ASSERT_FALSE(proxy.has_value());
    EXPECT_EQ(proxy.error().code, make_error_code(Errc::kInvalidUrl)) << proxy.error().message();
    EXPECT_EQ(proxy.error().message().find("secret"), std::string::npos) << proxy.error().message();
  }
}

TEST(NoProxyListTest, ANameMatchesItselfAndItsSubdomainsOnly) {
  for (const char* entry : {"example.com", ".example.com", "*.example.com", "EXAMPLE.com."}) {
    SCOPED_TRACE(entry);
    NoProxyList list = NoProxyList::Parse({entry});
    EXPECT_TRUE(list.Matches("example.com", 443));
    EXPECT_TRUE(list.Matches("files.example.com", 443));
    EXPECT_TRUE(list.Matches("a.b.example.com.", 80));
    EXPECT_FALSE(list.Matches("badexample.com", 443));
    EXPECT_FALSE(list.Matches("example.com.evil", 443));
    EXPECT_FALSE(list.Matches("com", 443));
  }
}

TEST(NoProxyListTest, SplitsAtCommasAndIgnoresBlanksAndEmptyEntries) {
  NoProxyList list = NoProxyList::Parse({" a.example , ,b.example,", "c.example"});
  EXPECT_TRUE(list.Matches("a.example", 443));
  EXPECT_TRUE(list.Matches("b.example", 443));
  EXPECT_TRUE(list.Matches("c.example", 443));
  EXPECT_FALSE(list.Matches("d.example", 443));
  EXPECT_FALSE(NoProxyList::Parse({}).Matches("a.example", 443));
}

TEST(NoProxyListTest, AStarAloneMatchesEverything) {
  NoProxyList list = NoProxyList::Parse({"x.example,*"});
  EXPECT_TRUE(list.Matches("pypi.org", 443));
  EXPECT_TRUE(list.Matches("10.1.2.3", 80));
}

TEST(NoProxyListTest, AddressesMatchAsAddressesNotAsText) {
  NoProxyList list = NoProxyList::Parse({"127.0.0.1,::1"});
  EXPECT_TRUE(list.Matches("127.0.0.1", 443));
  EXPECT_TRUE(list.Matches("::1", 443));
  EXPECT_TRUE(list.Matches("0:0:0:0:0:0:0:1", 443));
  EXPECT_FALSE(list.Matches("127.0.0.2", 443));
  // Loopback is not exempt unless listed.
  EXPECT_FALSE(list.Matches("localhost", 443));
  // A name entry never matches an address by suffix.
  EXPECT_FALSE(NoProxyList::Parse({"0.0.1"}).Matches("127.0.0.1", 443));
  EXPECT_FALSE(NoProxyList::Parse({}).Matches("127.0.0.1", 443));
}

TEST(NoProxyListTest, AddressBlocksMatchEveryAddressInside) {
  NoProxyList list = NoProxyList::Parse({"10.0.0.0/8, 192.168.1.0/25, fd00::/8"});
  EXPECT_TRUE(list.Matches("10.200.3.4", 443));
  EXPECT_TRUE(list.Matches("192.168.1.127", 443));
  EXPECT_FALSE(list.Matches("192.168.1.128", 443));
  EXPECT_FALSE(list.Matches("11.0.0.1", 443));
  EXPECT_TRUE(list.Matches("fd12::1", 443));
  EXPECT_FALSE(list.Matches("fe80::1", 443));
  // A block too wide for its family is not an address entry.
  EXPECT_FALSE(NoProxyList::Parse({"10.0.0.0/33"}).Matches("10.0.0.1", 443));
}

TEST(NoProxyListTest, APortLimitsTheEntryToThatPort) {
  NoProxyList list = NoProxyList::Parse({"internal.example:8443, 127.0.0.1:8080, [::1]:9000"});
  EXPECT_TRUE(list.Matches("internal.example", 8443));
  EXPECT_TRUE(list.Matches("a.internal.example", 8443));
  EXPECT_FALSE(list.Matches("internal.example", 443));
  EXPECT_TRUE(list.Matches("127.0.0.1", 8080));
  EXPECT_FALSE(list.Matches("127.0.0.1", 443));
  EXPECT_TRUE(list.Matches("::1", 9000));
  EXPECT_FALSE(list.Matches("::1", 443));
  EXPECT_TRUE(NoProxyList::Parse({"[::1]"}).Matches("::1", 443));
}

TEST(ProxyOptionsFromEnvironmentTest, ReadsLowerCaseFirstThenUpperCaseAndSkipsEmptyValues) {
  std::map<std::string, std::string> env = {
      {"https_proxy", "http://lower:3128"},
      {"HTTPS_PROXY", "http://upper:3128"},
      {"http_proxy", ""},
      {"HTTP_PROXY", "http://plain:3128"},
      {"NO_PROXY", "localhost,.internal"},
  };
  ProxyOptions options = ProxyOptionsFromEnvironment([&env](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
  EXPECT_EQ(options.https_proxy, "http://lower:3128");
  EXPECT_EQ(options.http_proxy, "http://plain:3128");
  ASSERT_EQ(options.no_proxy.size(), 1u);
  EXPECT_EQ(options.no_proxy[0], "localhost,.internal");
}

TEST(ProxyOptionsFromEnvironmentTest, AnEmptyEnvironmentMeansNoProxy) {
  ProxyOptions options = ProxyOptionsFromEnvironment([](const char*) { return nullptr; });
  EXPECT_EQ(options.https_proxy, "");
  EXPECT_EQ(options.http_proxy, "");
  EXPECT_TRUE(options.no_proxy.empty());
  auto rules = ProxyRules::Create(options);
  ASSERT_TRUE(rules.has_value());
  EXPECT_TRUE(rules->empty());
}

TEST(ProxyRulesTest, PicksTheProxyByTheOriginsSchemeUnlessNoProxyMatches) {
  ProxyOptions options;
  options.https_proxy = "http://secure-proxy:3128";
  options.http_proxy = "http://plain-proxy:3128";
  options.no_proxy = {"mirror.internal"};
  auto rules = ProxyRules::Create(options);
  ASSERT_TRUE(rules.has_value()) << rules.error().message();
  EXPECT_FALSE(rules->empty());
  const ProxyEndpoint* https = rules->For(U("https://pypi.org/simple/"));
  ASSERT_NE(https, nullptr);
  EXPECT_EQ(https->host(), "secure-proxy");
  const ProxyEndpoint* http = rules->For(U("http://pypi.org/simple/"));
  ASSERT_NE(http, nullptr);
  EXPECT_EQ(http->host(), "plain-proxy");
  EXPECT_EQ(rules->For(U("https://mirror.internal/simple/")), nullptr);
}

TEST(ProxyRulesTest, AnOriginWhoseSchemeHasNoProxyIsDirect) {
  ProxyOptions options;
  options.https_proxy = "http://secure-proxy:3128";
  auto rules = ProxyRules::Create(options);
  ASSERT_TRUE(rules.has_value());
  EXPECT_NE(rules->For(U("https://pypi.org/")), nullptr);
  EXPECT_EQ(rules->For(U("http://pypi.org/")), nullptr);
}

TEST(ProxyRulesTest, ABadProxyUrlNamesTheSetting) {
  ProxyOptions options;
  options.http_proxy = "ftp://proxy:21";
  auto rules = ProxyRules::Create(options);
  ASSERT_FALSE(rules.has_value());
  EXPECT_EQ(rules.error().code, make_error_code(Errc::kUnsupportedScheme));
  EXPECT_TRUE(rules.error().detail.starts_with("http_proxy: proxy ftp://proxy:21"))
      << rules.error().detail;
}

}  // namespace
}  // namespace cistern::net
