#include "engine/internal/read_only_db.h"

#include <fmt/format.h>

namespace cistern::engine {

Result<std::unique_ptr<store::MetadataDb>> OpenMirrorDbReadOnly(
    const std::filesystem::path& mirror) {
  auto db = store::MetadataDb::OpenReadOnly(mirror / "state" / "db");
  if (!db) {
    if (db.error().code == store::Errc::kNotFound) {
      return tl::make_unexpected(MakeError(
          Errc::kConfig, fmt::format("no cistern mirror at {} (run `cistern sync --mirror {}` "
                                     "first)",
                                     mirror.string(), mirror.string())));
    }
    return tl::make_unexpected(FromStore(db.error()));
  }
  return std::move(*db);
}

}  // namespace cistern::engine
