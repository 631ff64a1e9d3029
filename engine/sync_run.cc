#include "engine/sync_run.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <map>
#include <memory>
#include <unordered_set>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "engine/file_upstream.h"
#include "engine/http_upstream.h"
#include "engine/project_sync.h"
#include "engine/pypi/file_location.h"
#include "engine/internal/log.h"
#include "engine/internal/run_record.h"
#include "engine/render/project_page.h"
#include "engine/render/root_index.h"
#include "store/bytes.h"
#include "store/crash_point.h"
#include "store/lock_file.h"
#include "store/metadata_db.h"

namespace cistern::engine {
namespace {

using Clock = std::chrono::steady_clock;


store::RelativePath RootPath(std::string_view file) {
  auto path = store::RelativePath::Parse(fmt::format("simple/{}", file));
  assert(path.has_value());
  return std::move(*path);
}

class SyncRun {
 public:
  SyncRun(SyncOptions options, SyncProgress& progress, SyncControl* control)
      : options_(std::move(options)),
        progress_(progress),
        control_(control),
        disk_(options_.disk_threads) {}

  ~SyncRun() { disk_.join(); }

  net::Task<Result<SyncReport>> Run();

 private:
  // What changed between the index and the database.
  struct Diff {
    std::vector<ProjectToSync> candidates;     // new, or serial moved
    std::vector<store::ProjectRecord> gone;    // mirrored, no longer listed
  };

  // Opens the tree and takes the lock (fast: a second sync fails here at once).
  Result<void> OpenMirror();
  // Opens the database and clears leftovers of a killed run; overlaps the index fetch.
  Result<void> OpenDatabase();
  net::Task<void> OpenDatabaseInto(std::optional<Result<void>>* opened);
  Result<Diff> DiffIndex(const RootIndex& index);
  Result<void> CheckDeletionGuard(const Diff& diff) const;
  net::Task<void> Worker(std::shared_ptr<size_t> next, const Diff* diff);
  net::Task<Result<void>> WriteRoot();
  store::Result<void> ApplyRemovals();
  net::Task<Result<void>> FinishRun();

  template <class F>
  auto OnDisk(F fn) {
    return net::Offload(disk_, std::move(fn));
  }

  SyncOptions options_;
  bool StopRequested() const { return control_ != nullptr && control_->stop_requested; }

