// Proxy settings: which origins are reached through an HTTP proxy and which directly.
//
// Every proxied connection is a CONNECT tunnel (RFC 9110 §9.3.6), for https:// and plain
// http:// origins alike: TLS (with ALPN, so HTTP/2 too) runs end to end inside the tunnel, the
// proxy sees only "CONNECT host:port", and the pool keeps its connections per origin. A proxy
// must therefore allow CONNECT to the origin's port (Squid allows only 443 by default; tinyproxy
// has ConnectPort) for an http:// origin to work through it. Only http:// proxies are supported:
// no TLS to the proxy itself, no SOCKS.
//
// The library never reads the environment on its own (style §17): the tool asks for
// ProxyOptionsFromEnvironment() when its configuration says so.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/error.h"
#include "net/url.h"

namespace cistern::net {

struct ProxyOptions {
  // The proxy for https:// origins, "http://[user:password@]host[:port]" (user and password
  // percent-encoded; port 80 when omitted; "host:port" without a scheme means http://).
  // Credentials are sent as "Proxy-Authorization: Basic". Empty: https:// origins are reached
  // directly.
  std::string https_proxy;
  // The proxy for http:// origins, in the same form; also a CONNECT tunnel. Empty: direct.
  std::string http_proxy;
  // Hosts reached directly even when a proxy is set. Each entry may itself hold several,
  // separated by commas (as NO_PROXY does); blanks around them are ignored. An entry is:
  //   "*"                        every host: no proxy at all
  //   "example.com", ".example.com", "*.example.com"
  //                              that domain and every name under it ("a.example.com")
  //   "127.0.0.1", "::1", "[::1]" that IP address (compared as addresses, not as text)
  //   "10.0.0.0/8", "fd00::/8"   every address in that block
  //   any of the above + ":port" only connections to that port ("[::1]:8443")
  // Names match case-insensitively and only names, never the text of an IP address.
  // Loopback is not exempt unless listed: "localhost" and "127.0.0.1" go through the proxy
  // when they are not in this list.
  std::vector<std::string> no_proxy;
};

// Reads the variables curl, pip and requests use: https_proxy (else HTTPS_PROXY), http_proxy
// (else HTTP_PROXY) and no_proxy (else NO_PROXY; one entry, split at commas later). An empty
// variable counts as unset. ALL_PROXY is not read.
// `getenv` is the lookup, std::getenv in the tool and a table in tests; it returns null for an
// unset variable.
ProxyOptions ProxyOptionsFromEnvironment(const std::function<const char*(const char*)>& getenv);

// One proxy: where to connect and what to send it. Its text form never carries the password.
class ProxyEndpoint {
 public:
  // Parses a proxy URL as ProxyOptions describes it.
  // Errors: Errc::kInvalidUrl (malformed, a path other than "/", a query, a bad
  // percent-escape in the credentials), Errc::kUnsupportedScheme (https://, socks5://, ...).
  // The detail names the URL without its password.
  [[nodiscard]] static Result<ProxyEndpoint> Parse(std::string_view text);

  const std::string& host() const { return url_.host(); }
  uint16_t port() const { return url_.port(); }
  // "http://host:port", for messages and logs (no credentials).
  std::string str() const { return url_.origin(); }
  // The Proxy-Authorization value, "Basic <base64(user:password)>", or empty without
  // credentials. Never log it.
  const std::string& authorization() const { return authorization_; }

 private:
  Url url_;
  std::string authorization_;
};

// The parsed no_proxy list (see ProxyOptions::no_proxy).
class NoProxyList {
 public:
  // Never fails: an entry that is neither an address nor a block is taken as a name.
  static NoProxyList Parse(const std::vector<std::string>& entries);

  // Whether `host` (as Url::host() gives it: lower case, IPv6 without brackets) on `port` is
  // reached directly.
  bool Matches(std::string_view host, uint16_t port) const;

 private:
  struct Entry {
    enum class Kind { kName, kAddress };
    Kind kind = Kind::kName;
    std::string name;  // kName: lower case, no leading "." or "*.", no trailing "."
    std::array<uint8_t, 16> address{};  // kAddress: IPv4 in the first 4 bytes
    bool is_v6 = false;
    unsigned prefix = 0;           // kAddress: leading bits that must match (32 or 128: exact)
    std::optional<uint16_t> port;  // only this port, when given
  };
  std::vector<Entry> entries_;
  bool everything_ = false;
};

// ProxyOptions, checked and parsed: picks the proxy for an origin.
class ProxyRules {
 public:
  // Errors: as ProxyEndpoint::Parse, with "https_proxy" or "http_proxy" in the detail.
  [[nodiscard]] static Result<ProxyRules> Create(const ProxyOptions& options);

  // The proxy to tunnel through to `origin`, or null for a direct connection.
  // Lifetime: the pointer is valid as long as these rules.
  const ProxyEndpoint* For(const Url& origin) const;

  // True when no origin goes through a proxy.
  bool empty() const { return !https_ && !http_; }

 private:
  std::optional<ProxyEndpoint> https_;
  std::optional<ProxyEndpoint> http_;
  NoProxyList no_proxy_;
};

}  // namespace cistern::net
