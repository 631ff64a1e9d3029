#pragma once

// `cistern sync`: mirror the upstream into the mirror directory.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "net/proxy.h"
#include "tools/cistern/config_file.h"

namespace cistern::cli {

// What the command line gave; unset fields fall back to the config file.
struct SyncFlags {
  std::vector<std::string> projects;
  std::optional<std::string> mirror;
  std::optional<std::string> upstream;
  std::optional<std::string> upstream_format;
  std::vector<std::string> ca_files;
  std::optional<int64_t> jobs;
  bool dry_run = false;
  bool allow_deletions = false;  // lift the deletion guard for this run
};

// The proxy settings a run uses. network.proxy: "none" means no proxy; a URL is the proxy for
// https:// and http:// origins alike; "" takes https_proxy/HTTPS_PROXY and
// http_proxy/HTTP_PROXY from `getenv`. network.no_proxy replaces no_proxy/NO_PROXY from
// `getenv` when it is not empty. `getenv` is std::getenv outside tests.
net::ProxyOptions ProxyOptionsFor(const Config& config,
                                  const std::function<const char*(const char*)>& getenv);

// Runs the sync; returns the exit status (exit_code.h). Prints the summary to stdout unless
// `quiet`, and a progress line to stderr when it is a terminal.
int RunSyncCommand(const Config& config, const SyncFlags& flags, bool quiet);

}  // namespace cistern::cli
