#include "net/url.h"

#include <arpa/inet.h>
#include <charconv>
#include <netinet/in.h>
#include <string>

namespace cistern::net {
namespace {

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
char Upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

int HexValue(char c) {
  if (IsDigit(c)) {
    return c - '0';
  }
  return Lower(c) - 'a' + 10;
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = Lower(c);
  }
  return out;
}

// RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
bool IsScheme(std::string_view s) {
  if (s.empty() || !IsAlpha(s[0])) {
    return false;
  }
  for (char c : s) {
    if (!IsAlpha(c) && !IsDigit(c) && c != '+' && c != '-' && c != '.') {
      return false;
    }
  }
  return true;
}

// The pieces of a URI reference (RFC 3986 Appendix B), undefined parts as nullopt.
struct Parts {
  std::optional<std::string_view> scheme;
  std::optional<std::string_view> authority;
  std::string_view path;
  std::optional<std::string_view> query;
  std::optional<std::string_view> fragment;
};

Parts Split(std::string_view s) {
  Parts parts;
  if (size_t hash = s.find('#'); hash != std::string_view::npos) {
    parts.fragment = s.substr(hash + 1);
    s = s.substr(0, hash);
  }
  if (size_t question = s.find('?'); question != std::string_view::npos) {
    parts.query = s.substr(question + 1);
    s = s.substr(0, question);
  }
  if (size_t colon = s.find(':'); colon != std::string_view::npos) {
    std::string_view candidate = s.substr(0, colon);
    if (candidate.find('/') == std::string_view::npos && IsScheme(candidate)) {
      parts.scheme = candidate;
      s = s.substr(colon + 1);
    }
  }
  if (s.starts_with("//")) {
    s.remove_prefix(2);
    size_t slash = s.find('/');
    parts.authority = s.substr(0, slash);
    s = slash == std::string_view::npos ? std::string_view() : s.substr(slash);
  }
  parts.path = s;
  return parts;
}

// RFC 3986 §5.2.4.
std::string RemoveDotSegments(std::string_view input) {
  std::string output;
  while (!input.empty()) {
    if (input.starts_with("../")) {
      input.remove_prefix(3);
    } else if (input.starts_with("./")) {
      input.remove_prefix(2);
    } else if (input.starts_with("/./")) {
      input.remove_prefix(2);
    } else if (input == "/.") {
      input = "/";
    } else if (input.starts_with("/../") || input == "/..") {
      input = input.size() == 3 ? std::string_view("/") : input.substr(3);
      size_t last = output.rfind('/');
      output.erase(last == std::string::npos ? 0 : last);
    } else if (input == "." || input == "..") {
      input = {};
    } else {
      size_t next = input.find('/', 1);
      if (next == std::string_view::npos) {
        next = input.size();
      }
      output.append(input.substr(0, next));
      input.remove_prefix(next);
    }
  }
  return output;
}

// Checks the characters of a path, query or fragment and upper-cases percent-escapes.
Result<std::string> NormaliseComponent(std::string_view text, std::string_view what) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size() || !IsHex(text[i + 1]) || !IsHex(text[i + 2])) {
        return Fail(Errc::kInvalidUrl, "bad percent-escape in " + std::string(what));
      }
      out += '%';
      out += Upper(text[i + 1]);
      out += Upper(text[i + 2]);
      i += 2;
      continue;
    }
    out += c;
  }
  return out;
}

bool IsRegNameChar(char c) {
  return IsAlpha(c) || IsDigit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

}  // namespace

