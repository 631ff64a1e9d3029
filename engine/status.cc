#include "engine/status.h"

#include <fmt/format.h>

#include "engine/internal/read_only_db.h"
#include "engine/internal/run_record.h"
#include "engine/render/escape.h"
#include "store/metadata_db.h"

namespace cistern::engine {

Result<MirrorStatus> ReadStatus(const std::filesystem::path& mirror) {
  auto db = OpenMirrorDbReadOnly(mirror);
  if (!db) {
    return tl::make_unexpected(db.error());
  }
  MirrorStatus status;
  auto generation = (*db)->GetMeta(kMetaGeneration);
  auto serial = (*db)->GetMeta(kMetaSerial);
  auto deferred = (*db)->GetMeta(kMetaDeferred);
  auto last_run = (*db)->GetMeta(kMetaLastRun);
  // Sum what each project's record counts; a record from before the counts (version 1) makes it
  // a scan of every file record instead.
  store::FileTotals totals_from_projects;
  uint64_t project_count = 0;
  bool counted = true;
  auto projects = (*db)
                      ->ForEachProject([&](const store::ProjectRecord& record) {
                        ++project_count;
                        counted = counted && record.counted;
                        totals_from_projects.files += record.files;
                        totals_from_projects.bytes += record.bytes;
                        return true;
                      })
                      .map([&] { return project_count; });
  auto totals = counted ? store::Result<store::FileTotals>(totals_from_projects)
                        : (*db)->TotalFiles();
  for (const store::Error* error :
       {generation ? nullptr : &generation.error(), serial ? nullptr : &serial.error(), deferred ? nullptr : &deferred.error(),
        last_run ? nullptr : &last_run.error(), projects ? nullptr : &projects.error(),
        totals ? nullptr : &totals.error()}) {
    if (error != nullptr) {
      return tl::make_unexpected(FromStore(*error));
    }
  }
  status.generation = static_cast<uint64_t>(ParseMetaInt(*generation).value_or(0));
  status.serial = ParseMetaInt(*serial);
  status.projects = *projects;
  status.files = totals->files;
  status.bytes = totals->bytes;
  status.deferred = SplitDeferred(deferred->value_or(""));
  status.last_run = last_run->value_or("{}");
  return status;
}

std::string StatusJson(const MirrorStatus& status) {
  std::string out = fmt::format("{{\"generation\":{},\"serial\":", status.generation);
  out += status.serial ? std::to_string(*status.serial) : "null";
  out += fmt::format(",\"projects\":{},\"files\":{},\"bytes\":{},\"deferred\":[", status.projects,
                     status.files, status.bytes);
  for (size_t i = 0; i < status.deferred.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    AppendJsonString(out, status.deferred[i]);
  }
  out += "],\"last_run\":";
  out += status.last_run;
  out += "}\n";
  return out;
}

}  // namespace cistern::engine
