// The values an HTTP exchange is made of, independent of the protocol version: Request,
// ResponseHead, HeaderList, and status helpers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/url.h"

namespace cistern::net {

struct Header {
  std::string name;   // as received or as given; compared case-insensitively
  std::string value;  // without surrounding whitespace
};

// An ordered list of header fields; names may repeat.
class HeaderList {
 public:
  void Add(std::string name, std::string value);
  // The value of the first field named `name` (case-insensitive), if any.
  std::optional<std::string_view> Get(std::string_view name) const;
  // Removes every field named `name` (case-insensitive).
  void Remove(std::string_view name);
  const std::vector<Header>& all() const { return headers_; }

 private:
  std::vector<Header> headers_;
};

// ASCII case-insensitive equality, for header names and tokens.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

struct Request {
  std::string method = "GET";  // GET or HEAD; requests carry no body yet
  Url url;                     // the fragment, if any, is never sent
  // Sent after Host, User-Agent, Accept-Encoding and Connection. A "User-Agent" here replaces
  // ClientOptions::user_agent. Names and values must not contain CR, LF or NUL.
  HeaderList headers;
  // If true, sends "Accept-Encoding: gzip" and inflates a gzip body before the sink sees it.
  bool accept_gzip = true;
  // Waits for a connection (or an HTTP/2 stream) of its origin ahead of every request that is
  // not urgent, so index pages and metadata are not starved behind package files when the
  // origin is at its connection or stream limit. Among urgent requests, first come first served.
  bool urgent = false;
};

struct ResponseHead {
  int status = 0;        // 200, 404, ...
  std::string reason;    // "OK"; may be empty
  HeaderList headers;    // as received, including Content-Encoding even when inflated
  Url url;               // the final URL, after redirects
  std::string protocol;  // "http/1.1"; "h2" later
  // Length of the body as the sink receives it: the Content-Length header, or nullopt when
  // unknown (chunked, close-delimited, or inflated from gzip). For HEAD, the header's value.
  std::optional<uint64_t> content_length;
};

// 301, 302, 303, 307 and 308: the statuses Client::Fetch follows.
constexpr bool IsRedirectStatus(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

}  // namespace cistern::net