Result<Url> Url::Parse(std::string_view text, Schemes schemes) {
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f || byte >= 0x80) {
      return Fail(Errc::kInvalidUrl,
                  "URL contains a space, control character or non-ASCII byte (percent-encode it)");
    }
  }
  Parts parts = Split(text);
  if (!parts.scheme) {
    return Fail(Errc::kInvalidUrl, "URL has no scheme");
  }
  Url url;
  url.scheme_ = ToLower(*parts.scheme);
  if (url.scheme_ == "file" && schemes == Schemes::kHttpOrFile) {
    // RFC 8089: "file:///path", "file://localhost/path" and "file:/path" name a local path.
    if (parts.authority && !parts.authority->empty() && ToLower(*parts.authority) != "localhost") {
      return Fail(Errc::kInvalidUrl, "file: URL names host \"" + std::string(*parts.authority) +
                                         "\"; only local paths (file:///path) are read");
    }
    if (!parts.path.starts_with('/')) {
      return Fail(Errc::kInvalidUrl, "file: URL has no absolute path (expected file:///path)");
    }
  } else if (url.scheme_ != "http" && url.scheme_ != "https") {
    return Fail(Errc::kUnsupportedScheme,
                "scheme \"" + url.scheme_ + "\" is not " +
                    (schemes == Schemes::kHttp ? "http or https" : "http, https or file"));
  } else if (!parts.authority) {
    return Fail(Errc::kInvalidUrl, "URL has no authority (expected \"" + url.scheme_ + "://\")");
  }
  std::string_view auth = url.is_file() ? std::string_view() : *parts.authority;
  if (size_t at = auth.rfind('@'); at != std::string_view::npos) {
    url.userinfo_ = std::string(auth.substr(0, at));
    auth.remove_prefix(at + 1);
  }
  std::string_view port_text;
  bool has_port = false;
  if (auth.starts_with('[')) {
    size_t close = auth.find(']');
    if (close == std::string_view::npos) {
      return Fail(Errc::kInvalidUrl, "unterminated IPv6 literal in host");
    }
    std::string literal = ToLower(auth.substr(1, close - 1));
    in6_addr address{};
    if (inet_pton(AF_INET6, literal.c_str(), &address) != 1) {
      return Fail(Errc::kInvalidUrl, "invalid IPv6 literal \"" + literal + "\"");
    }
    url.host_ = std::move(literal);
    url.host_is_ipv6_ = true;
    std::string_view rest = auth.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') {
        return Fail(Errc::kInvalidUrl, "unexpected characters after IPv6 literal");
      }
      has_port = true;
      port_text = rest.substr(1);
    }
  } else if (!url.is_file()) {
    std::string_view host = auth;
    if (size_t colon = auth.find(':'); colon != std::string_view::npos) {
      host = auth.substr(0, colon);
      has_port = true;
      port_text = auth.substr(colon + 1);
    }
    if (host.empty()) {
      return Fail(Errc::kInvalidUrl, "URL has an empty host");
    }
    for (char c : host) {
      if (!IsRegNameChar(c)) {
        return Fail(Errc::kInvalidUrl, "invalid character in host");
      }
    }
    url.host_ = ToLower(host);
  }
  url.port_ = url.is_file() ? 0 : url.scheme_ == "https" ? 443 : 80;
  if (has_port && !port_text.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || value == 0 ||
        value > 65535 || port_text.size() > 5) {
      return Fail(Errc::kInvalidUrl, "invalid port \"" + std::string(port_text) + "\"");
    }
    url.port_ = static_cast<uint16_t>(value);
  }
  auto path = NormaliseComponent(parts.path, "path");
  if (!path) {
    return tl::unexpected(path.error());
  }
  url.path_ = path->empty() ? "/" : RemoveDotSegments(*path);
  if (url.path_.empty()) {
    url.path_ = "/";
  }
  if (parts.query) {
    auto query = NormaliseComponent(*parts.query, "query");
    if (!query) {
      return tl::unexpected(query.error());
    }
    url.query_ = std::move(*query);
  }
  if (parts.fragment) {
    auto fragment = NormaliseComponent(*parts.fragment, "fragment");
    if (!fragment) {
      return tl::unexpected(fragment.error());
    }
    url.fragment_ = std::move(*fragment);
  }
  return url;
}

Result<Url> Url::Resolve(std::string_view reference) const {
  // RFC 3986 §5.2.2, strict: a reference with a scheme is absolute even if it is ours.
  Parts ref = Split(reference);
  std::string scheme;
  std::string target_authority;
  bool has_authority = false;
  std::string path;
  std::optional<std::string_view> query;
  if (ref.scheme) {
    scheme = std::string(*ref.scheme);
    if (ref.authority) {
      has_authority = true;
      target_authority = std::string(*ref.authority);
    }
    path = RemoveDotSegments(ref.path);
    query = ref.query;
  } else {
    scheme = scheme_;
    has_authority = true;
    if (ref.authority) {
      target_authority = std::string(*ref.authority);
      path = RemoveDotSegments(ref.path);
      query = ref.query;
    } else {
      target_authority = userinfo_.empty() ? authority() : userinfo_ + "@" + authority();
      if (ref.path.empty()) {
        path = path_;
        query = ref.query ? ref.query
                          : (query_ ? std::optional<std::string_view>(*query_) : std::nullopt);
      } else {
        if (ref.path.starts_with('/')) {
          path = RemoveDotSegments(ref.path);
        } else {
          // §5.2.3 merge: our path always starts with "/", so drop its last segment.
          std::string merged = path_.substr(0, path_.rfind('/') + 1);
          merged.append(ref.path);
          path = RemoveDotSegments(merged);
        }
        query = ref.query;
      }
    }
  }
  std::string text = scheme + ":";
  if (has_authority) {
    text += "//" + target_authority;
  }
  text += path;
  if (query) {
    text += "?";
    text += *query;
  }
  if (ref.fragment) {
    text += "#";
    text += *ref.fragment;
  }
  return Parse(text, is_file() ? Schemes::kHttpOrFile : Schemes::kHttp);
}

bool Url::has_default_port() const {
  return is_file() || port_ == (scheme_ == "https" ? 443 : 80);
}

std::string Url::authority() const {
  std::string out = host_is_ipv6_ ? "[" + host_ + "]" : host_;
  if (!has_default_port()) {
    out += ":" + std::to_string(port_);
  }
  return out;
}

std::string Url::target() const {
  if (!query_) {
    return path_;
  }
  return path_ + "?" + *query_;
}

std::string Url::origin() const {
  if (is_file()) {
    return "file://";
  }
  std::string host = host_is_ipv6_ ? "[" + host_ + "]" : host_;
  return scheme_ + "://" + host + ":" + std::to_string(port_);
}

std::string Url::str() const { return scheme_ + "://" + authority() + target(); }

std::string PercentEncodePathSegment(std::string_view segment) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(segment.size());
  for (char c : segment) {
    if (IsAlpha(c) || IsDigit(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      auto byte = static_cast<unsigned char>(c);
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0x0f];
    }
  }
  return out;
}

Result<std::string> PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size() || !IsHex(text[i + 1]) || !IsHex(text[i + 2])) {
      return Fail(Errc::kInvalidUrl, "bad percent-escape at offset " + std::to_string(i));
    }
    out += static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2]));
    i += 2;
  }
  return out;
}

}  // namespace cistern::net
