// MetadataDb: the RocksDB database that records what the mirror holds: projects, files, the
// change journal and run metadata. One `WriteBatch` is one atomic, durable commit.
//
// Column families and key layout are in keys.h and format.md; value encodings in records.h.
// Thread safety: every const method and `Write` may be called concurrently from any thread
// (RocksDB's `DB` is thread-safe for reads, iterators and writes). A `WriteBatch` is owned by one
// thread until it is handed to `Write`. Callbacks of `ForEach*` run on the calling thread; an
// iteration reads one implicit snapshot and does not see writes made after it started.
// Blocking: every method does disk I/O; engine/ calls them off the event loop.
// Logging: only a failed close is logged, to the spdlog logger "store" if the tool registered it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/error.h"
#include "store/records.h"

namespace cistern::store {

// A set of changes applied atomically by `MetadataDb::Write`. Operations are buffered in order and
// turned into one RocksDB write batch when written (column-family handles belong to an open
// database, so the batch cannot hold them before). Later operations on a key win.
// An invalid record (an empty project name, a '\0' in a name, an empty path) does not throw: the
// batch remembers the first such problem and `Write` rejects the whole batch with it.
// Thread safety: one thread at a time.
class WriteBatch {
 public:
  WriteBatch();
  ~WriteBatch();
  WriteBatch(const WriteBatch&) = delete;
  WriteBatch& operator=(const WriteBatch&) = delete;
  WriteBatch(WriteBatch&&) noexcept;
  WriteBatch& operator=(WriteBatch&&) noexcept;

  // projects[record.name] = record.
  void PutProject(const ProjectRecord& record);
  // Deletes the project record only; delete its files with `DeleteFile`.
  void DeleteProject(std::string_view name);
  // files[record.path] = record, and the index entry project_files[record.project, record.path].
  // Requires: if `record.path` is currently recorded under another project, `DeleteFile` that
  // old record in this batch first, or its index entry is left behind.
  void PutFile(const FileRecord& record);
  // Deletes files[record.path] and project_files[record.project, record.path]; only `path` and
  // `project` are read.
  void DeleteFile(const FileRecord& record);
  // journal[entry.generation, entry.path] = entry.
  void AddJournal(const JournalEntry& entry);
  // meta[key] = value.
  void PutMeta(std::string_view key, std::string_view value);
  // removals[path]: a path whose records this batch drops and that must leave the disk. Whoever
  // commits it unlinks the path afterwards and then clears it; a crash in between leaves it here
  // for the next run, so no unreferenced file outlives a killed process.
  void AddRemoval(std::string_view path);
  void ClearRemoval(std::string_view path);

  // Number of buffered key operations; `PutFile` and `DeleteFile` count two (files and
  // project_files).
  size_t size() const;
  bool empty() const { return size() == 0; }

 private:
  friend class MetadataDb;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct FileTotals {
  uint64_t files = 0;
  uint64_t bytes = 0;
};

class MetadataDb {
 public:
  // The schema this build writes and reads (meta "schema_version").
  static constexpr int kSchemaVersion = 1;

  MetadataDb(const MetadataDb&) = delete;
  MetadataDb& operator=(const MetadataDb&) = delete;
  ~MetadataDb();

  // Opens (creating if missing) the database in `dir` with its column families, and checks the
  // schema: a new database gets meta "schema_version" = "1".
  // Errors: Errc::kCorrupt if the schema version is newer than `kSchemaVersion` or unreadable, or
  // RocksDB reports corruption; Errc::kLocked if another process has the database open;
  // Errc::kIo, kNoSpace, kDatabase for other RocksDB failures; system codes when `dir` cannot be
  // created. Details name `dir`.
  [[nodiscard]] static Result<std::unique_ptr<MetadataDb>> Open(const std::filesystem::path& dir);

  // Opens an existing database for reading only, without taking its lock, so it can be read while
  // a sync writes it (the view is the state at the open). Writes fail.
  // Errors: Errc::kNotFound when `dir` holds no database; as Open otherwise.
  [[nodiscard]] static Result<std::unique_ptr<MetadataDb>> OpenReadOnly(
      const std::filesystem::path& dir);

  // Errors (all reads): Errc::kCorrupt when a stored value does not decode (the detail names the
  // key); Errc::kIo, kDatabase for RocksDB failures.
  [[nodiscard]] Result<std::optional<ProjectRecord>> GetProject(std::string_view name) const;

  // Calls `fn` for each project in key (byte) order until it returns false.
  [[nodiscard]] Result<void> ForEachProject(
      const std::function<bool(const ProjectRecord&)>& fn) const;

  // The files of project `name` in path order, read from one consistent snapshot.
  // Errors: also Errc::kCorrupt if the index lists a path that has no file record.
  [[nodiscard]] Result<std::vector<FileRecord>> ProjectFiles(std::string_view name) const;

  [[nodiscard]] Result<std::optional<FileRecord>> GetFile(std::string_view path) const;

  // Every pending removal (WriteBatch::AddRemoval), in path order.
  [[nodiscard]] Result<std::vector<std::string>> Removals() const;

  [[nodiscard]] Result<std::optional<std::string>> GetMeta(std::string_view key) const;

  // Calls `fn` for each journal entry with generation >= `since`, in (generation, path) order,
  // until it returns false.
  [[nodiscard]] Result<void> ForEachJournal(
      Generation since, const std::function<bool(const JournalEntry&)>& fn) const;

  // The exact number of project records. Cost: a scan of the projects keys.
  [[nodiscard]] Result<uint64_t> CountProjects() const;

  // The number of file records and the sum of their sizes. Cost: a scan of the files family.
  [[nodiscard]] Result<FileTotals> TotalFiles() const;

  // Applies `batch` atomically and durably (WriteOptions::sync = true).
  // Errors: the batch's own error (Errc::kInvalidArgument) without writing anything;
  // Errc::kNoSpace, kIo, kDatabase from RocksDB.
  [[nodiscard]] Result<void> Write(WriteBatch batch);

  const std::filesystem::path& dir() const;

 private:
  struct Impl;
  explicit MetadataDb(std::unique_ptr<Impl> impl);
  static Result<std::unique_ptr<MetadataDb>> OpenWithMode(const std::filesystem::path& dir,
                                                          bool read_only);

  std::unique_ptr<Impl> impl_;
};

}  // namespace cistern::store
