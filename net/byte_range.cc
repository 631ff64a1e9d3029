#include "net/byte_range.h"

#include <charconv>

#include "net/http_message.h"

namespace cistern::net {
namespace {

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

// A non-empty run of decimal digits, all of `text`.
std::optional<uint64_t> ParseDecimal(std::string_view text) {
  if (text.empty() || text.front() < '0' || text.front() > '9') {
    return std::nullopt;
  }
  uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

tl::unexpected<Error> Malformed(std::string_view value) {
  return Fail(Errc::kProtocol, "malformed Content-Range \"" + std::string(value) + "\"");
}

}  // namespace

std::string ByteRange::HeaderValue() const {
  std::string value = "bytes=" + std::to_string(first) + "-";
  if (last) {
    value += std::to_string(*last);
  }
  return value;
}

Result<ContentRange> ParseContentRange(std::string_view value) {
  const std::string_view text = Trim(value);
  const size_t space = text.find(' ');
  if (space == std::string_view::npos || !EqualsIgnoreCase(text.substr(0, space), "bytes")) {
    return Malformed(value);
  }
  const std::string_view spec = Trim(text.substr(space + 1));
  const size_t slash = spec.find('/');
  if (slash == std::string_view::npos) {
    return Malformed(value);
  }
  const std::string_view range = spec.substr(0, slash);
  const std::string_view length = spec.substr(slash + 1);
  ContentRange parsed;
  if (length != "*") {
    parsed.complete_length = ParseDecimal(length);
    if (!parsed.complete_length) {
      return Malformed(value);
    }
  }
  if (range == "*") {
    if (!parsed.complete_length) {
      return Malformed(value);  // "bytes */*" says nothing
    }
    return parsed;
  }
  const size_t dash = range.find('-');
  if (dash == std::string_view::npos) {
    return Malformed(value);
  }
  const auto first = ParseDecimal(range.substr(0, dash));
  const auto last = ParseDecimal(range.substr(dash + 1));
  if (!first || !last || *last < *first ||
      (parsed.complete_length && *last >= *parsed.complete_length)) {
    return Malformed(value);
  }
  parsed.satisfied = true;
  parsed.first = *first;
  parsed.last = *last;
  return parsed;
}

}  // namespace cistern::net
