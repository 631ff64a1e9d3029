#pragma once

// Where log lines go: stderr, as text or JSON lines, at the level -q/-v/config chose. The tool
// owns this; the libraries only log through loggers named "net", "store" and "engine".

#include <string>

namespace cistern::cli {

// Registers the "cistern", "net", "store" and "engine" loggers on one stderr sink.
// `level` is error|warn|info|debug|trace; `format` is text|json.
void SetUpLogging(const std::string& level, const std::string& format);

}  // namespace cistern::cli
