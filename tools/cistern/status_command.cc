#include "tools/cistern/status_command.h"

#include <cstdio>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "engine/status.h"
#include "tools/cistern/exit_code.h"
#include "tools/cistern/progress.h"

namespace cistern::cli {

int RunStatusCommand(const Config& config, const StatusFlags& flags) {
  auto log = spdlog::get("cistern");
  const std::string mirror = flags.mirror.value_or(config.mirror);
  if (mirror.empty()) {
    log->error("no mirror directory: pass --mirror DIR or set [mirror] path in cistern.toml");
    return kExitUsage;
  }
  auto status = engine::ReadStatus(mirror);
  if (!status) {
    const bool usage = status.error().code == engine::Errc::kConfig;
    log->error("status failed: {}", status.error().Message());
    return usage ? kExitUsage : kExitLocalIo;
  }
  if (flags.json) {
    std::fputs(engine::StatusJson(*status).c_str(), stdout);
    return kExitOk;
  }
  std::string deferred = "none";
  if (!status->deferred.empty()) {
    deferred = fmt::format("{} (the next sync retries them)", fmt::join(status->deferred, ", "));
  }
  std::fputs(fmt::format("mirror      {}\n"
                         "generation  {}\n"
                         "serial      {}\n"
                         "projects    {}\n"
                         "files       {} ({})\n"
                         "deferred    {}\n"
                         "last run    {}\n",
                         mirror, status->generation,
                         status->serial ? std::to_string(*status->serial)
                                        : std::string("none (no complete sync yet)"),
                         status->projects, status->files, FormatBytes(status->bytes), deferred,
                         status->last_run)
                 .c_str(),
             stdout);
  return kExitOk;
}

}  // namespace cistern::cli
