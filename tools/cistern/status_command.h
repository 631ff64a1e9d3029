#pragma once

// `cistern status`: what the mirror holds and how the last sync went, as text or JSON. Reads the
// database without the sync lock, so it works while a sync runs.

#include <optional>
#include <string>

#include "tools/cistern/config_file.h"

namespace cistern::cli {

struct StatusFlags {
  std::optional<std::string> mirror;
  bool json = false;
};

// Prints the status to stdout; returns the exit status (exit_code.h).
int RunStatusCommand(const Config& config, const StatusFlags& flags);

}  // namespace cistern::cli
