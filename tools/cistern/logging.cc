#include "tools/cistern/logging.h"

#include <memory>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace cistern::cli {

void SetUpLogging(const std::string& level, const std::string& format) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  if (format == "json") {
    // One JSON object per line; messages are already key=value text.
    sink->set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","logger":"%n","message":"%v"})");
  } else {
    sink->set_pattern("%Y-%m-%d %H:%M:%S %^%l%$ %n: %v");
  }
  const spdlog::level::level_enum parsed = spdlog::level::from_str(level);
  for (const char* name : {"cistern", "net", "store", "engine"}) {
    spdlog::drop(name);
    auto logger = std::make_shared<spdlog::logger>(name, sink);
    logger->set_level(parsed);
    spdlog::register_logger(logger);
  }
  spdlog::set_default_logger(spdlog::get("cistern"));
}

}  // namespace cistern::cli
