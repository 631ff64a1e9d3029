#include "store/relative_path.h"

#include <cstdint>
#include <utility>

namespace cistern::store {
namespace {

// Returns the length of the valid UTF-8 sequence starting at `text[i]`, or 0 if invalid.
// RFC 3629 §4: no overlong forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF.
size_t Utf8SequenceLength(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(text[k]); };
  const uint8_t lead = byte(i);
  if (lead < 0x80) {
    return 1;
  }
  size_t length = 0;
  uint8_t min_second = 0x80;
  uint8_t max_second = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead == 0xe0) {
      min_second = 0xa0;  // overlong
    } else if (lead == 0xed) {
      max_second = 0x9f;  // surrogates
    }
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead == 0xf0) {
      min_second = 0x90;  // overlong
    } else if (lead == 0xf4) {
      max_second = 0x8f;  // above U+10FFFF
    }
  } else {
    return 0;  // continuation byte as lead, 0xc0/0xc1 (overlong), 0xf5..0xff
  }
  if (i + length > text.size()) {
    return 0;
  }
  if (byte(i + 1) < min_second || byte(i + 1) > max_second) {
    return 0;
  }
  for (size_t k = 2; k < length; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xbf) {
      return 0;
    }
  }
  return length;
}

Error Invalid(std::string_view text, std::string_view reason) {
  return MakeError(Errc::kInvalidPath, "invalid relative path \"" + EscapeForMessage(text) +
                                           "\": " + std::string(reason));
}

// Checks one segment (no '/' inside). Returns the reason it is invalid, or an empty string.
std::string CheckSegment(std::string_view segment) {
  if (segment.empty()) {
    return "empty segment";
  }
  if (segment == "." || segment == "..") {
    return "segment \"" + std::string(segment) + "\" is not allowed";
  }
  if (segment.front() == '.') {
    return "segment \"" + EscapeForMessage(segment) +
           "\" starts with '.' (reserved for the tree's own files)";
  }
  if (segment.size() > RelativePath::kMaxSegmentBytes) {
    return "segment of " + std::to_string(segment.size()) + " bytes exceeds " +
           std::to_string(RelativePath::kMaxSegmentBytes);
  }
  return {};
}

// Checks the bytes of `text`: no control characters, DEL or backslash, valid UTF-8.
std::string CheckBytes(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<uint8_t>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      return "control character " + EscapeForMessage(text.substr(i, 1)) + " at byte " +
             std::to_string(i);
    }
    if (c == '\\') {
      return "backslash at byte " + std::to_string(i);
    }
    const size_t length = Utf8SequenceLength(text, i);
    if (length == 0) {
      return "invalid UTF-8 at byte " + std::to_string(i);
    }
    i += length;
  }
  return {};
}

}  // namespace

Result<RelativePath> RelativePath::Parse(std::string_view text) {
  if (text.empty()) {
    return tl::unexpected(Invalid(text, "empty path"));
  }
  if (text.size() > kMaxPathBytes) {
    // Quote only the start: the message should stay readable.
    return tl::unexpected(
        Invalid(text.substr(0, 64), "(truncated) path of " + std::to_string(text.size()) +
                                        " bytes exceeds " + std::to_string(kMaxPathBytes)));
  }
  if (text.front() == '/') {
    return tl::unexpected(Invalid(text, "absolute path"));
  }
  if (std::string reason = CheckBytes(text); !reason.empty()) {
    return tl::unexpected(Invalid(text, reason));
  }
  size_t start = 0;
  while (true) {
    const size_t slash = text.find('/', start);
    const std::string_view segment = text.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (std::string reason = CheckSegment(segment); !reason.empty()) {
      return tl::unexpected(Invalid(text, reason));
    }
    if (slash == std::string_view::npos) {
      break;
    }
    start = slash + 1;
  }
  return RelativePath(std::string(text));
}

std::string_view RelativePath::filename() const {
  const std::string_view path = path_;
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::optional<RelativePath> RelativePath::parent() const {
  const size_t slash = path_.rfind('/');
  if (slash == std::string::npos) {
    return std::nullopt;
  }
  // A prefix of a valid path ending at a segment boundary is itself valid.
  return RelativePath(path_.substr(0, slash));
}

std::vector<std::string_view> RelativePath::segments() const {
  std::vector<std::string_view> out;
  const std::string_view path = path_;
  size_t start = 0;
  while (true) {
    const size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(path.substr(start));
      return out;
    }
    out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
}

Result<RelativePath> RelativePath::Child(std::string_view segment) const {
  if (segment.find('/') != std::string_view::npos) {
    return tl::unexpected(Invalid(segment, "segment contains '/'"));
  }
  return Parse(path_ + "/" + std::string(segment));
}

}  // namespace cistern::store
