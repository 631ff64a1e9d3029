#pragma once

// Opens a mirror's database for reading without the sync lock (status, log, and later verify and
// export), with the one message a user sees when the directory holds no mirror.

#include <filesystem>
#include <memory>

#include "engine/error.h"
#include "store/metadata_db.h"

namespace cistern::engine {

// Errors: Errc::kConfig "no cistern mirror at ..." when `mirror` has no database; store errors.
[[nodiscard]] Result<std::unique_ptr<store::MetadataDb>> OpenMirrorDbReadOnly(
    const std::filesystem::path& mirror);

}  // namespace cistern::engine
