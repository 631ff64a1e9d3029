#pragma once

// One project of a sync: fetch its page (retrying a stale CDN copy), plan, fetch what is missing,
// publish the pages once every file they link is in place, commit one database batch (project,
// files, journal), then remove what upstream dropped. Outcomes go into the run's report: synced,
// deferred (the next run retries), or warnings (rejected files).
//
// Executor: the sync's network executor; blocking work runs on the disk pool.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/downloader.h"
#include "engine/error.h"
#include "engine/group_sync.h"
#include "engine/planner.h"
#include "engine/pypi/project_name.h"
#include "engine/render/root_index.h"
#include "engine/retrier.h"
#include "engine/sync_run.h"
#include "engine/upstream.h"
#include "net/asio.h"
#include "store/metadata_db.h"
#include "store/records.h"
#include "store/tree.h"

namespace cistern::engine {

// A project whose serial moved (or that is new) in this run.
struct ProjectToSync {
  ProjectName name;
  std::string display_name;
  std::optional<int64_t> serial;  // what the index root promised
  std::optional<store::ProjectRecord> stored;
};

// The root index entries a run changed, by normalized name: the committed entry, or nullopt for
// a project deleted. The run applies them to the entries it read at its start (O(changes)).
using RootChanges = std::map<std::string, std::optional<RootEntry>>;

// What the projects of one run share.
// Lifetime: everything referenced outlives the ProjectSync built from it.
struct ProjectSyncContext {
  const SyncOptions& options;
  Upstream& upstream;
  Downloader& downloader;
  Retrier& retrier;  // the run's: page fetches share the downloads' budget and pauses
  store::Tree& tree;
  store::MetadataDb& db;
  asio::thread_pool& disk;
  GroupSync& durable;  // makes published files durable before pages and records refer to them
  store::Generation generation;
  SyncProgress& progress;
  SyncReport& report;
  RootChanges& root_changes;
  const SyncControl* control;  // may be null
};

class ProjectSync {
 public:
  explicit ProjectSync(const ProjectSyncContext& context);
  ProjectSync(const ProjectSync&) = delete;
  ProjectSync& operator=(const ProjectSync&) = delete;

  // Syncs one project. Never fails as a whole: the outcome is recorded in the report, and a local
  // I/O failure (disk full, permissions, database) is kept in `fatal()`, which ends the run.
  // Lifetime: `project` outlives the returned task.
  net::Task<void> SyncProject(const ProjectToSync& project);

  // Removes a mirrored project that the index no longer lists, once its page confirms it is gone
  // (404 or 410) or quarantined (PEP 792: its files must not be offered): one batch drops its records, journals every path as removed and queues the paths
  // for unlinking (store removals), which the run does after the root index stops listing the
  // project. A page that still answers keeps the project (a warning: the index may be glitching);
  // a failed check defers it. Never fails as a whole, like SyncProject.
  // Lifetime: `stored` outlives the returned task.
  net::Task<void> DeleteProject(const store::ProjectRecord& stored);

  const std::optional<Error>& fatal() const { return fatal_; }

 private:
  struct FileOutcome;
  // The project's file records as read at the start of its sync, by path.
  using StoredFiles = std::map<std::string, const store::FileRecord*>;

  net::Task<Result<FetchedPage>> FetchFreshPage(const ProjectToSync& candidate);
  net::Task<void> DownloadWorker(std::shared_ptr<size_t> next, const ProjectToSync* candidate,
                                 const ProjectPlan* plan, const StoredFiles* stored,
                                 std::vector<FileOutcome>* outcomes);
  net::Task<void> FetchOne(const ProjectToSync& candidate, const PlannedFile& file,
                           const StoredFiles& stored, FileOutcome& outcome);
  store::Result<std::optional<store::FileRecord>> RecordedOnDisk(const StoredFiles& stored,
                                                                 const store::RelativePath& path);
  bool StopRequested() const { return control_ != nullptr && control_->stop_requested; }

  template <class F>
  auto OnDisk(F fn) {
    return net::Offload(disk_, std::move(fn));
  }

  const SyncOptions& options_;
  Upstream* upstream_;
  Downloader* downloader_;
  Retrier* retrier_;
  store::Tree* tree_;
  store::MetadataDb* db_;
  asio::thread_pool& disk_;
  GroupSync& durable_;
  store::Generation generation_;
  SyncProgress& progress_;
  SyncReport& report_;
  RootChanges& root_changes_;
  const SyncControl* control_;
  std::optional<Error> fatal_;
};

}  // namespace cistern::engine
