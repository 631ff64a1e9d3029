#pragma once

// One sync: lock, index, diff, plan, download, render, commit, root index. The order is what makes
// any step killable: files land before the pages that link them, pages before the database
// records their serial, and the root index last; a rerun redoes at most the interrupted project.
// See ../shared/docs/architecture.md "One sync, as data flows".
//
// Executor: awaited on the network executor (one thread). Blocking work (RocksDB, fsync, renames)
// runs on an internal disk thread pool.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "engine/downloader.h"
#include "engine/error.h"
#include "engine/index_reader.h"
#include "engine/planner.h"
#include "engine/retrier.h"
#include "net/asio.h"
#include "net/client.h"
#include "store/tree.h"

namespace cistern::engine {

struct SyncOptions {
  // The mirror directory: web/ is served, state/ holds the database and lock, incoming/ partials.
  std::filesystem::path mirror;
  // The upstream index: a bare origin gets /simple/ appended. Default: PyPI.
  std::string upstream = "https://pypi.org";
  // Which Simple API serializations the upstream may answer with (engine/index_reader.h): JSON
  // only by default; `auto` also reads PEP 503 HTML.
  UpstreamFormat upstream_format = UpstreamFormat::kJson;
  // Restrict the run to these projects (any spelling); empty means every project upstream.
  std::vector<std::string> projects;
  // Projects processed at once. More hides per-request latency; the connection pool bounds what
  // reaches one origin.
  size_t jobs = 8;
  // Files of one project downloaded at once.
  size_t downloads_per_project = 4;
  // Fetch and diff the index, report what would change, write nothing.
  bool dry_run = false;
  // Attempts for the index root and for a project page that is stale (older serial than the
  // index promised) or failed transiently (reset, timeout, 408, 429, 5xx), and the base of the
  // exponential backoff with full jitter between them (capped at download.max_backoff; a 429 or
  // 503 waits its Retry-After instead, up to download.max_retry_after). Each retry takes one from
  // the run's budget (download.retry_budget), shared with the files. Then the project is
  // deferred (the root: the run fails with kUpstreamIndex).
  int page_attempts = 3;
  std::chrono::milliseconds page_backoff{1000};
  // Threads for blocking disk and database work.
  size_t disk_threads = 2;
  // Resumable partials (incoming/part-*) not written to for this long are deleted when a run
  // starts: their file was probably dropped upstream. A run that syncs every project upstream
  // (no project list) with nothing deferred and without interruption deletes every partial left
  // at its end, since each file it wanted is then in place. Default 7 days.
  std::chrono::hours partial_max_age{24 * 7};

  // The deletion guard: an upstream glitch (a truncated index, the wrong upstream) must not wipe
  // the mirror. A run that would delete more than `max_delete_count` projects, or more than
  // `max_delete_percent` of the mirrored projects once more than `kDeletionGuardFloor` would go,
  // fails with Errc::kDeletionGuard before changing anything. `allow_deletions` lifts the guard
  // for one run.
  static constexpr size_t kDeletionGuardFloor = 10;
  size_t max_delete_count = 1000;
  size_t max_delete_percent = 5;
  bool allow_deletions = false;

  FileRules rules;
  store::TreeOptions tree;
  net::ClientOptions client;
  DownloaderOptions download;
};

// Live counters for a progress line. Executor: written and read on the sync's executor.
struct SyncProgress {
  size_t projects_total = 0;  // projects to sync in this run
  size_t projects_done = 0;
  size_t files_fetched = 0;
  uint64_t bytes_fetched = 0;
};

// Lets the caller end a run early (SIGINT/SIGTERM). Executor: written on the sync's executor.
struct SyncControl {
  // Take no new project; the projects in progress finish and are committed, then the root index
  // and the run record are written, and the report says `interrupted`. To abandon the projects in
  // progress as well, also emit terminal cancellation on the task: their transfers end, their
  // temporary files are discarded (resumable partials stay for the next run), and they are
  // deferred.
  bool stop_requested = false;
};

struct SyncReport {
  uint64_t generation = 0;                // this run's generation (0 for a dry run)
  std::optional<int64_t> serial;          // upstream serial the mirror is complete for
  std::optional<int64_t> upstream_serial;  // what the index root announced
  size_t projects_upstream = 0;           // projects in the upstream index (after the filter)
  size_t projects_changed = 0;            // projects whose serial moved (or new)
  size_t projects_synced = 0;             // changed projects committed in this run
  size_t pages_written = 0;               // project pages rewritten (bytes changed)
  size_t files_fetched = 0;
  uint64_t bytes_fetched = 0;
  DownloaderStats downloads;              // retries, resumed partials, restarts
  RetryStats retries;  // every retry of the run: index, pages and files (one budget)
  size_t partials_removed = 0;            // resumable partials deleted (stale, or no longer wanted)
  size_t files_removed = 0;
  size_t projects_deleted = 0;            // gone from the index and confirmed gone (404/410)
  std::vector<Error> deferred;            // one per deferred project; the next run retries them
  std::vector<Error> warnings;            // rejected names and files; nothing to retry
  std::vector<std::string> would_sync;    // dry run: the projects a real run would sync
  std::vector<std::string> would_delete;  // dry run: mirrored projects the index no longer lists
  bool interrupted = false;               // stopped early through SyncControl
  net::Client::Stats net;
  std::chrono::milliseconds elapsed{0};
};

// Runs one sync with `options`, updating `progress` as it goes; `control`, when given, can stop it
// early.
// Returns the report; deferred projects are in the report, not an error.
// Errors: Errc::kConfig (bad upstream URL, CA file), kLocked (another sync holds the mirror),
// kUpstreamIndex (index unreachable or garbage: nothing was changed), kDeletionGuard (the index
// lost too many projects: nothing was changed), local store errors (disk full, permissions: what
// was committed stays valid).
// Cancellation: terminal cancellation abandons the transfers in progress (see SyncControl); what
// was committed stays valid. A killed run also leaves a consistent tree: the named crash points
// (test builds; store/format.md, "Crash points") and tests/e2e kill the real binary to prove it.
// Lifetime: `progress` and `control` must outlive the returned task.
net::Task<Result<SyncReport>> RunSync(SyncOptions options, SyncProgress& progress,
                                      SyncControl* control = nullptr);

}  // namespace cistern::engine
