#pragma once

// The progress line shown while a sync runs on a terminal: projects done, files and bytes
// fetched, and the rate. Not shown under cron (stderr not a terminal) or with --quiet.

#include <chrono>
#include <cstdint>
#include <string>

#include "engine/sync_run.h"

namespace cistern::cli {

// "projects 12/60  files 340  120.4 MiB  35.2 MiB/s"
std::string FormatProgress(const engine::SyncProgress& progress,
                           std::chrono::steady_clock::duration elapsed);

// "1.5 KiB", "120.4 MiB", "3.20 GiB"
std::string FormatBytes(uint64_t bytes);

}  // namespace cistern::cli
