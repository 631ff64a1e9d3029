#include "engine/pypi/filename.h"

#include <array>
#include <vector>

namespace cistern::engine {
namespace {

// pip's archive suffixes for sdists (pip/_internal/utils/filetypes.py), longest first.
constexpr std::array<std::string_view, 12> kSdistSuffixes = {
    ".tar.lzma", ".tar.bz2", ".tar.gz", ".tar.xz", ".tar.lz", ".tbz", ".tgz", ".txz", ".tlz",
    ".tar",      ".zip",     ".egg"};

std::vector<std::string_view> SplitDashes(std::string_view text) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '-') {
      parts.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

}  // namespace

std::optional<std::string> VersionFromFilename(std::string_view filename) {
  if (filename.ends_with(".whl")) {
    // {name}-{version}(-{build})?-{python}-{abi}-{platform}.whl: 4 or 5 dashes.
    const auto parts = SplitDashes(filename.substr(0, filename.size() - 4));
    if ((parts.size() == 5 || parts.size() == 6) && !parts[1].empty()) {
      return std::string(parts[1]);
    }
    return std::nullopt;
  }
  if (filename.ends_with(".egg")) {
    // {name}-{version}(-py{X.Y}(-{platform})?)?.egg
    const auto parts = SplitDashes(filename.substr(0, filename.size() - 4));
    if (parts.size() >= 2 && !parts[1].empty()) {
      return std::string(parts[1]);
    }
    return std::nullopt;
  }
  for (std::string_view suffix : kSdistSuffixes) {
    if (filename.ends_with(suffix) && filename.size() > suffix.size()) {
      const std::string_view stem = filename.substr(0, filename.size() - suffix.size());
      const auto dash = stem.rfind('-');
      if (dash == std::string_view::npos || dash == 0 || dash + 1 == stem.size()) {
        return std::nullopt;
      }
      return std::string(stem.substr(dash + 1));
    }
  }
  return std::nullopt;
}

}  // namespace cistern::engine