  SyncProgress& progress_;
  SyncControl* control_;  // may be null
  asio::thread_pool disk_;
  std::optional<store::Tree> tree_;
  std::optional<store::LockFile> lock_;
  std::unique_ptr<store::MetadataDb> db_;
  std::unique_ptr<net::Client> client_;
  std::unique_ptr<Upstream> upstream_;
  std::unique_ptr<Retrier> retrier_;  // the run's retry budget and pauses, for every fetch
  std::unique_ptr<Downloader> downloader_;
  std::unique_ptr<GroupSync> durable_;
  std::unique_ptr<ProjectSync> projects_;
  store::Generation generation_{};
  Clock::time_point started_ = Clock::now();
  SyncReport report_;
  // The root index as the database held it at the start (every mirrored project, in name order)
  // and what this run changed in it.
  std::vector<RootEntry> mirrored_;
  RootChanges root_changes_;
};

Result<void> SyncRun::OpenMirror() {
  // The run orders durability itself (GroupSync): files, then the page linking them, then the
  // database record, each step one shared sync.
  store::TreeOptions tree_options = options_.tree;
  tree_options.durability = store::TreeOptions::Durability::kOnSync;
  auto tree = store::Tree::Open(options_.mirror, tree_options);
  if (!tree) {
    return tl::make_unexpected(FromStore(tree.error()));
  }
  tree_.emplace(std::move(*tree));
  const std::filesystem::path state = options_.mirror / "state";
  std::error_code ec;
  std::filesystem::create_directories(state, ec);
  if (ec) {
    return tl::make_unexpected(FromStore(
        store::Error{ec, fmt::format("cannot create {}: {}", state.string(), ec.message())}));
  }
  auto lock = store::LockFile::Acquire(state / "lock");
  if (!lock) {
    if (lock.error().code == store::Errc::kLocked) {
      return tl::make_unexpected(MakeError(Errc::kLocked, lock.error().detail));
    }
    return tl::make_unexpected(FromStore(lock.error()));
  }
  lock_.emplace(std::move(*lock));
  return {};
}

Result<void> SyncRun::OpenDatabase() {
  auto db = store::MetadataDb::Open(options_.mirror / "state" / "db");
  if (!db) {
    return tl::make_unexpected(FromStore(db.error()));
  }
  db_ = std::move(*db);
  auto generation = db_->GetMeta(kMetaGeneration);
  if (!generation) {
    return tl::make_unexpected(FromStore(generation.error()));
  }
  generation_ = store::Generation{static_cast<uint64_t>(ParseMetaInt(*generation).value_or(0) + 1)};
  if (options_.dry_run) {
    return {};  // a dry run changes nothing, not even leftovers of a killed run
  }
  auto stale = tree_->RemoveStaleIncoming();
  if (!stale) {
    return tl::make_unexpected(FromStore(stale.error()));
  }
  if (*stale > 0) {
    Log()->info("removed stale partial files count={}", *stale);
  }
  auto old = tree_->RemoveResumable(std::chrono::system_clock::now() - options_.partial_max_age);
  if (!old) {
    return tl::make_unexpected(FromStore(old.error()));
  }
  report_.partials_removed += *old;
  if (*old > 0) {
    Log()->info("removed resumable partials older than {} h count={}",
                options_.partial_max_age.count(), *old);
  }
  return {};
}

// Validates names, applies the project filter and diffs serials against the database: one pass
// over the index sorted by normalized name, merged with one scan of the projects family (no
// lookup per project; PyPI lists ~740,000). Keeps the stored entries for the root index.
Result<SyncRun::Diff> SyncRun::DiffIndex(const RootIndex& index) {
  std::unordered_set<std::string> wanted;
  for (const std::string& requested : options_.projects) {
    wanted.insert(NormalizeProjectName(requested));
  }
  struct Listed {
    ProjectName name;
    const IndexEntry* entry;
  };
  std::vector<Listed> listed;
  listed.reserve(wanted.empty() ? index.projects.size() : wanted.size());
  for (const IndexEntry& entry : index.projects) {
    auto name = ProjectName::Parse(entry.name);
    if (!name) {
      report_.warnings.push_back(name.error());
      continue;
    }
    if (!wanted.empty() && !wanted.contains(name->str())) {
      continue;
    }
    listed.push_back(Listed{std::move(*name), &entry});
  }
  // Stable: of two entries with one normalized name, the first listed wins.
  std::stable_sort(listed.begin(), listed.end(), [](const Listed& a, const Listed& b) {
    return a.name.str() < b.name.str();
  });
  std::vector<Listed> unique;
  unique.reserve(listed.size());
  for (Listed& item : listed) {
    if (!unique.empty() && unique.back().name.str() == item.name.str()) {
      // Impossible on PyPI (normalized names are unique); never write two directories.
      report_.warnings.push_back(MakeError(
          Errc::kInvalidName,
          fmt::format("\"{}\" normalizes to a name listed before; ignored", item.entry->name),
          item.name.str()));
      continue;
    }
    unique.push_back(std::move(item));
  }
  listed = {};
  report_.projects_upstream = unique.size();

  Diff diff;
  auto add_candidate = [&diff](Listed& item, std::optional<store::ProjectRecord> stored) {
    diff.candidates.push_back(ProjectToSync{std::move(item.name), item.entry->name,
                                            item.entry->last_serial, std::move(stored)});
  };
  size_t next = 0;
  if (db_) {
    auto scanned = db_->ForEachProject([&](const store::ProjectRecord& record) {
      mirrored_.push_back(RootEntry{record.name, record.display_name,
                                    static_cast<int64_t>(record.serial)});
      while (next < unique.size() && unique[next].name.str() < record.name) {
        add_candidate(unique[next++], std::nullopt);
      }
      if (next < unique.size() && unique[next].name.str() == record.name) {
        Listed& item = unique[next++];
        const std::optional<int64_t>& serial = item.entry->last_serial;
        if (!serial || static_cast<int64_t>(record.serial) < *serial) {
          add_candidate(item, record);
        }
      } else if (wanted.empty() || wanted.contains(record.name)) {
        diff.gone.push_back(record);
      }
      return true;
    });
    if (!scanned) {
      return tl::make_unexpected(FromStore(scanned.error()));
    }
  }
  while (next < unique.size()) {
    add_candidate(unique[next++], std::nullopt);
  }
  for (const std::string& requested : wanted) {
    auto it = std::lower_bound(
        unique.begin(), unique.end(), requested,
        [](const Listed& item, const std::string& name) { return item.name.str() < name; });
    if (it == unique.end() || it->name.str() != requested) {
      report_.warnings.push_back(MakeError(
          Errc::kInvalidName, "not listed in the upstream index; nothing to sync", requested));
    }
  }
  return diff;
}

Result<void> SyncRun::CheckDeletionGuard(const Diff& diff) const {
  const size_t gone = diff.gone.size();
  const size_t stored = mirrored_.size();
  if (options_.allow_deletions || gone == 0) {
    return {};
  }
  const bool too_many = gone > options_.max_delete_count;
  const bool too_large_share = gone > SyncOptions::kDeletionGuardFloor &&
                               gone * 100 > options_.max_delete_percent * stored;
  if (!too_many && !too_large_share) {
    return {};
  }
  return tl::make_unexpected(MakeError(
      Errc::kDeletionGuard,
      fmt::format("the upstream index no longer lists {} of the {} mirrored projects ({:.1f}%, "
                  "e.g. {}); deleting them exceeds the deletion guard ([sync] max_delete_count = "
                  "{}, max_delete_percent = {}). If upstream really removed them, run again with "
                  "--allow-deletions or raise the limits in cistern.toml; if not, check the "
                  "upstream URL",
                  gone, stored, 100.0 * static_cast<double>(gone) / static_cast<double>(stored),
                  diff.gone.front().name, options_.max_delete_count,
                  options_.max_delete_percent)));
}

net::Task<Result<SyncReport>> SyncRun::Run() {
  const auto started = Clock::now();
  auto index_url = IndexUrlFromUpstream(options_.upstream);
  if (!index_url) {
    co_return tl::make_unexpected(index_url.error());
  }
  const bool open_mirror =
      !options_.dry_run || std::filesystem::exists(options_.mirror / "state" / "db");
  if (open_mirror) {
    auto opened = co_await OnDisk([this] { return OpenMirror(); });
    if (!opened) {
      co_return tl::make_unexpected(opened.error());
    }
  }
  auto client = net::Client::Create(co_await asio::this_coro::executor, options_.client);
  if (!client) {
    co_return tl::make_unexpected(MakeError(Errc::kConfig, client.error().detail));
  }
  client_ = std::move(*client);
  HttpUpstreamOptions upstream_options;
  upstream_options.format = options_.upstream_format;
  if (index_url->is_file()) {
    upstream_ = std::make_unique<FileUpstream>(*client_, *index_url, upstream_options);
  } else {
    upstream_ = std::make_unique<HttpUpstream>(*client_, *index_url, upstream_options);
  }
  retrier_ = std::make_unique<Retrier>(RetryOptions{
      options_.download.max_retry_after, options_.download.retry_budget, options_.download.random});

  // The database opens (RocksDB recovery, a few fsyncs) while the index is fetched.
  std::optional<Result<void>> database;
  std::optional<Result<FetchedRoot>> root;
  {
    net::TaskGroup group(co_await asio::this_coro::executor);
    if (open_mirror) {
      group.Spawn(OpenDatabaseInto(&database));
    }
    // Retried like a page: transient failures and 429/503 with Retry-After, from the run's budget.
    const RetryRule rule{options_.page_attempts,
                         net::BackoffPolicy{options_.page_backoff, options_.download.max_backoff}};
    auto fetch = [this] { return upstream_->FetchRoot(); };
    auto judge = [](const FetchedRoot&) { return std::optional<Error>(); };
    auto stop = [this] { return StopRequested(); };
    std::string what = "index url=" + upstream_->index_url().str();
    std::string origin = upstream_->index_url().origin();
    root = co_await retrier_->Run<FetchedRoot>(std::move(what), std::move(origin), rule,
                                               std::move(fetch), std::move(judge), std::move(stop));
    co_await group.Wait();
  }
  if (database && !*database) {
    co_return tl::make_unexpected(database->error());
  }
  if (!*root) {
    Error error = root->error();
    error.code = make_error_code(Errc::kUpstreamIndex);
    co_return tl::make_unexpected(std::move(error));
  }
  report_.upstream_serial =
      (*root)->index.last_serial ? (*root)->index.last_serial : (*root)->header_serial;
  if (IsNewerMinorApiVersion((*root)->index.api_version)) {
    Log()->warn("index url={} declares api-version {}; cistern reads it as 1.4 and does not mirror "
                "what later versions added (PEP 629)",
                upstream_->index_url().str(), (*root)->index.api_version);
  }

  auto diff = co_await OnDisk([this, &root] { return DiffIndex((*root)->index); });
  if (!diff) {
    co_return tl::make_unexpected(diff.error());
  }
  root = {};  // the index can be large (PyPI's is ~40 MB parsed); the diff holds what is needed
  report_.projects_changed = diff->candidates.size();
  if (auto guard = CheckDeletionGuard(*diff); !guard) {
    co_return tl::make_unexpected(guard.error());
  }
  if (options_.dry_run) {
    for (const ProjectToSync& candidate : diff->candidates) {
      report_.would_sync.push_back(candidate.name.str());
    }
    for (const store::ProjectRecord& gone : diff->gone) {
      report_.would_delete.push_back(gone.name);
    }
    report_.net = client_->stats();
    report_.retries = retrier_->stats();
    report_.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    co_return std::move(report_);
  }

  report_.generation = static_cast<uint64_t>(generation_);
  progress_.projects_total = diff->candidates.size() + diff->gone.size();
  downloader_ =
      std::make_unique<Downloader>(*upstream_, *tree_, disk_, options_.download, retrier_.get());
  durable_ = std::make_unique<GroupSync>(co_await asio::this_coro::executor, disk_,
                                         [this] { return tree_->Sync(); });
  projects_ = std::make_unique<ProjectSync>(ProjectSyncContext{
      options_, *upstream_, *downloader_, *retrier_, *tree_, *db_, disk_, *durable_, generation_,
      progress_, report_, root_changes_, control_});
  {
    net::TaskGroup workers(co_await asio::this_coro::executor);
    auto next = std::make_shared<size_t>(0);
    const size_t count = std::min(std::max<size_t>(options_.jobs, 1), progress_.projects_total);
    for (size_t i = 0; i < count; ++i) {
      workers.Spawn(Worker(next, &*diff));
    }
    co_await workers.Wait();
  }
  if (projects_->fatal()) {
    co_return tl::make_unexpected(*projects_->fatal());
  }
  report_.interrupted = StopRequested();
  if (report_.interrupted) {
    Log()->warn("sync stopped early projects_synced={} projects_left={}", report_.projects_synced,
                progress_.projects_total - progress_.projects_done);
  }
  auto finished = co_await FinishRun();
  if (!finished) {
    co_return tl::make_unexpected(finished.error());
  }
  client_->Shutdown();
  report_.net = client_->stats();
  report_.retries = retrier_->stats();
  report_.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  co_return std::move(report_);
}

net::Task<void> SyncRun::OpenDatabaseInto(std::optional<Result<void>>* opened) {
  *opened = co_await OnDisk([this] { return OpenDatabase(); });
}

net::Task<void> SyncRun::Worker(std::shared_ptr<size_t> next, const Diff* diff) {
  // Single-threaded executor: taking the next index needs no lock. Deletions go first: what
  // upstream removed (malware, often) should leave the mirror even if the run is cut short.
  const size_t total = diff->gone.size() + diff->candidates.size();
  while (*next < total && !projects_->fatal() && !StopRequested()) {
    const size_t index = (*next)++;
    if (index < diff->gone.size()) {
      co_await projects_->DeleteProject(diff->gone[index]);
    } else {
      co_await projects_->SyncProject(diff->candidates[index - diff->gone.size()]);
    }
    ++progress_.projects_done;
  }
}

net::Task<Result<void>> SyncRun::WriteRoot() {
  auto written = co_await OnDisk([this]() -> store::Result<bool> {
    const store::RelativePath json_path = RootPath("index.v1_json");
    const store::RelativePath v1_html_path = RootPath("index.v1_html");
    const store::RelativePath html_path = RootPath("index.html");
    auto previous_hash = db_->GetMeta(kMetaRootHash);
    if (!previous_hash) {
      return tl::make_unexpected(previous_hash.error());
    }
    auto previous_serial = db_->GetMeta(kMetaSerial);
    if (!previous_serial) {
      return tl::make_unexpected(previous_serial.error());
    }
    auto present = [&]() -> store::Result<bool> {
      for (const store::RelativePath* path : {&json_path, &v1_html_path, &html_path}) {
        auto size = tree_->FileSize(*path);
        if (!size) {
          return tl::make_unexpected(size.error());
        }
        if (!*size) {
          return false;
        }
      }
      return true;
    };
    const bool same_serial = ParseMetaInt(*previous_serial) == report_.serial;
    if (root_changes_.empty() && same_serial && previous_hash->has_value()) {
      auto in_place = present();
      if (!in_place || *in_place) {
        return in_place ? store::Result<bool>(false) : tl::make_unexpected(in_place.error());
      }
    }

    // The entries read at the start, with this run's changes merged in (both in name order).
    std::vector<RootEntry> entries;
    entries.reserve(mirrored_.size() + root_changes_.size());
    auto change = root_changes_.begin();
    auto take_changes_before = [&](const std::string* name) {
      for (; change != root_changes_.end() && (name == nullptr || change->first < *name);
           ++change) {
        if (change->second) {
          entries.push_back(*change->second);
        }
      }
    };
    for (RootEntry& entry : mirrored_) {
      take_changes_before(&entry.name);
      if (change != root_changes_.end() && change->first == entry.name) {
        if (change->second) {
          entries.push_back(*change->second);
        }
        ++change;
      } else {
        entries.push_back(std::move(entry));
      }
    }
    take_changes_before(nullptr);
    mirrored_ = {};

    const std::string json = RenderRootJson(entries, report_.serial);
    const std::string html = RenderRootHtml(entries);
    entries = {};
    store::Xxh3Hasher hasher;
    hasher.Update(store::AsBytes(html));
    hasher.Update(store::AsBytes(json));
    const std::string hash = std::to_string(hasher.Finish());
    if (*previous_hash == hash) {
      auto in_place = present();
      if (!in_place || *in_place) {
        return in_place ? store::Result<bool>(false) : tl::make_unexpected(in_place.error());
      }
    }
    for (const auto& [path, body] : {std::pair{&json_path, &json}, std::pair{&v1_html_path, &html},
                                     std::pair{&html_path, &html}}) {
      if (auto ok = tree_->WriteAtomic(*path, store::AsBytes(*body)); !ok) {
        return tl::make_unexpected(ok.error());
      }
    }
    store::WriteBatch batch;
    for (const auto& [path, body] : {std::pair{&json_path, &json}, std::pair{&v1_html_path, &html},
                                     std::pair{&html_path, &html}}) {
      batch.AddJournal(store::JournalEntry{
          generation_, path->str(),
          previous_hash->has_value() ? store::JournalAction::kReplaced
                                     : store::JournalAction::kAdded,
          body->size(), store::Sha256Of(store::AsBytes(*body))});
    }
    batch.PutMeta(kMetaRootHash, hash);
    // Every project is committed by now; one sync makes the root pages durable before the
    // database records them.
    if (auto synced = tree_->Sync(); !synced) {
      return tl::make_unexpected(synced.error());
    }
    if (auto ok = db_->Write(std::move(batch)); !ok) {
      return tl::make_unexpected(ok.error());
    }
    return true;
  });
  if (!written) {
    co_return tl::make_unexpected(FromStore(written.error()));
  }
  co_return Result<void>{};
}

// Unlinks the paths committed as removed (by this run, or by a killed one), pages before files,
// then clears them. A path that is wanted again (re-added by a later commit) stays.
store::Result<void> SyncRun::ApplyRemovals() {
  auto pending = db_->Removals();
  if (!pending) {
    return tl::make_unexpected(pending.error());
  }
  if (pending->empty()) {
    return {};
  }
  std::stable_partition(pending->begin(), pending->end(),
                        [](const std::string& path) { return path.starts_with("simple/"); });
  store::WriteBatch batch;
  for (const std::string& path : *pending) {
    batch.ClearRemoval(path);
    auto relative = store::RelativePath::Parse(path);
    if (!relative) {
      continue;  // never unlink what is not a valid path under web/
    }
    const std::vector<std::string_view> segments = relative->segments();
    const bool page = segments.size() == 3 && segments[0] == "simple";
    auto wanted = page ? db_->GetProject(segments[1]).map([](const auto& r) { return r.has_value(); })
                       : db_->GetFile(path).map([](const auto& r) { return r.has_value(); });
    if (!wanted) {
      return tl::make_unexpected(wanted.error());
    }
    if (*wanted) {
      continue;
    }
    if (auto ok = tree_->Remove(*relative); !ok) {
      return ok;
    }
    // One path unlinked, the others (and the removals family) not yet cleared.
    CISTERN_CRASH_POINT("sync_run.after_unlink");
    if (!page) {
      ++report_.files_removed;
    }
  }
  return db_->Write(std::move(batch));
}

net::Task<Result<void>> SyncRun::FinishRun() {
  // The mirror is complete for the upstream serial only when nothing was deferred (§1.7).
  auto previous = co_await OnDisk([this] { return db_->GetMeta(kMetaSerial); });
  if (!previous) {
    co_return tl::make_unexpected(FromStore(previous.error()));
  }
  // A run limited to some projects did not look at the others; a stale copy of the index can
  // announce a lower serial than the one already reached, which is never given back (§4).
  report_.serial = ParseMetaInt(*previous);
  if (report_.deferred.empty() && !report_.interrupted && options_.projects.empty() &&
      report_.upstream_serial && (!report_.serial || *report_.upstream_serial > *report_.serial)) {
    report_.serial = report_.upstream_serial;
  }
  if (auto root = co_await WriteRoot(); !root) {
    co_return root;
  }
  // The root index lists this run's projects; committed removals are still on disk.
  CISTERN_CRASH_POINT("sync_run.after_root");
  // Only now, with no page or root linking them any more, do removed paths leave the disk.
  if (auto removed = co_await OnDisk([this] { return ApplyRemovals(); }); !removed) {
    co_return tl::make_unexpected(FromStore(removed.error()));
  }
  report_.downloads = downloader_->stats();
  if (options_.projects.empty() && report_.deferred.empty() && !report_.interrupted) {
    // Every wanted file is in place, so any resumable partial left belongs to a file that is not
    // wanted any more.
    auto swept = co_await OnDisk(
        [this] { return tree_->RemoveResumable(std::chrono::system_clock::time_point::max()); });
    if (!swept) {
      co_return tl::make_unexpected(FromStore(swept.error()));
    }
    report_.partials_removed += *swept;
    if (*swept > 0) {
      Log()->info("removed resumable partials of files no longer wanted count={}", *swept);
    }
  }
  // Everything is on disk; the generation and serial are not recorded yet.
  CISTERN_CRASH_POINT("sync_run.before_run_record");
  auto recorded = co_await OnDisk([this]() -> store::Result<void> {
    store::WriteBatch batch;
    batch.PutMeta(kMetaGeneration, std::to_string(static_cast<uint64_t>(generation_)));
    if (report_.serial) {
      batch.PutMeta(kMetaSerial, std::to_string(*report_.serial));
    }
    std::vector<std::string> deferred;
    for (const Error& error : report_.deferred) {
      deferred.push_back(error.project);
    }
    std::sort(deferred.begin(), deferred.end());
    deferred.erase(std::unique(deferred.begin(), deferred.end()), deferred.end());
    batch.PutMeta(kMetaDeferred, JoinDeferred(deferred));
    // A record a person reads (`cistern status`): the wall clock is right here.
    const auto finished = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    batch.PutMeta(kMetaLastRun,
                  fmt::format("{{\"generation\":{},\"finished\":\"{:%Y-%m-%dT%H:%M:%SZ}\","
                              "\"projects_synced\":{},\"files_fetched\":{},\"bytes_fetched\":{},"
                              "\"files_removed\":{},\"projects_deleted\":{},\"pages_written\":{},\"deferred\":{},"
                              "\"interrupted\":{},\"seconds\":{:.1f}}}",
                              static_cast<uint64_t>(generation_), finished,
                              report_.projects_synced, report_.files_fetched,
                              report_.bytes_fetched, report_.files_removed, report_.projects_deleted,
                              report_.pages_written,
                              report_.deferred.size(), report_.interrupted,
                              std::chrono::duration<double>(Clock::now() - started_).count()));
    return db_->Write(std::move(batch));
  });
  if (!recorded) {
    co_return tl::make_unexpected(FromStore(recorded.error()));
  }
  co_return Result<void>{};
}

}  // namespace

net::Task<Result<SyncReport>> RunSync(SyncOptions options, SyncProgress& progress,
                                      SyncControl* control) {
  SyncRun run(std::move(options), progress, control);
  co_return co_await run.Run();
}

}  // namespace cistern::engine
