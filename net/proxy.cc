#include "net/proxy.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include "net/asio.h"

namespace cistern::net {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

// The URL text with any "user:password@" cut out, for messages.
std::string Redact(std::string_view text) {
  size_t start = text.find("://");
  start = start == std::string_view::npos ? 0 : start + 3;
  size_t end = text.find_first_of("/?#", start);
  std::string_view authority =
      text.substr(start, end == std::string_view::npos ? end : end - start);
  size_t at = authority.rfind('@');
  if (at == std::string_view::npos) {
    return std::string(text);
  }
  return std::string(text.substr(0, start)) + "***@" + std::string(text.substr(start + at + 1));
}

std::string Base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t n = uint32_t{static_cast<uint8_t>(in[i])} << 16 |
                 uint32_t{static_cast<uint8_t>(in[i + 1])} << 8 | static_cast<uint8_t>(in[i + 2]);
    out += kAlphabet[n >> 18 & 63];
    out += kAlphabet[n >> 12 & 63];
    out += kAlphabet[n >> 6 & 63];
    out += kAlphabet[n & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t n = uint32_t{static_cast<uint8_t>(in[i])} << 16;
    out += kAlphabet[n >> 18 & 63];
    out += kAlphabet[n >> 12 & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t n = uint32_t{static_cast<uint8_t>(in[i])} << 16 |
                 uint32_t{static_cast<uint8_t>(in[i + 1])} << 8;
    out += kAlphabet[n >> 18 & 63];
    out += kAlphabet[n >> 12 & 63];
    out += kAlphabet[n >> 6 & 63];
    out += '=';
  }
  return out;
}

std::optional<uint16_t> ParsePort(std::string_view text) {
  if (text.empty() || text.size() > 5) {
    return std::nullopt;
  }
  uint32_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (value == 0 || value > 65535) {
    return std::nullopt;
  }
  return static_cast<uint16_t>(value);
}

struct Address {
  std::array<uint8_t, 16> bytes{};
  bool is_v6 = false;
};

std::optional<Address> ParseAddress(std::string_view text) {
  std::error_code ec;
  asio::ip::address address = asio::ip::make_address(std::string(text), ec);
  if (ec) {
    return std::nullopt;
  }
  Address out;
  if (address.is_v4()) {
    auto bytes = address.to_v4().to_bytes();
    std::copy(bytes.begin(), bytes.end(), out.bytes.begin());
  } else {
    auto bytes = address.to_v6().to_bytes();
    std::copy(bytes.begin(), bytes.end(), out.bytes.begin());
    out.is_v6 = true;
  }
  return out;
}

bool SamePrefix(const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& b, unsigned bits) {
  size_t whole = bits / 8;
  if (!std::equal(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(whole), b.begin())) {
    return false;
  }
  unsigned rest = bits % 8;
  if (rest == 0) {
    return true;
  }
  auto mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

}  // namespace

ProxyOptions ProxyOptionsFromEnvironment(const std::function<const char*(const char*)>& getenv) {
  auto read = [&getenv](const char* lower, const char* upper) {
    for (const char* name : {lower, upper}) {
      const char* value = getenv(name);
      if (value != nullptr && *value != '\0') {
        return std::string(value);
      }
    }
    return std::string();
  };
  ProxyOptions options;
  options.https_proxy = read("https_proxy", "HTTPS_PROXY");
  options.http_proxy = read("http_proxy", "HTTP_PROXY");
  std::string no_proxy = read("no_proxy", "NO_PROXY");
  if (!no_proxy.empty()) {
    options.no_proxy.push_back(std::move(no_proxy));
  }
  return options;
}

Result<ProxyEndpoint> ProxyEndpoint::Parse(std::string_view text) {
  text = Trim(text);
  std::string shown = "proxy " + Redact(text);
  std::string full(text);
  size_t scheme_end = full.find("://");
  if (scheme_end == std::string::npos) {
    full = "http://" + full;  // "host:port", as environment variables often say
  } else if (Lower(full.substr(0, scheme_end)) != "http") {
    return Fail(Errc::kUnsupportedScheme,
                shown + ": only http:// proxies are supported (no TLS to the proxy, no SOCKS)");
  }
  auto url = Url::Parse(full);
  if (!url) {
    return tl::unexpected(WithContext(std::move(url.error()), shown));
  }
  if (url->path() != "/" || url->has_query()) {
    return Fail(Errc::kInvalidUrl, shown + ": a proxy URL has no path or query");
  }
  ProxyEndpoint endpoint;
  if (!url->userinfo().empty()) {
    std::string_view userinfo = url->userinfo();
    size_t colon = userinfo.find(':');
    auto user = PercentDecode(userinfo.substr(0, colon));
    auto password = PercentDecode(colon == std::string_view::npos ? std::string_view()
                                                                  : userinfo.substr(colon + 1));
    if (!user || !password) {
      return Fail(Errc::kInvalidUrl, shown + ": bad percent-escape in the credentials");
    }
    endpoint.authorization_ = "Basic " + Base64(*user + ":" + *password);
  }
  endpoint.url_ = std::move(*url);
  return endpoint;
}

NoProxyList NoProxyList::Parse(const std::vector<std::string>& entries) {
  NoProxyList list;
  for (const std::string& joined : entries) {
    std::string_view rest = joined;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      std::string text = Lower(Trim(rest.substr(0, comma)));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      if (text.empty()) {
        continue;
      }
      if (text == "*") {
        list.everything_ = true;
        continue;
      }
      Entry entry;
      std::string host = text;
      if (text.front() == '[') {
        size_t close = text.find(']');
        if (close != std::string::npos) {
          host = text.substr(1, close - 1);
          std::string_view after = std::string_view(text).substr(close + 1);
          if (after.size() > 1 && after.front() == ':') {
            entry.port = ParsePort(after.substr(1));
          }
        }
      } else if (std::count(text.begin(), text.end(), ':') == 1) {
        size_t colon = text.find(':');
        if (auto port = ParsePort(std::string_view(text).substr(colon + 1))) {
          entry.port = port;
          host = text.substr(0, colon);
        }
      }
      size_t slash = host.find('/');
      std::optional<unsigned> prefix;
      std::string address_text = host;
      if (slash != std::string::npos) {
        address_text = host.substr(0, slash);
        std::string_view bits = std::string_view(host).substr(slash + 1);
        if (!bits.empty() && bits.size() <= 3 &&
            std::all_of(bits.begin(), bits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
          unsigned value = 0;
          for (char c : bits) {
            value = value * 10 + static_cast<unsigned>(c - '0');
          }
          prefix = value;
        }
      }
      if (auto address = ParseAddress(address_text);
          address && (slash == std::string::npos || prefix)) {
        unsigned width = address->is_v6 ? 128 : 32;
        if (!prefix || *prefix <= width) {
          entry.kind = Entry::Kind::kAddress;
          entry.address = address->bytes;
          entry.is_v6 = address->is_v6;
          entry.prefix = prefix.value_or(width);
          list.entries_.push_back(std::move(entry));
          continue;
        }
      }
      std::string_view name = host;
      if (name.starts_with("*.")) {
        name.remove_prefix(2);
      }
      while (name.starts_with('.')) {
        name.remove_prefix(1);
      }
      while (name.ends_with('.')) {
        name.remove_suffix(1);
      }
      if (name.empty()) {
        continue;
      }
      entry.kind = Entry::Kind::kName;
      entry.name = std::string(name);
      list.entries_.push_back(std::move(entry));
    }
  }
  return list;
}

bool NoProxyList::Matches(std::string_view host, uint16_t port) const {
  if (everything_) {
    return true;
  }
  std::optional<Address> address = ParseAddress(host);
  std::string name = Lower(host);
  while (!name.empty() && name.back() == '.') {
    name.pop_back();
  }
  for (const Entry& entry : entries_) {
    if (entry.port && *entry.port != port) {
      continue;
    }
    if (entry.kind == Entry::Kind::kAddress) {
      if (address && address->is_v6 == entry.is_v6 &&
          SamePrefix(address->bytes, entry.address, entry.prefix)) {
        return true;
      }
      continue;
    }
    if (address) {
      continue;  // names never match an address's text
    }
    if (name == entry.name || (name.size() > entry.name.size() && name.ends_with(entry.name) &&
                               name[name.size() - entry.name.size() - 1] == '.')) {
      return true;
    }
  }
  return false;
}

Result<ProxyRules> ProxyRules::Create(const ProxyOptions& options) {
  ProxyRules rules;
  if (!options.https_proxy.empty()) {
    auto endpoint = ProxyEndpoint::Parse(options.https_proxy);
    if (!endpoint) {
      return tl::unexpected(WithContext(std::move(endpoint.error()), "https_proxy"));
    }
    rules.https_ = std::move(*endpoint);
  }
  if (!options.http_proxy.empty()) {
    auto endpoint = ProxyEndpoint::Parse(options.http_proxy);
    if (!endpoint) {
      return tl::unexpected(WithContext(std::move(endpoint.error()), "http_proxy"));
    }
    rules.http_ = std::move(*endpoint);
  }
  rules.no_proxy_ = NoProxyList::Parse(options.no_proxy);
  return rules;
}

const ProxyEndpoint* ProxyRules::For(const Url& origin) const {
  const std::optional<ProxyEndpoint>& proxy = origin.is_https() ? https_ : http_;
  if (!proxy || no_proxy_.Matches(origin.host(), origin.port())) {
    return nullptr;
  }
  return &*proxy;
}

}  // namespace cistern::net
