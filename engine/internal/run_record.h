#pragma once

// What a sync run records in the database's `meta` family, shared by the sync (writer) and the
// status reader. Keys and formats are part of store/format.md's "meta" section.

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cistern::engine {

inline constexpr std::string_view kMetaGeneration = "generation";  // decimal, last completed run
inline constexpr std::string_view kMetaSerial = "serial";          // decimal, complete-for serial
inline constexpr std::string_view kMetaRootHash = "root_hash";     // XXH3 of the root pages
inline constexpr std::string_view kMetaLastRun = "last_run";       // JSON object
inline constexpr std::string_view kMetaDeferred = "deferred";      // names, one per line

// A decimal meta value; nullopt when absent or not a whole decimal number.
inline std::optional<int64_t> ParseMetaInt(const std::optional<std::string>& text) {
  if (!text) {
    return std::nullopt;
  }
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (error != std::errc() || end != text->data() + text->size()) {
    return std::nullopt;
  }
  return value;
}

inline std::string JoinDeferred(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) {
    out += name;
    out += '\n';
  }
  return out;
}

inline std::vector<std::string> SplitDeferred(std::string_view text) {
  std::vector<std::string> names;
  while (!text.empty()) {
    const auto newline = text.find('\n');
    if (newline != 0) {
      names.emplace_back(text.substr(0, newline));
    }
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
  }
  return names;
}

}  // namespace cistern::engine
