#pragma once

// `cistern log`: the change journal, the audit trail an offline site keeps: one line per path a
// sync added, replaced or removed, oldest generation first.

#include <cstdint>
#include <optional>
#include <string>

#include "tools/cistern/config_file.h"

namespace cistern::cli {

struct LogFlags {
  std::optional<std::string> mirror;
  uint64_t since = 0;  // first generation shown
  bool json = false;   // one JSON object per line
};

// Prints the journal to stdout; returns the exit status (exit_code.h).
int RunLogCommand(const Config& config, const LogFlags& flags);

}  // namespace cistern::cli
