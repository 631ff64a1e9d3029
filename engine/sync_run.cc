#include "engine/sync_run.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <map>
#include <memory>
#include <unordered_set>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "engine/http_upstream.h"
#include "engine/project_sync.h"
#include "engine/pypi/file_location.h"
#include "engine/internal/log.h"
#include "engine/internal/run_record.h"
#include "engine/render/project_page.h"
#include "engine/render/root_index.h"
#include "store/bytes.h"
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
  Result<void> OpenMirror();
  Result<std::vector<ProjectToSync>> SelectCandidates(const RootIndex& index);
  net::Task<void> Worker(std::shared_ptr<size_t> next, const std::vector<ProjectToSync>* candidates);
  net::Task<Result<void>> WriteRoot();
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
  std::unique_ptr<Downloader> downloader_;
  std::unique_ptr<ProjectSync> projects_;
  store::Generation generation_{};
  Clock::time_point started_ = Clock::now();
  SyncReport report_;
};

Result<void> SyncRun::OpenMirror() {
  auto tree = store::Tree::Open(options_.mirror, options_.tree);
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
  auto db = store::MetadataDb::Open(state / "db");
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
  return {};
}

// Validates names, applies the project filter and diffs serials against the database.
Result<std::vector<ProjectToSync>> SyncRun::SelectCandidates(const RootIndex& index) {
  std::unordered_set<std::string> wanted;
  for (const std::string& requested : options_.projects) {
    wanted.insert(NormalizeProjectName(requested));
  }
  std::unordered_set<std::string> seen;
  std::vector<ProjectToSync> candidates;
  for (const IndexEntry& entry : index.projects) {
    auto name = ProjectName::Parse(entry.name);
    if (!name) {
      report_.warnings.push_back(name.error());
      continue;
    }
    if (!wanted.empty() && !wanted.contains(name->str())) {
      continue;
    }
    if (!seen.insert(name->str()).second) {
      // Impossible on PyPI (normalized names are unique); never write two directories.
      report_.warnings.push_back(MakeError(
          Errc::kInvalidName,
          fmt::format("\"{}\" normalizes to a name listed before; ignored", entry.name),
          name->str()));
      continue;
    }
    ++report_.projects_upstream;
    std::optional<store::ProjectRecord> stored;
    if (db_) {
      auto record = db_->GetProject(name->str());
      if (!record) {
        return tl::make_unexpected(FromStore(record.error(), name->str()));
      }
      stored = std::move(*record);
    }
    const bool changed = !stored || !entry.last_serial ||
                         static_cast<int64_t>(stored->serial) < *entry.last_serial;
    if (changed) {
      candidates.push_back(ProjectToSync{std::move(*name), entry.name, entry.last_serial,
                                     std::move(stored)});
    }
  }
  for (const std::string& requested : wanted) {
    if (!seen.contains(requested)) {
      report_.warnings.push_back(MakeError(
          Errc::kInvalidName, "not listed in the upstream index; nothing to sync", requested));
    }
  }
  return candidates;
}

