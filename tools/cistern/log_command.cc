#include "tools/cistern/log_command.h"

#include <cstdio>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "engine/change_log.h"
#include "tools/cistern/exit_code.h"

namespace cistern::cli {

int RunLogCommand(const Config& config, const LogFlags& flags) {
  auto log = spdlog::get("cistern");
  const std::string mirror = flags.mirror.value_or(config.mirror);
  if (mirror.empty()) {
    log->error("no mirror directory: pass --mirror DIR or set [mirror] path in cistern.toml");
    return kExitUsage;
  }
  auto read = engine::ReadChangeLog(mirror, flags.since, [&flags](const engine::ChangeLogEntry& e) {
    if (flags.json) {
      std::fputs((engine::ChangeLogJson(e) + "\n").c_str(), stdout);
    } else {
      std::fputs(fmt::format("{:>6} {:<8} {:>12} {} {}\n", e.generation, e.action, e.size,
                             e.sha256.value_or(std::string(64, '-')), e.path)
                     .c_str(),
                 stdout);
    }
    return true;
  });
  if (!read) {
    log->error("log failed: {}", read.error().Message());
    return read.error().code == engine::Errc::kConfig ? kExitUsage : kExitLocalIo;
  }
  return kExitOk;
}

}  // namespace cistern::cli
