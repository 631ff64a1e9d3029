// The request-side syntax checks both HTTP codecs apply before a header reaches the wire.
// Internal to net/.
#pragma once

#include <string_view>

namespace cistern::net::internal {

// RFC 9110 §5.6.2: token = 1*tchar
inline bool IsToken(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) {
      return false;
    }
  }
  return true;
}

// A field value we are willing to send: no CR, LF or NUL (RFC 9110 §5.5).
inline bool IsFieldValue(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

}  // namespace cistern::net::internal
