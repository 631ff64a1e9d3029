#include "engine/change_log.h"

#include <fmt/format.h>

#include "engine/internal/read_only_db.h"
#include "engine/render/escape.h"
#include "store/metadata_db.h"

namespace cistern::engine {

Result<void> ReadChangeLog(const std::filesystem::path& mirror, uint64_t since,
                           const std::function<bool(const ChangeLogEntry&)>& fn) {
  auto db = OpenMirrorDbReadOnly(mirror);
  if (!db) {
    return tl::make_unexpected(db.error());
  }
  auto read = (*db)->ForEachJournal(store::Generation{since}, [&fn](const store::JournalEntry& e) {
    ChangeLogEntry entry{static_cast<uint64_t>(e.generation),
                         std::string(store::JournalActionName(e.action)), e.path, e.size,
                         std::nullopt};
    if (e.sha256) {
      entry.sha256 = e.sha256->Hex();
    }
    return fn(entry);
  });
  if (!read) {
    return tl::make_unexpected(FromStore(read.error()));
  }
  return {};
}

std::string ChangeLogJson(const ChangeLogEntry& entry) {
  std::string out = fmt::format("{{\"generation\":{},\"action\":\"{}\",\"path\":", entry.generation,
                                entry.action);
  AppendJsonString(out, entry.path);
  out += fmt::format(",\"size\":{},\"sha256\":", entry.size);
  if (entry.sha256) {
    AppendJsonString(out, *entry.sha256);
  } else {
    out += "null";
  }
  out += '}';
  return out;
}

}  // namespace cistern::engine
