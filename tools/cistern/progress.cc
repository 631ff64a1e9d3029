#include "tools/cistern/progress.h"

#include <fmt/format.h>

namespace cistern::cli {

std::string FormatBytes(uint64_t bytes) {
  constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < std::size(kUnits)) {
    value /= 1024.0;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, kUnits[unit]);
}

std::string FormatProgress(const engine::SyncProgress& progress,
                           std::chrono::steady_clock::duration elapsed) {
  const double seconds = std::chrono::duration<double>(elapsed).count();
  const double rate = seconds > 0 ? static_cast<double>(progress.bytes_fetched) / seconds : 0.0;
  return fmt::format("projects {}/{}  files {}  {}  {}/s", progress.projects_done,
                     progress.projects_total, progress.files_fetched,
                     FormatBytes(progress.bytes_fetched), FormatBytes(static_cast<uint64_t>(rate)));
}

}  // namespace cistern::cli
