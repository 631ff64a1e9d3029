// ByteRange and ContentRange: the `Range: bytes=...` a client sends to resume a download and the
// `Content-Range` a 206 or 416 response answers with (RFC 9110 §14). Plain values and parsers,
// no I/O; the types cross into engine/, which decides what to resume.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "net/error.h"

namespace cistern::net {

// One byte range of a representation, as a request asks for it: bytes first..last (inclusive),
// or first..end when `last` is nullopt.
struct ByteRange {
  uint64_t first = 0;
  std::optional<uint64_t> last;

  // The Range header value: "bytes=100-" or "bytes=100-199".
  std::string HeaderValue() const;
};

// A parsed Content-Range header value.
//   "bytes 100-199/1000"  satisfied, first 100, last 199, complete_length 1000
//   "bytes 100-199/*"     satisfied, complete length unknown
//   "bytes */1000"        unsatisfied (the header of a 416), complete_length 1000
struct ContentRange {
  bool satisfied = false;
  uint64_t first = 0;  // meaningful when satisfied
  uint64_t last = 0;   // inclusive; meaningful when satisfied
  std::optional<uint64_t> complete_length;

  // last - first + 1 when satisfied, else 0.
  uint64_t length() const { return satisfied ? last - first + 1 : 0; }
};

// Parses a Content-Range value (unit "bytes", case-insensitive; surrounding spaces allowed).
// Errors: Errc::kProtocol for another unit, a malformed value, last < first, a last byte at or
// beyond a known complete length, or numbers that overflow 64 bits.
[[nodiscard]] Result<ContentRange> ParseContentRange(std::string_view value);

}  // namespace cistern::net
