#include "engine/pypi/file_location.h"

#include <array>
#include <span>

#include <fmt/format.h>

#include "engine/pypi/project_name.h"

namespace cistern::engine {
namespace {

constexpr size_t kNameMax = 255;  // Linux NAME_MAX, in bytes
constexpr std::string_view kMetadataSuffix = ".metadata";

bool IsLowerHex(std::string_view text) noexcept {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

// True when `text` is well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF).
bool IsValidUtf8(std::string_view text) noexcept {
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    size_t length = 0;
    uint32_t code_point = 0;
    if (lead < 0x80) {
      ++i;
      continue;
    } else if ((lead & 0xe0) == 0xc0) {
      length = 2;
      code_point = lead & 0x1fu;
    } else if ((lead & 0xf0) == 0xe0) {
      length = 3;
      code_point = lead & 0x0fu;
    } else if ((lead & 0xf8) == 0xf0) {
      length = 4;
      code_point = lead & 0x07u;
    } else {
      return false;
    }
    if (i + length > text.size()) {
      return false;
    }
    for (size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) {
        return false;
      }
      code_point = (code_point << 6) | (next & 0x3fu);
    }
    static constexpr std::array<uint32_t, 5> kMinimum = {0, 0, 0x80, 0x800, 0x10000};
    if (code_point < kMinimum[length] || code_point > 0x10ffff ||
        (code_point >= 0xd800 && code_point <= 0xdfff)) {
      return false;
    }
    i += length;
  }
  return true;
}

Error Invalid(std::string_view filename, std::string_view reason) {
  return MakeError(Errc::kInvalidFile,
                   fmt::format("rejected file name \"{}\": {}", EscapeForMessage(filename), reason),
                   {}, EscapeForMessage(filename));
}

}  // namespace

Result<void> ValidateFilename(std::string_view filename) {
  if (filename.empty()) {
    return tl::make_unexpected(Invalid(filename, "empty"));
  }
  if (filename == "." || filename == "..") {
    return tl::make_unexpected(Invalid(filename, "a relative directory name"));
  }
  if (filename.size() > kNameMax) {
    return tl::make_unexpected(Invalid(filename, "longer than 255 bytes"));
  }
  for (char c : filename) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '/' || c == '\\') {
      return tl::make_unexpected(Invalid(filename, "contains a path separator"));
    }
    if (byte < 0x20 || byte == 0x7f) {
      return tl::make_unexpected(Invalid(filename, "contains a control character"));
    }
  }
  if (filename.front() == '.') {
    return tl::make_unexpected(Invalid(filename, "starts with '.'"));
  }
  if (!IsValidUtf8(filename)) {
    return tl::make_unexpected(Invalid(filename, "not valid UTF-8"));
  }
  return {};
}

Result<store::RelativePath> MirrorPathFor(const net::Url& url, std::string_view filename,
                                          const std::optional<store::Sha256Digest>& sha256) {
  if (auto valid = ValidateFilename(filename); !valid) {
    return tl::make_unexpected(valid.error());
  }
  const std::string_view path = url.path();
  const auto slash = path.rfind('/');
  auto last_segment = net::PercentDecode(path.substr(slash == std::string_view::npos ? 0 : slash + 1));
  if (!last_segment || *last_segment != filename) {
    return tl::make_unexpected(Invalid(
        filename, fmt::format("its URL {} names another file", EscapeForMessage(url.str()))));
  }
  // PyPI layout: /packages/<2>/<2>/<60>/<name> (the 64 hex digits are BLAKE2b-256 of the file).
  // Over http(s) it starts the path; in a local tree (file:), another mirror on a disk, it ends
  // the path below wherever that mirror's web root is.
  std::string directory;
  constexpr std::string_view kPrefix = "/packages/";
  constexpr size_t kLayout = kPrefix.size() + 2 + 1 + 2 + 1 + 60;  // up to the name's slash
  const size_t start = url.is_file() && slash != std::string_view::npos && slash >= kLayout
                           ? slash - kLayout
                           : 0;
  if (path.substr(start).starts_with(kPrefix) && slash == start + kLayout) {
    const std::string_view dirs = path.substr(start + kPrefix.size(), 66);
    if (dirs[2] == '/' && dirs[5] == '/' && IsLowerHex(dirs.substr(0, 2)) &&
        IsLowerHex(dirs.substr(3, 2)) && IsLowerHex(dirs.substr(6, 60))) {
      directory = fmt::format("packages/{}", dirs);
    }
  }
  if (directory.empty()) {
    // Another layout: the same shape, from the declared sha256, or without one (an index that
    // declares md5 only, or nothing) from the URL, so that the path is known before the download
    // and stable across runs; the page then carries the sha256 computed while downloading.
    const std::string url_text = url.str();
    const std::string hex =
        sha256 ? sha256->Hex()
               : store::Sha256Of(std::span<const uint8_t>(
                                     reinterpret_cast<const uint8_t*>(url_text.data()),
                                     url_text.size()))
                     .Hex();
    directory = fmt::format("packages/{}/{}/{}", hex.substr(0, 2), hex.substr(2, 2), hex.substr(4));
  }
  auto relative = store::RelativePath::Parse(directory + "/" + std::string(filename));
  if (!relative) {
    return tl::make_unexpected(Invalid(filename, relative.error().detail));
  }
  return std::move(*relative);
}

Result<store::RelativePath> MetadataPathFor(const store::RelativePath& file) {
  if (file.filename().size() + kMetadataSuffix.size() > kNameMax) {
    return tl::make_unexpected(
        Invalid(file.filename(), "too long to add \".metadata\" within 255 bytes"));
  }
  auto metadata = store::RelativePath::Parse(file.str() + std::string(kMetadataSuffix));
  if (!metadata) {
    return tl::make_unexpected(FromStore(metadata.error()));
  }
  return std::move(*metadata);
}

std::string PageRelativeUrl(const store::RelativePath& path) {
  std::string out = "../..";
  std::string_view rest = path.str();
  while (!rest.empty()) {
    const auto slash = rest.find('/');
    out += '/';
    out += net::PercentEncodePathSegment(rest.substr(0, slash));
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  }
  return out;
}

}  // namespace cistern::engine
