// The CONNECT exchange with an HTTP proxy (RFC 9110 §9.3.6), without I/O: the request bytes,
// and a small strict reader for the proxy's answer (status line and header fields, bounded).
// The dialer (net/dialer.cc) moves the bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "net/error.h"
#include "net/http_message.h"

namespace cistern::net {

// "CONNECT host:port HTTP/1.1" with Host, User-Agent and, when `authorization` is not empty,
// Proxy-Authorization. `authority` is "host:port" with an IPv6 host in brackets.
// Requires: no CR, LF or NUL in the arguments (they come from a parsed Url and ProxyEndpoint).
std::string SerializeConnectRequest(std::string_view authority, std::string_view user_agent,
                                    std::string_view authorization);

// Reads a proxy's answer to CONNECT:
//   status-line = "HTTP/1." DIGIT SP 3DIGIT [ SP reason-phrase ] CRLF
//   field-line  = token ":" OWS value OWS CRLF        (no obs-fold, no bare LF, no NUL)
// then an empty line. The whole head may be at most kMaxHeadSize bytes. Whatever follows the
// head is not read (for a 2xx it is the tunnel; for another status, a body nobody needs).
class ConnectResponseReader {
 public:
  static constexpr size_t kMaxHeadSize = 16 * 1024;

  // Takes bytes until the head is complete. Returns how many of `bytes` belong to the head:
  // all of them while it is incomplete, fewer once its empty line was seen.
  // Errors: Errc::kProtocol naming the problem (not HTTP/1.x, a malformed status line or
  // field line, a head over kMaxHeadSize). Requires: !done().
  [[nodiscard]] Result<size_t> Feed(std::span<const uint8_t> bytes);

  bool done() const { return done_; }
  // Valid once done().
  int status() const { return status_; }
  const std::string& reason() const { return reason_; }
  const HeaderList& headers() const { return headers_; }

 private:
  [[nodiscard]] Result<void> ParseHead();

  std::string head_;  // bytes received so far, up to and including the empty line
  bool done_ = false;
  int status_ = 0;
  std::string reason_;
  HeaderList headers_;
};

}  // namespace cistern::net
