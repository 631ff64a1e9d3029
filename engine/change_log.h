#pragma once

// The change journal as `cistern log` shows it: every path a run added, replaced or removed under
// the web root, with its generation, size and SHA-256. The delta export is a range scan of the
// same records. Reads without the sync lock.
//
// Thread safety: blocking; call from any thread.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "engine/error.h"

namespace cistern::engine {

struct ChangeLogEntry {
  uint64_t generation = 0;
  std::string action;  // "added", "replaced", "removed"
  std::string path;    // relative to <mirror>/web
  uint64_t size = 0;
  std::optional<std::string> sha256;  // lowercase hex; absent for removals
};

// Calls `fn` for every journal entry of generation `since` or later, in (generation, path)
// order, until it returns false.
// Errors: Errc::kConfig when `mirror` holds no cistern mirror; store errors.
[[nodiscard]] Result<void> ReadChangeLog(const std::filesystem::path& mirror, uint64_t since,
                                         const std::function<bool(const ChangeLogEntry&)>& fn);

// One entry as a JSON object on one line (no newline).
std::string ChangeLogJson(const ChangeLogEntry& entry);

}  // namespace cistern::engine
