#pragma once

// What a mirror holds, read from its database without taking the sync lock (a read-only view), so
// `cistern status` works while a sync runs.
//
// Thread safety: blocking; call from any thread.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "engine/error.h"

namespace cistern::engine {

struct MirrorStatus {
  uint64_t generation = 0;        // last completed run; 0 before the first
  std::optional<int64_t> serial;  // upstream serial the mirror is complete for
  uint64_t projects = 0;
  uint64_t files = 0;             // distribution and .metadata files
  uint64_t bytes = 0;
  std::vector<std::string> deferred;  // projects the last run deferred; the next run retries them
  std::string last_run;               // the last run's record, a JSON object ("{}" before any)
};

// Reads the status of the mirror at `mirror`.
// Errors: Errc::kConfig when `mirror` holds no cistern mirror (no database); store errors.
[[nodiscard]] Result<MirrorStatus> ReadStatus(const std::filesystem::path& mirror);

// The status as one JSON object with the keys generation, serial (null before a complete run),
// projects, files, bytes, deferred (array of names) and last_run (object).
std::string StatusJson(const MirrorStatus& status);

}  // namespace cistern::engine
