#pragma once

// `cistern sync`: mirror the upstream into the mirror directory.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tools/cistern/config_file.h"

namespace cistern::cli {

// What the command line gave; unset fields fall back to the config file.
struct SyncFlags {
  std::vector<std::string> projects;
  std::optional<std::string> mirror;
  std::optional<std::string> upstream;
  std::vector<std::string> ca_files;
  std::optional<int64_t> jobs;
  bool dry_run = false;
  bool allow_deletions = false;  // lift the deletion guard for this run
};

// Runs the sync; returns the exit status (exit_code.h). Prints the summary to stdout unless
// `quiet`, and a progress line to stderr when it is a terminal.
int RunSyncCommand(const Config& config, const SyncFlags& flags, bool quiet);

}  // namespace cistern::cli
