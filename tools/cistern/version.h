#pragma once

namespace cistern::cli {

inline constexpr const char* kVersion = "0.1.0";

}  // namespace cistern::cli
