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
#include "engine/pypi/file_location.h"
#include "engine/internal/log.h"
#include "engine/internal/run_record.h"
#include "engine/render/project_page.h"
#include "engine/render/root_index.h"
#include "store/lock_file.h"
#include "store/metadata_db.h"

namespace cistern::engine {
namespace {

using Clock = std::chrono::steady_clock;


// One project to look at in this run.
struct Candidate {
  ProjectName name;
  std::string display_name;
  std::optional<int64_t> serial;  // what the index root promised
  std::optional<store::ProjectRecord> stored;
};

// What one project's downloads produced: a file is `available` when it is on disk and recorded.
struct FileOutcome {
  bool available = false;
  bool fetched = false;
  store::Sha256Digest sha256;
  uint64_t size = 0;
  bool metadata_available = false;
  bool metadata_fetched = false;
  store::Sha256Digest metadata_sha256;
  uint64_t metadata_size = 0;
  std::optional<Error> error;           // the file itself failed
  std::optional<Error> metadata_error;  // only its .metadata failed
};

std::span<const uint8_t> Bytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

store::RelativePath PagePath(const ProjectName& name, std::string_view file) {
  // A ProjectName is a valid single segment, so this cannot fail.
  auto path = store::RelativePath::Parse(fmt::format("simple/{}/{}", name.str(), file));
  assert(path.has_value());
  return std::move(*path);
}

store::RelativePath RootPath(std::string_view file) {
  auto path = store::RelativePath::Parse(fmt::format("simple/{}", file));
  assert(path.has_value());
  return std::move(*path);
}

std::optional<int64_t> ParseInt(const std::optional<std::string>& text) {
  if (!text) {
    return std::nullopt;
  }
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (error != std::errc() || end != text->data() + text->size()) {
    return std::nullopt;
  }
  return value;
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
  Result<std::vector<Candidate>> SelectCandidates(const RootIndex& index);
  net::Task<void> Worker(std::shared_ptr<size_t> next, const std::vector<Candidate>* candidates);
  net::Task<void> SyncProject(const Candidate& candidate);
  net::Task<Result<FetchedPage>> FetchFreshPage(const Candidate& candidate);
  net::Task<void> DownloadWorker(std::shared_ptr<size_t> next, const Candidate* candidate,
                                 const ProjectPlan* plan, std::vector<FileOutcome>* outcomes);
  net::Task<void> FetchOne(const Candidate& candidate, const PlannedFile& file,
                           FileOutcome& outcome);
  store::Result<std::optional<store::FileRecord>> RecordedOnDisk(const store::RelativePath& path);
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
  store::Generation generation_{};
  Clock::time_point started_ = Clock::now();
  std::optional<Error> fatal_;  // a local error that ends the run
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
  generation_ = store::Generation{static_cast<uint64_t>(ParseInt(*generation).value_or(0) + 1)};
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
Result<std::vector<Candidate>> SyncRun::SelectCandidates(const RootIndex& index) {
  std::unordered_set<std::string> wanted;
  for (const std::string& requested : options_.projects) {
    wanted.insert(NormalizeProjectName(requested));
  }
  std::unordered_set<std::string> seen;
  std::vector<Candidate> candidates;
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
      candidates.push_back(Candidate{std::move(*name), entry.name, entry.last_serial,
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
    for (const Candidate& candidate : *candidates) {
      report_.would_sync.push_back(candidate.name.str());
    }
    report_.net = client_->stats();
    report_.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    co_return std::move(report_);
  }

  report_.generation = static_cast<uint64_t>(generation_);
  progress_.projects_total = candidates->size();
  downloader_ = std::make_unique<Downloader>(*upstream_, *tree_, disk_, options_.download);
  {
    net::TaskGroup workers(co_await asio::this_coro::executor);
    auto next = std::make_shared<size_t>(0);
    const size_t count = std::min(std::max<size_t>(options_.jobs, 1), candidates->size());
    for (size_t i = 0; i < count; ++i) {
      workers.Spawn(Worker(next, &*candidates));
    }
    co_await workers.Wait();
  }
  if (fatal_) {
    co_return tl::make_unexpected(*fatal_);
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
                                const std::vector<Candidate>* candidates) {
  // Single-threaded executor: taking the next index needs no lock.
  while (*next < candidates->size() && !fatal_ && !StopRequested()) {
    const Candidate& candidate = (*candidates)[(*next)++];
    co_await SyncProject(candidate);
    ++progress_.projects_done;
  }
}

net::Task<Result<FetchedPage>> SyncRun::FetchFreshPage(const Candidate& candidate) {
  std::chrono::milliseconds backoff = options_.page_backoff;
  for (int attempt = 1;; ++attempt) {
    auto page = co_await upstream_->FetchProject(candidate.name);
    std::optional<Error> problem;
    if (!page) {
      if (!page.error().transient) {
        co_return page;
      }
      problem = page.error();
    } else if (page->found && candidate.serial && page->serial() &&
               *page->serial() < *candidate.serial) {
      // §1.8: a page older than the index promised is a stale CDN copy: never write it.
      problem = MakeError(Errc::kStalePage,
                          fmt::format("page serial {} is older than the index's {} (stale cache); "
                                      "will retry next run",
                                      *page->serial(), *candidate.serial),
                          candidate.name.str());
    } else {
      co_return page;
    }
    auto state = co_await asio::this_coro::cancellation_state;
    if (attempt >= options_.page_attempts || StopRequested() ||
        state.cancelled() != asio::cancellation_type::none) {
      co_return tl::make_unexpected(std::move(*problem));
    }
    Log()->warn("page retry project={} attempt={} reason=\"{}\"", candidate.name.str(), attempt,
                problem->detail);
    co_await net::SleepFor(backoff);
    backoff *= 2;
  }
}

net::Task<void> SyncRun::SyncProject(const Candidate& candidate) {
  const std::string& name = candidate.name.str();
  auto fetched = co_await FetchFreshPage(candidate);
  if (!fetched) {
    Error error = fetched.error();
    error.project = name;
    Log()->warn("project deferred project={} reason=\"{}\"", name, error.detail);
    report_.deferred.push_back(std::move(error));
    co_return;
  }
  if (!fetched->found) {
    // Listed in the index but 404: the index may be newer than the page cache, or the project
    // was just deleted. Deletions are decided by the index (issue 5); retry next run.
    report_.deferred.push_back(MakeError(
        Errc::kProjectPage,
        fmt::format("GET {}: HTTP 404 although the index lists it; will retry next run",
                    fetched->url.str()),
        name));
    co_return;
  }

  auto stored_files = co_await OnDisk([this, &name] { return db_->ProjectFiles(name); });
  if (!stored_files) {
    fatal_ = FromStore(stored_files.error(), name);
    co_return;
  }
  const ProjectPlan plan =
      PlanProject(candidate.name, fetched->page, fetched->url, *stored_files, options_.rules);
  for (const RejectedFile& rejected : plan.rejected) {
    Log()->warn("file rejected project={} reason=\"{}\"", name, rejected.error.detail);
    report_.warnings.push_back(rejected.error);
  }

  // Fetch what is missing, a few files at a time.
  std::vector<FileOutcome> outcomes(plan.files.size());
  {
    net::TaskGroup downloads(co_await asio::this_coro::executor);
    auto next = std::make_shared<size_t>(0);
    const size_t count =
        std::min(std::max<size_t>(options_.downloads_per_project, 1), plan.files.size());
    for (size_t i = 0; i < count; ++i) {
      downloads.Spawn(DownloadWorker(next, &candidate, &plan, &outcomes));
    }
    co_await downloads.Wait();
  }
  if (fatal_) {
    co_return;
  }

  // Record what landed, whatever happens to the page, so a deferred project does not fetch its
  // files again next run.
  store::WriteBatch batch;
  std::map<std::string, const store::FileRecord*> stored_by_path;
  for (const store::FileRecord& record : *stored_files) {
    stored_by_path.emplace(record.path, &record);
  }
  auto record_file = [&](const store::RelativePath& path, const net::Url& url,
                         const store::Sha256Digest& sha256, uint64_t size) {
    const bool replaced = stored_by_path.contains(path.str());
    batch.PutFile(store::FileRecord{path.str(), name, sha256, size, url.str(),
                                    store::FileState::kPresent, generation_});
    batch.AddJournal(store::JournalEntry{
        generation_, path.str(),
        replaced ? store::JournalAction::kReplaced : store::JournalAction::kAdded, size, sha256});
  };
  std::optional<Error> file_error;
  std::optional<Error> metadata_error;
  for (size_t i = 0; i < plan.files.size(); ++i) {
    const PlannedFile& file = plan.files[i];
    const FileOutcome& outcome = outcomes[i];
    if (outcome.fetched) {
      record_file(file.path, file.url, outcome.sha256, outcome.size);
    }
    if (outcome.metadata_fetched) {
      record_file(file.metadata->path, file.metadata->url, outcome.metadata_sha256,
                  outcome.metadata_size);
    }
    if (outcome.error && !file_error) {
      file_error = outcome.error;
    }
    if (outcome.metadata_error && !metadata_error) {
      metadata_error = outcome.metadata_error;
    }
  }

  if (file_error) {
    // Keep the previous page and files; the files that did land are recorded above.
    if (!batch.empty()) {
      auto written = co_await OnDisk([this, &batch] { return db_->Write(std::move(batch)); });
      if (!written) {
        fatal_ = FromStore(written.error(), name);
        co_return;
      }
    }
    Log()->warn("project deferred project={} reason=\"{}\"", name, file_error->Message());
    report_.deferred.push_back(std::move(*file_error));
    co_return;
  }

  // Render from what is on disk: a .metadata file is advertised only when present (§2.7).
  MirrorProject mirror{.name = name,
                       .serial = fetched->serial().has_value() ? fetched->serial() : candidate.serial,
                       .versions = plan.versions,
                       .files = {},
                       .status = plan.status};
  mirror.files.reserve(plan.files.size());
  for (size_t i = 0; i < plan.files.size(); ++i) {
    const PlannedFile& file = plan.files[i];
    const FileOutcome& outcome = outcomes[i];
    MirrorFile served{.filename = file.upstream.filename,
                      .href = PageRelativeUrl(file.path),
                      .sha256 = outcome.sha256,
                      .size = outcome.size,
                      .requires_python = file.upstream.requires_python,
                      .upload_time = file.upstream.upload_time,
                      .yanked = file.upstream.yanked,
                      .core_metadata = std::nullopt};
    if (outcome.metadata_available) {
      served.core_metadata = outcome.metadata_sha256;
    }
    mirror.files.push_back(std::move(served));
  }
  const std::string html = RenderProjectHtml(mirror);
  const std::string json = RenderProjectJson(mirror);
  store::Xxh3Hasher page_hasher;
  page_hasher.Update(Bytes(html));
  page_hasher.Update(Bytes(json));
  const uint64_t page_hash = page_hasher.Finish();

  const store::RelativePath html_path = PagePath(candidate.name, "index.html");
  const store::RelativePath v1_html_path = PagePath(candidate.name, "index.v1_html");
  const store::RelativePath json_path = PagePath(candidate.name, "index.v1_json");
  const bool had_pages = candidate.stored.has_value();
  auto pages_current = co_await OnDisk([&]() -> store::Result<bool> {
    if (!candidate.stored || candidate.stored->page_hash != page_hash) {
      return false;
    }
    for (const store::RelativePath* path : {&html_path, &v1_html_path, &json_path}) {
      auto size = tree_->FileSize(*path);
      if (!size) {
        return tl::make_unexpected(size.error());
      }
      if (!*size) {
        return false;
      }
    }
    return true;
  });
  if (!pages_current) {
    fatal_ = FromStore(pages_current.error(), name);
    co_return;
  }
  if (!*pages_current) {
    // JSON first: pip and uv ask for it; HTML is the fallback. All three before the commit.
    auto written = co_await OnDisk([&]() -> store::Result<void> {
      for (const auto& [path, body] :
           {std::pair{&json_path, &json}, std::pair{&v1_html_path, &html}, std::pair{&html_path, &html}}) {
        if (auto ok = tree_->WriteAtomic(*path, Bytes(*body)); !ok) {
          return ok;
        }
      }
      return {};
    });
    if (!written) {
      fatal_ = FromStore(written.error(), name);
      co_return;
    }
    for (const auto& [path, body] :
         {std::pair{&json_path, &json}, std::pair{&v1_html_path, &html}, std::pair{&html_path, &html}}) {
      batch.AddJournal(store::JournalEntry{
          generation_, path->str(),
          had_pages ? store::JournalAction::kReplaced : store::JournalAction::kAdded,
          body->size(), store::Sha256Of(Bytes(*body))});
    }
    ++report_.pages_written;
  }

  // Files the new page no longer lists: out of the records now, off the disk after the commit.
  for (const std::string& path : plan.remove) {
    if (auto it = stored_by_path.find(path); it != stored_by_path.end()) {
      batch.DeleteFile(*it->second);
      batch.AddJournal(store::JournalEntry{generation_, path, store::JournalAction::kRemoved, 0,
                                           std::nullopt});
    }
  }
  // A .metadata that failed is not advertised; keeping the previous serial makes the next run
  // retry the project.
  int64_t committed_serial = mirror.serial.value_or(0);
  if (metadata_error) {
    committed_serial = candidate.stored ? static_cast<int64_t>(candidate.stored->serial) : 0;
  }
  batch.PutProject(store::ProjectRecord{name, candidate.display_name,
                                        store::Serial{committed_serial}, page_hash, generation_});
  auto committed = co_await OnDisk([this, &batch] { return db_->Write(std::move(batch)); });
  if (!committed) {
    fatal_ = FromStore(committed.error(), name);
    co_return;
  }
  if (!plan.remove.empty()) {
    auto removed = co_await OnDisk([&]() -> store::Result<void> {
      for (const std::string& path : plan.remove) {
        auto relative = store::RelativePath::Parse(path);
        if (!relative) {
          return tl::make_unexpected(relative.error());
        }
        if (auto ok = tree_->Remove(*relative); !ok) {
          return ok;
        }
      }
      return {};
    });
    if (!removed) {
      fatal_ = FromStore(removed.error(), name);
      co_return;
    }
    report_.files_removed += plan.remove.size();
  }
  ++report_.projects_synced;
  if (metadata_error) {
    Error error = std::move(*metadata_error);
    error.detail += " (its .metadata is not advertised; will retry next run)";
    Log()->warn("metadata deferred project={} reason=\"{}\"", name, error.Message());
    report_.deferred.push_back(std::move(error));
  }
}

net::Task<void> SyncRun::DownloadWorker(std::shared_ptr<size_t> next, const Candidate* candidate,
                                        const ProjectPlan* plan,
                                        std::vector<FileOutcome>* outcomes) {
  while (*next < plan->files.size() && !fatal_) {
    const size_t index = (*next)++;
    co_await FetchOne(*candidate, plan->files[index], (*outcomes)[index]);
  }
}

net::Task<void> SyncRun::FetchOne(const Candidate& candidate, const PlannedFile& file,
                                  FileOutcome& outcome) {
  const std::string& name = candidate.name.str();
  auto present = co_await OnDisk([&]() -> store::Result<std::optional<store::FileRecord>> {
    if (!file.stored) {
      return std::nullopt;
    }
    return RecordedOnDisk(file.path);
  });
  if (!present) {
    fatal_ = FromStore(present.error(), name, file.upstream.filename);
    co_return;
  }
  if (*present) {
    outcome.available = true;
    outcome.sha256 = (*present)->sha256;
    outcome.size = (*present)->size;
  } else {
    // A named job: GCC 12 mis-destroys brace-initialized temporaries in co_await arguments.
    DownloadJob job{name,        file.upstream.filename, file.url,           file.path,
                    file.sha256, file.verify,            file.upstream.size};
    auto downloaded = co_await downloader_->Download(std::move(job));
    if (!downloaded) {
      if (IsLocal(downloaded.error())) {
        fatal_ = downloaded.error();
      } else {
        outcome.error = downloaded.error();
      }
      co_return;
    }
    outcome.available = true;
    outcome.fetched = true;
    outcome.sha256 = downloaded->sha256;
    outcome.size = downloaded->size;
    ++progress_.files_fetched;
    progress_.bytes_fetched += downloaded->size;
    ++report_.files_fetched;
    report_.bytes_fetched += downloaded->size;
  }

  if (!file.metadata) {
    co_return;
  }
  const PlannedMetadata& metadata = *file.metadata;
  if (metadata.stored) {
    auto record = co_await OnDisk([&] { return RecordedOnDisk(metadata.path); });
    if (!record) {
      fatal_ = FromStore(record.error(), name, file.upstream.filename);
      co_return;
    }
    if (*record) {
      outcome.metadata_available = true;
      outcome.metadata_sha256 = (*record)->sha256;
      outcome.metadata_size = (*record)->size;
      co_return;
    }
  }
  DownloadJob job{name,           file.upstream.filename + ".metadata",
                  metadata.url,   metadata.path,
                  metadata.sha256, std::nullopt,
                  std::nullopt};
  auto downloaded = co_await downloader_->Download(std::move(job));
  if (!downloaded) {
    if (IsLocal(downloaded.error())) {
      fatal_ = downloaded.error();
    } else {
      outcome.metadata_error = downloaded.error();
    }
    co_return;
  }
  outcome.metadata_available = true;
  outcome.metadata_fetched = true;
  outcome.metadata_sha256 = downloaded->sha256;
  outcome.metadata_size = downloaded->size;
  ++progress_.files_fetched;
  progress_.bytes_fetched += downloaded->size;
  ++report_.files_fetched;
  report_.bytes_fetched += downloaded->size;
}

// The database's record of `path` if the file is on disk with the recorded size; nullopt when it
// is not recorded or is missing or damaged on disk (then it is fetched again). Blocking.
store::Result<std::optional<store::FileRecord>> SyncRun::RecordedOnDisk(
    const store::RelativePath& path) {
  auto record = db_->GetFile(path.str());
  if (!record || !*record) {
    return record;
  }
  auto size = tree_->FileSize(path);
  if (!size) {
    return tl::make_unexpected(size.error());
  }
  if (!*size || **size != (*record)->size) {
    return std::optional<store::FileRecord>{};
  }
  return record;
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
    hasher.Update(Bytes(html));
    hasher.Update(Bytes(json));
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
      if (auto ok = tree_->WriteAtomic(*path, Bytes(*body)); !ok) {
        return tl::make_unexpected(ok.error());
      }
    }
    store::WriteBatch batch;
    for (const auto& [path, body] :
         {std::pair{&json_path, &json}, std::pair{&v1_html_path, &html}, std::pair{&html_path, &html}}) {
      batch.AddJournal(store::JournalEntry{
          generation_, path->str(),
          previous->has_value() ? store::JournalAction::kReplaced : store::JournalAction::kAdded,
          body->size(), store::Sha256Of(Bytes(*body))});
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
  report_.serial = ParseInt(*previous);
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
