#include "engine/project_sync.h"

#include <algorithm>
#include <cassert>
#include <map>

#include <fmt/format.h>

#include "engine/internal/log.h"
#include "engine/pypi/file_location.h"
#include "engine/render/project_page.h"
#include "store/bytes.h"
#include "store/crash_point.h"

namespace cistern::engine {
namespace {

store::RelativePath PagePath(const ProjectName& name, std::string_view file) {
  // A ProjectName is a valid single segment, so this cannot fail.
  auto path = store::RelativePath::Parse(fmt::format("simple/{}/{}", name.str(), file));
  assert(path.has_value());
  return std::move(*path);
}

}  // namespace

// What one project's downloads produced: a file is `available` when it is on disk and recorded.
struct ProjectSync::FileOutcome {
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

ProjectSync::ProjectSync(const ProjectSyncContext& context)
    : options_(context.options),
      upstream_(&context.upstream),
      downloader_(&context.downloader),
      retrier_(&context.retrier),
      tree_(&context.tree),
      db_(&context.db),
      disk_(context.disk),
      durable_(context.durable),
      generation_(context.generation),
      progress_(context.progress),
      report_(context.report),
      root_changes_(context.root_changes),
      control_(context.control) {}

net::Task<Result<FetchedPage>> ProjectSync::FetchFreshPage(const ProjectToSync& candidate) {
  // Retried like a file (engine/retrier.h): transient failures (resets, timeouts, 408, 429, 5xx)
  // and a stale CDN copy, with backoff and jitter or the server's Retry-After, from the run's
  // budget. 404 and 410 are a value (`found == false`), never retried.
  const RetryRule rule{options_.page_attempts,
                       net::BackoffPolicy{options_.page_backoff, options_.download.max_backoff}};
  auto fetch = [this, &candidate] { return upstream_->FetchProject(candidate.name); };
  auto judge = [&candidate](const FetchedPage& page) -> std::optional<Error> {
    if (page.found && candidate.serial && page.serial() && *page.serial() < *candidate.serial) {
      // §1.8: a page older than the index promised is a stale CDN copy: never write it.
      return MakeError(Errc::kStalePage,
                       fmt::format("page serial {} is older than the index's {} (stale cache); "
                                   "will retry next run",
                                   *page.serial(), *candidate.serial),
                       candidate.name.str());
    }
    return std::nullopt;
  };
  auto stop = [this] { return StopRequested(); };
  std::string what = "page project=" + candidate.name.str();
  std::string origin = upstream_->index_url().origin();
  co_return co_await retrier_->Run<FetchedPage>(std::move(what), std::move(origin), rule,
                                                std::move(fetch), std::move(judge),
                                                std::move(stop));
}

net::Task<void> ProjectSync::SyncProject(const ProjectToSync& candidate) {
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

  StoredFiles stored_by_path;
  for (const store::FileRecord& record : *stored_files) {
    stored_by_path.emplace(record.path, &record);
  }

  // Fetch what is missing, a few files at a time.
  std::vector<FileOutcome> outcomes(plan.files.size());
  {
    net::TaskGroup downloads(co_await asio::this_coro::executor);
    auto next = std::make_shared<size_t>(0);
    const size_t count =
        std::min(std::max<size_t>(options_.downloads_per_project, 1), plan.files.size());
    for (size_t i = 0; i < count; ++i) {
      downloads.Spawn(DownloadWorker(next, &candidate, &plan, &stored_by_path, &outcomes));
    }
    co_await downloads.Wait();
  }
  if (fatal_) {
    co_return;
  }

  // Record what landed, whatever happens to the page, so a deferred project does not fetch its
  // files again next run.
  store::WriteBatch batch;
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
  bool fetched_any = false;  // anything published in this run that a sync must make durable
  for (size_t i = 0; i < plan.files.size(); ++i) {
    const PlannedFile& file = plan.files[i];
    const FileOutcome& outcome = outcomes[i];
    fetched_any = fetched_any || outcome.fetched || outcome.metadata_fetched;
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
      if (auto synced = co_await durable_.Wait(); !synced) {
        fatal_ = FromStore(synced.error(), name);
        co_return;
      }
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
  page_hasher.Update(store::AsBytes(html));
  page_hasher.Update(store::AsBytes(json));
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
    // The files the pages link are durable before the pages are written.
    if (fetched_any) {
      if (auto synced = co_await durable_.Wait(); !synced) {
        fatal_ = FromStore(synced.error(), name);
        co_return;
      }
    }
    // JSON first: pip and uv ask for it; HTML is the fallback. All three before the commit.
    auto written = co_await OnDisk([&]() -> store::Result<void> {
      for (const auto& [path, body] :
           {std::pair{&json_path, &json}, std::pair{&v1_html_path, &html}, std::pair{&html_path, &html}}) {
        if (auto ok = tree_->WriteAtomic(*path, store::AsBytes(*body)); !ok) {
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
          body->size(), store::Sha256Of(store::AsBytes(*body))});
    }
    ++report_.pages_written;
  }

  // Files the new page no longer lists: out of the records now; the run unlinks them after its
  // root index is written (store removals survive a crash in between).
  for (const std::string& path : plan.remove) {
    if (auto it = stored_by_path.find(path); it != stored_by_path.end()) {
      batch.DeleteFile(*it->second);
      batch.AddJournal(store::JournalEntry{generation_, path, store::JournalAction::kRemoved, 0,
                                           std::nullopt});
      batch.AddRemoval(path);
    }
  }
  // A .metadata that failed is not advertised; keeping the previous serial makes the next run
  // retry the project.
  int64_t committed_serial = mirror.serial.value_or(0);
  if (metadata_error) {
    committed_serial = candidate.stored ? static_cast<int64_t>(candidate.stored->serial) : 0;
  }
  store::ProjectRecord record{name, candidate.display_name, store::Serial{committed_serial},
                              page_hash, generation_};
  for (const FileOutcome& outcome : outcomes) {  // what the page links, for `cistern status`
    record.files += (outcome.available ? 1u : 0u) + (outcome.metadata_available ? 1u : 0u);
    record.bytes += (outcome.available ? outcome.size : 0) +
                    (outcome.metadata_available ? outcome.metadata_size : 0);
  }
  batch.PutProject(record);
  // What the record describes (pages, files) is durable before the record is.
  if (!*pages_current || fetched_any) {
    if (auto synced = co_await durable_.Wait(); !synced) {
      fatal_ = FromStore(synced.error(), name);
      co_return;
    }
  }
  // Files and pages are published; the database still holds the previous serial.
  CISTERN_CRASH_POINT("project_sync.before_commit");
  auto committed = co_await OnDisk([this, &batch] { return db_->Write(std::move(batch)); });
  if (!committed) {
    fatal_ = FromStore(committed.error(), name);
    co_return;
  }
  // Committed; the root index does not list the change yet, removed files are still on disk.
  CISTERN_CRASH_POINT("project_sync.after_commit");
  root_changes_[name] =
      RootEntry{.name = name, .display_name = candidate.display_name, .serial = committed_serial};
  ++report_.projects_synced;
  if (metadata_error) {
    Error error = std::move(*metadata_error);
    error.detail += " (its .metadata is not advertised; will retry next run)";
    Log()->warn("metadata deferred project={} reason=\"{}\"", name, error.Message());
    report_.deferred.push_back(std::move(error));
  }
}

net::Task<void> ProjectSync::DeleteProject(const store::ProjectRecord& stored) {
  const std::string& name = stored.name;
  auto parsed = ProjectName::Parse(name);
  if (!parsed) {
    fatal_ = MakeError(Errc::kLocal, "the database holds an invalid project name", name);
    co_return;
  }
  ProjectToSync probe{std::move(*parsed), stored.display_name, std::nullopt, stored};
  auto fetched = co_await FetchFreshPage(probe);
  if (!fetched) {
    Error error = fetched.error();
    error.project = name;
    error.detail = "no longer listed in the index, but its page could not be checked (" +
                   error.detail + "); kept, the next run checks again";
    Log()->warn("deletion deferred project={} reason=\"{}\"", name, error.detail);
    report_.deferred.push_back(std::move(error));
    co_return;
  }
  // Quarantined (PEP 792): PyPI leaves it out of the index and its page lists no files; an index
  // must not offer them, and a fresh mirror would not hold the project at all.
  const bool quarantined = fetched->found && fetched->page.status.status == "quarantined";
  if (fetched->found && !quarantined) {
    // The index and the page disagree: keep what we have rather than delete on a glitch.
    Error warning = MakeError(
        Errc::kProjectPage,
        fmt::format("no longer listed in the index, but GET {} still answers; kept until the page "
                    "is gone",
                    fetched->url.str()),
        name);
    Log()->warn("deletion skipped project={} reason=\"{}\"", name, warning.detail);
    report_.warnings.push_back(std::move(warning));
    co_return;
  }

  auto files = co_await OnDisk([this, &name] { return db_->ProjectFiles(name); });
  if (!files) {
    fatal_ = FromStore(files.error(), name);
    co_return;
  }
  store::WriteBatch batch;
  auto remove = [&](const std::string& path) {
    batch.AddJournal(
        store::JournalEntry{generation_, path, store::JournalAction::kRemoved, 0, std::nullopt});
    batch.AddRemoval(path);
  };
  for (const char* page : {"index.v1_json", "index.v1_html", "index.html"}) {
    remove(PagePath(probe.name, page).str());
  }
  for (const store::FileRecord& file : *files) {
    batch.DeleteFile(file);
    remove(file.path);
  }
  batch.DeleteProject(name);
  auto committed = co_await OnDisk([this, &batch] { return db_->Write(std::move(batch)); });
  if (!committed) {
    fatal_ = FromStore(committed.error(), name);
    co_return;
  }
  // Its records are gone and its paths queued as removals; the root still lists it, its pages
  // and files are still on disk.
  CISTERN_CRASH_POINT("project_sync.after_delete_commit");
  root_changes_[name] = std::nullopt;
  ++report_.projects_deleted;
  Log()->info("project deleted project={} files={} reason={}", name, files->size(),
              quarantined ? "quarantined" : "page gone");
}

net::Task<void> ProjectSync::DownloadWorker(std::shared_ptr<size_t> next,
                                            const ProjectToSync* candidate,
                                            const ProjectPlan* plan, const StoredFiles* stored,
                                            std::vector<FileOutcome>* outcomes) {
  while (*next < plan->files.size() && !fatal_) {
    const size_t index = (*next)++;
    co_await FetchOne(*candidate, plan->files[index], *stored, (*outcomes)[index]);
  }
}

net::Task<void> ProjectSync::FetchOne(const ProjectToSync& candidate, const PlannedFile& file,
                                      const StoredFiles& stored, FileOutcome& outcome) {
  const std::string& name = candidate.name.str();
  auto present = co_await OnDisk([&]() -> store::Result<std::optional<store::FileRecord>> {
    if (!file.stored) {
      return std::nullopt;
    }
    return RecordedOnDisk(stored, file.path);
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
    auto record = co_await OnDisk([&] { return RecordedOnDisk(stored, metadata.path); });
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
                  std::nullopt,   /*urgent=*/true};
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

// The record of `path` (read at the start of the project's sync) if the file is on disk with the
// recorded size; nullopt when it is not recorded or is missing or damaged on disk (then it is
// fetched again). Blocking.
store::Result<std::optional<store::FileRecord>> ProjectSync::RecordedOnDisk(
    const StoredFiles& stored, const store::RelativePath& path) {
  auto it = stored.find(path.str());
  if (it == stored.end()) {
    return std::nullopt;
  }
  auto size = tree_->FileSize(path);
  if (!size) {
    return tl::make_unexpected(size.error());
  }
  if (!*size || **size != it->second->size) {
    return std::nullopt;
  }
  return *it->second;
}

}  // namespace cistern::engine
