#pragma once

// The engine's logger, for .cc files only. The tool registers a logger named "engine" with its
// sinks; until it does (tests), messages go to spdlog's default logger.

#include <memory>

#include <spdlog/spdlog.h>

namespace cistern::engine {

inline std::shared_ptr<spdlog::logger> Log() {
  auto logger = spdlog::get("engine");
  return logger ? logger : spdlog::default_logger();
}

}  // namespace cistern::engine
