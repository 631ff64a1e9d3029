// RelativePath: a path inside the mirror tree, valid by construction.
//
// The only way to make one is `Parse` (or `Child` of an existing one), which rejects anything
// that could leave the tree or collide with the tree's own bookkeeping: absolute paths, `.` and
// `..`, empty segments, names starting with '.', control characters, backslashes and invalid
// UTF-8. Every `Tree` function takes a `RelativePath`, never a string. Symlinks on disk are a
// property of the tree, not of the string; `Tree` refuses to write through them.
// Thread safety: an immutable value type.
#pragma once

#include <compare>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/error.h"

namespace cistern::store {

class RelativePath {
 public:
  static constexpr size_t kMaxSegmentBytes = 255;  // NAME_MAX on Linux filesystems
  static constexpr size_t kMaxPathBytes = 4096;    // PATH_MAX, counting the whole string

  // Validates `text` as a '/'-separated relative path.
  //
  // Rejects: empty input; a leading '/'; a backslash; NUL, any other C0 control or DEL; an empty
  // segment ("a//b", a trailing '/'); the segments "." and ".."; a segment starting with '.'
  // (hidden and temporary names are reserved for the tree); a segment longer than
  // `kMaxSegmentBytes`; more than `kMaxPathBytes` in total; invalid UTF-8 (overlong forms,
  // surrogates, code points above U+10FFFF).
  // Errors: Errc::kInvalidPath, with a detail that quotes the input (non-printable bytes escaped
  // as \xNN) and gives the reason.
  [[nodiscard]] static Result<RelativePath> Parse(std::string_view text);

  // The whole path, e.g. "packages/ab/cd/x-1.0.tar.gz". Never empty.
  const std::string& str() const { return path_; }

  // The last segment, e.g. "x-1.0.tar.gz".
  std::string_view filename() const;

  // The path without its last segment; nullopt for a single-segment path.
  std::optional<RelativePath> parent() const;

  // The segments in order; views into this object's string.
  // Lifetime: valid while this object is alive and unmodified.
  std::vector<std::string_view> segments() const;

  // This path with one more segment. `segment` must satisfy the segment rules of `Parse` and must
  // not contain '/'.
  // Errors: Errc::kInvalidPath, as for `Parse`.
  [[nodiscard]] Result<RelativePath> Child(std::string_view segment) const;

  friend bool operator==(const RelativePath&, const RelativePath&) = default;
  friend auto operator<=>(const RelativePath&, const RelativePath&) = default;

 private:
  explicit RelativePath(std::string path) : path_(std::move(path)) {}

  std::string path_;
};

}  // namespace cistern::store

template <>
struct std::hash<cistern::store::RelativePath> {
  size_t operator()(const cistern::store::RelativePath& path) const noexcept {
    return std::hash<std::string>{}(path.str());
  }
};