net::Task<Result<SyncReport>> SyncRun::Run() {
  const auto started = Clock::now();
  auto index_url = IndexUrlFromUpstream(options_.upstream);
  if (!index_url) {
    co_return tl::make_unexpected(index_url.error());
  }
  if (!options_.dry_run || std::filesystem::exists(options_.mirror / "state" / "db")) {
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
  upstream_ = std::make_unique<HttpUpstream>(*client_, *index_url);

  auto root = co_await upstream_->FetchRoot();
  if (!root) {
    Error error = root.error();
    error.code = make_error_code(Errc::kUpstreamIndex);
    co_return tl::make_unexpected(std::move(error));
  }
  report_.upstream_serial = root->index.last_serial ? root->index.last_serial : root->header_serial;

  auto candidates = co_await OnDisk([this, &root] { return SelectCandidates(root->index); });
  if (!candidates) {
    co_return tl::make_unexpected(candidates.error());
  }
  report_.projects_changed = candidates->size();
  if (options_.dry_run) {
    for (const ProjectToSync& candidate : *candidates) {
      report_.would_sync.push_back(candidate.name.str());
    }
    report_.net = client_->stats();
    report_.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    co_return std::move(report_);
  }

  report_.generation = static_cast<uint64_t>(generation_);
  progress_.projects_total = candidates->size();
  downloader_ = std::make_unique<Downloader>(*upstream_, *tree_, disk_, options_.download);
  projects_ = std::make_unique<ProjectSync>(ProjectSyncContext{
      options_, *upstream_, *downloader_, *tree_, *db_, disk_, generation_, progress_, report_,
      control_});
  {
    net::TaskGroup workers(co_await asio::this_coro::executor);
    auto next = std::make_shared<size_t>(0);
    const size_t count = std::min(std::max<size_t>(options_.jobs, 1), candidates->size());
    for (size_t i = 0; i < count; ++i) {
      workers.Spawn(Worker(next, &*candidates));
    }
    co_await workers.Wait();
  }
  if (projects_->fatal()) {
    co_return tl::make_unexpected(*projects_->fatal());
  }
  report_.interrupted = StopRequested();
  if (report_.interrupted) {
    Log()->warn("sync stopped early projects_synced={} projects_left={}", report_.projects_synced,
                candidates->size() - progress_.projects_done);
  }
  auto finished = co_await FinishRun();
  if (!finished) {
    co_return tl::make_unexpected(finished.error());
  }
  client_->Shutdown();
  report_.net = client_->stats();
  report_.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  co_return std::move(report_);
}

net::Task<void> SyncRun::Worker(std::shared_ptr<size_t> next,
                                const std::vector<ProjectToSync>* candidates) {
  // Single-threaded executor: taking the next index needs no lock.
  while (*next < candidates->size() && !projects_->fatal() && !StopRequested()) {
    const ProjectToSync& candidate = (*candidates)[(*next)++];
    co_await projects_->SyncProject(candidate);
    ++progress_.projects_done;
  }
}

net::Task<Result<void>> SyncRun::WriteRoot() {
  auto written = co_await OnDisk([this]() -> store::Result<bool> {
    std::vector<RootEntry> entries;
    auto listed = db_->ForEachProject([&entries](const store::ProjectRecord& record) {
      entries.push_back(
          RootEntry{record.name, record.display_name, static_cast<int64_t>(record.serial)});
      return true;
    });
    if (!listed) {
      return tl::make_unexpected(listed.error());
    }
    const std::optional<int64_t> serial = report_.serial;
    const std::string json = RenderRootJson(entries, serial);
    const std::string html = RenderRootHtml(entries);
    store::Xxh3Hasher hasher;
    hasher.Update(store::AsBytes(html));
    hasher.Update(store::AsBytes(json));
    const std::string hash = std::to_string(hasher.Finish());
    auto previous = db_->GetMeta(kMetaRootHash);
    if (!previous) {
      return tl::make_unexpected(previous.error());
    }
    const store::RelativePath json_path = RootPath("index.v1_json");
    const store::RelativePath v1_html_path = RootPath("index.v1_html");
    const store::RelativePath html_path = RootPath("index.html");
    if (*previous == hash) {
      auto present = tree_->FileSize(html_path);
      if (!present) {
        return tl::make_unexpected(present.error());
      }
      if (*present) {
        return false;
      }
    }
    for (const auto& [path, body] :
         {std::pair{&json_path, &json}, std::pair{&v1_html_path, &html}, std::pair{&html_path, &html}}) {
      if (auto ok = tree_->WriteAtomic(*path, store::AsBytes(*body)); !ok) {
        return tl::make_unexpected(ok.error());
      }
    }
    store::WriteBatch batch;
    for (const auto& [path, body] :
         {std::pair{&json_path, &json}, std::pair{&v1_html_path, &html}, std::pair{&html_path, &html}}) {
      batch.AddJournal(store::JournalEntry{
          generation_, path->str(),
          previous->has_value() ? store::JournalAction::kReplaced : store::JournalAction::kAdded,
          body->size(), store::Sha256Of(store::AsBytes(*body))});
    }
    batch.PutMeta(kMetaRootHash, hash);
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

net::Task<Result<void>> SyncRun::FinishRun() {
  // The mirror is complete for the upstream serial only when nothing was deferred (§1.7).
  auto previous = co_await OnDisk([this] { return db_->GetMeta(kMetaSerial); });
  if (!previous) {
    co_return tl::make_unexpected(FromStore(previous.error()));
  }
  report_.serial = ParseMetaInt(*previous);
  if (report_.deferred.empty() && !report_.interrupted && report_.upstream_serial) {
    report_.serial = report_.upstream_serial;
  }
  if (auto root = co_await WriteRoot(); !root) {
    co_return root;
  }
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
                              "\"files_removed\":{},\"pages_written\":{},\"deferred\":{},"
                              "\"interrupted\":{},\"seconds\":{:.1f}}}",
                              static_cast<uint64_t>(generation_), finished,
                              report_.projects_synced, report_.files_fetched,
                              report_.bytes_fetched, report_.files_removed, report_.pages_written,
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
