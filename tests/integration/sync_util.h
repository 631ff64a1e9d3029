#pragma once

// Helpers the integration tests share: run a sync in process against a NginxUpstream and read
// what it left on disk.

#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "engine/sync_run.h"
#include "tests/support/nginx_upstream.h"

namespace cistern::testing {

std::string Sha256Hex(std::string_view bytes);

// Every regular file under `root` (relative path -> bytes); empty when `root` does not exist.
std::map<std::string, std::string> Snapshot(const std::filesystem::path& root);

// The paths that differ between two snapshots (missing on either side or different bytes),
// for a readable failure message; empty when they are equal.
std::string DescribeDifferences(const std::map<std::string, std::string>& expected,
                                const std::map<std::string, std::string>& actual);

// Options for syncing `upstream` over HTTPS into `mirror`, with short test backoffs.
engine::SyncOptions SyncOptionsFor(const std::filesystem::path& mirror,
                                   const NginxUpstream& upstream);

// Runs a sync to completion; nullopt if it did not finish in time (RunTask).
std::optional<engine::Result<engine::SyncReport>> Sync(engine::SyncOptions options);

// Runs a sync that must succeed (a test failure otherwise); returns its report.
engine::SyncReport SyncOk(engine::SyncOptions options);

std::set<std::string> DeferredProjects(const engine::SyncReport& report);

}  // namespace cistern::testing
