// Url: an absolute http or https URL, parsed, normalised and validated; the type through which
// every address enters net/ (and crosses into engine/). Also percent-encoding helpers.
//
// `file:` URLs (RFC 8089: "file:///srv/pypi/simple/", host empty or "localhost") exist only where
// asked for: Parse with Schemes::kHttpOrFile (a file:// upstream), and Resolve against a file:
// URL (its pages' relative links). A page fetched over http(s) can never make cistern read a
// local file: resolving against it yields http(s) URLs only. net::Client refuses file: URLs.
//
// Normalisation: scheme and host are lower-cased, the default port is filled in, an empty path
// becomes "/", dot segments are removed (RFC 3986 §5.2.4) and percent-escapes use upper-case hex.
// Raw bytes >= 0x80, spaces and control characters are rejected: PyPI's edge answers 400 to raw
// non-ASCII, so callers percent-encode first (PercentEncodePathSegment).
// Userinfo ("user:password@") is accepted and kept in userinfo(), but never appears in str(),
// origin() or target(), so a logged URL never carries a password. It is not sent anywhere.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "net/error.h"

namespace cistern::net {

enum class Schemes { kHttp, kHttpOrFile };

class Url {
 public:
  // Parses an absolute http or https URL, or with kHttpOrFile also a file: URL.
  // Errors: Errc::kInvalidUrl (no scheme, no authority, empty or malformed host, bad port, bad
  // percent-escape, space, control character or byte >= 0x80, a file: URL naming another host),
  // Errc::kUnsupportedScheme.
  [[nodiscard]] static Result<Url> Parse(std::string_view text, Schemes schemes = Schemes::kHttp);

  // Resolves `reference` (absolute, "//host/...", "/path", "rel/path", "?query", "#frag") against
  // this URL as RFC 3986 §5.2 says, then validates the result as Parse does: file: results only
  // against a file: URL.
  // Errors: as Parse.
  [[nodiscard]] Result<Url> Resolve(std::string_view reference) const;

  const std::string& scheme() const { return scheme_; }  // "http", "https" or "file"
  // Host without brackets: "pypi.org", "127.0.0.1", "::1". What the resolver and TLS see.
  // Empty for a file: URL.
  const std::string& host() const { return host_; }
  uint16_t port() const { return port_; }            // explicit, or 80 / 443; 0 for file:
  const std::string& path() const { return path_; }  // starts with "/"; still percent-encoded
  std::string_view query() const { return query_ ? std::string_view(*query_) : ""; }
  bool has_query() const { return query_.has_value(); }
  std::string_view fragment() const { return fragment_ ? std::string_view(*fragment_) : ""; }
  bool has_fragment() const { return fragment_.has_value(); }
  std::string_view userinfo() const { return userinfo_; }  // never logged, never sent

  bool is_https() const { return scheme_ == "https"; }
  bool is_file() const { return scheme_ == "file"; }
  bool has_default_port() const;
  // "host", "[::1]", or with ":port" when the port is not the scheme's default (the Host header).
  std::string authority() const;
  // path + "?query": the request target of an HTTP/1.1 request line.
  std::string target() const;
  // "https://host:443": scheme, host and port, always with the port; "file://" for file:.
  std::string origin() const;
  // The URL without userinfo and fragment, default port omitted: "https://pypi.org/simple/".
  std::string str() const;

  friend bool operator==(const Url&, const Url&) = default;

  // An empty placeholder (str() is "://"), to be assigned a parsed Url.
  Url() = default;

 private:
  std::string scheme_;
  std::string userinfo_;
  std::string host_;
  uint16_t port_ = 0;
  bool host_is_ipv6_ = false;
  std::string path_;
  std::optional<std::string> query_;
  std::optional<std::string> fragment_;
};

// Percent-encodes one path segment: keeps RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~)
// and encodes every other byte as %XX with upper-case hex ("a+b c/é" -> "a%2Bb%20c%2F%C3%A9").
std::string PercentEncodePathSegment(std::string_view segment);

// Decodes %XX escapes. "+" stays "+" (this is not form decoding).
// Errors: Errc::kInvalidUrl when a "%" is not followed by two hex digits.
[[nodiscard]] Result<std::string> PercentDecode(std::string_view text);

}  // namespace cistern::net
