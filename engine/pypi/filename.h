#pragma once

// Distribution file names: the version a file belongs to, read from its name (spec "Binary
// distribution format", PEP 427; "Source distribution format", PEP 625; legacy sdists split at
// the last '-'). Used where an index does not list `versions` (API 1.0, PEP 700).

#include <optional>
#include <string>
#include <string_view>

namespace cistern::engine {

// The version part of a wheel, sdist or egg file name, as written; nullopt when the name has
// none that can be read (.exe, .msi, malformed names).
std::optional<std::string> VersionFromFilename(std::string_view filename);

}  // namespace cistern::engine
