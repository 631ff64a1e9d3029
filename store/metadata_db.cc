#include "store/metadata_db.h"

#include <algorithm>
#include <charconv>
#include <cstdarg>
#include <cstdio>
#include <iterator>
#include <utility>

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/snapshot.h>
#include <rocksdb/status.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include "store/keys.h"

namespace cistern::store {
namespace fs = std::filesystem;

namespace {

enum class Family : size_t {
  kProjects,
  kFiles,
  kProjectFiles,
  kJournal,
  kMeta,
  kRemovals,
  kCount
};

constexpr std::string_view kFamilyNames[] = {keys::kProjectsFamily,     keys::kFilesFamily,
                                             keys::kProjectFilesFamily, keys::kJournalFamily,
                                             keys::kMetaFamily,         keys::kRemovalsFamily};
static_assert(std::size(kFamilyNames) == static_cast<size_t>(Family::kCount));

// Closing a database whose memtables hold at least this much flushes them (see ~Impl).
constexpr uint64_t kFlushAtCloseBytes = 1 << 20;

// RocksDB's info log, sent to the "store" logger (at debug level, fatal at error) instead of
// a LOG file in the database directory. With a LOG file, a full disk aborted the process: RocksDB
// 7.8 as Debian builds it (assertions on) hits `assert(sync_without_flush_called_)` in
// WritableFileWriter on the first info-log write after one that failed, so `cistern sync` died
// with SIGABRT instead of ending with exit status 5.
class InfoLogToSpdlog final : public rocksdb::Logger {
 public:
  InfoLogToSpdlog() : rocksdb::Logger(rocksdb::InfoLogLevel::INFO_LEVEL) {}

  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }

  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    auto logger = spdlog::get("store");
    if (!logger) {
      return;  // libraries never write to the terminal themselves (style §16)
    }
    // A failure that matters reaches the caller as a Status, whose text the error carries; the
    // info log's copy (with dumps of internal state) is for debugging.
    const spdlog::level::level_enum spd_level =
        level >= rocksdb::InfoLogLevel::FATAL_LEVEL ? spdlog::level::err : spdlog::level::debug;
    if (!logger->should_log(spd_level)) {
      return;
    }
    char text[1024];
    const int length = std::vsnprintf(text, sizeof(text), format, ap);
    if (length < 0) {
      return;
    }
    logger->log(spd_level, "rocksdb: {}", text);
  }
};

// The RocksDB Status mapping (style §7): the code says what kind of failure, the detail keeps
// RocksDB's own text ("IO error: No space left on device: ...").
Error StatusError(const rocksdb::Status& status, const std::string& detail) {
  Errc code = Errc::kDatabase;
  if (status.IsNoSpace()) {
    code = Errc::kNoSpace;
  } else if (status.IsCorruption()) {
    code = Errc::kCorrupt;
  } else if (status.IsIOError()) {
    // The database is already open: RocksDB's LOCK file is taken. RocksDB 7.8 reports it only
    // as text: "While lock file: <dir>/LOCK: Resource temporarily unavailable" (another process)
    // or "lock hold by current process, ..." (this process).
    const std::string text = status.ToString();
    const bool is_lock = text.find("While lock file") != std::string::npos ||
                         text.find("lock hold by current process") != std::string::npos;
    code = is_lock ? Errc::kLocked : Errc::kIo;
  } else if (status.IsNotFound()) {
    code = Errc::kNotFound;
  }
  return MakeError(code, detail + ": " + status.ToString());
}

rocksdb::Slice ToSlice(std::string_view text) { return {text.data(), text.size()}; }
std::string_view ToView(const rocksdb::Slice& slice) { return {slice.data(), slice.size()}; }

// Why a name or path cannot be stored, or an empty string.
std::string CheckKeyPart(std::string_view what, std::string_view value) {
  if (value.empty()) {
    return std::string(what) + " is empty";
  }
  if (value.find('\0') != std::string_view::npos) {
    return std::string(what) + " contains NUL";
  }
  return {};
}

}  // namespace

// ---- WriteBatch ----

struct WriteBatch::Impl {
  struct Op {
    Family family;
    bool is_delete;
    std::string key;
    std::string value;
  };
  std::vector<Op> ops;
  std::optional<Error> error;

  void Put(Family family, std::string key, std::string value) {
    ops.push_back(Op{family, false, std::move(key), std::move(value)});
  }
  void Delete(Family family, std::string key) {
    ops.push_back(Op{family, true, std::move(key), {}});
  }
  bool Check(std::string_view what, std::string_view value) {
    std::string reason = CheckKeyPart(what, value);
    if (reason.empty()) {
      return true;
    }
    if (!error) {
      error = MakeError(Errc::kInvalidArgument,
                        "write batch: " + reason + " (\"" + EscapeForMessage(value) + "\")");
    }
    return false;
  }
};

WriteBatch::WriteBatch() : impl_(std::make_unique<Impl>()) {}
WriteBatch::~WriteBatch() = default;
WriteBatch::WriteBatch(WriteBatch&&) noexcept = default;
WriteBatch& WriteBatch::operator=(WriteBatch&&) noexcept = default;

void WriteBatch::PutProject(const ProjectRecord& record) {
  if (impl_->Check("project name", record.name)) {
    impl_->Put(Family::kProjects, keys::ProjectKey(record.name), Encode(record));
  }
}

void WriteBatch::DeleteProject(std::string_view name) {
  if (impl_->Check("project name", name)) {
    impl_->Delete(Family::kProjects, keys::ProjectKey(name));
  }
}

void WriteBatch::PutFile(const FileRecord& record) {
  if (impl_->Check("file path", record.path) && impl_->Check("file project", record.project)) {
    impl_->Put(Family::kFiles, keys::FileKey(record.path), Encode(record));
    impl_->Put(Family::kProjectFiles, keys::ProjectFileKey(record.project, record.path), {});
  }
}

void WriteBatch::DeleteFile(const FileRecord& record) {
  if (impl_->Check("file path", record.path) && impl_->Check("file project", record.project)) {
    impl_->Delete(Family::kFiles, keys::FileKey(record.path));
    impl_->Delete(Family::kProjectFiles, keys::ProjectFileKey(record.project, record.path));
  }
}

void WriteBatch::AddJournal(const JournalEntry& entry) {
  if (impl_->Check("journal path", entry.path)) {
    impl_->Put(Family::kJournal, keys::JournalKey(entry.generation, entry.path),
               EncodeJournalValue(entry));
  }
}

void WriteBatch::PutMeta(std::string_view key, std::string_view value) {
  if (impl_->Check("meta key", key)) {
    impl_->Put(Family::kMeta, std::string(key), std::string(value));
  }
}

void WriteBatch::AddRemoval(std::string_view path) {
  if (impl_->Check("removal path", path)) {
    impl_->Put(Family::kRemovals, std::string(path), {});
  }
}

void WriteBatch::ClearRemoval(std::string_view path) {
  if (impl_->Check("removal path", path)) {
    impl_->Delete(Family::kRemovals, std::string(path));
  }
}

size_t WriteBatch::size() const { return impl_ ? impl_->ops.size() : 0; }

// ---- MetadataDb ----

struct MetadataDb::Impl {
  fs::path dir;
  bool read_only = false;
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;  // every family open, ours included
  rocksdb::ColumnFamilyHandle* families[static_cast<size_t>(Family::kCount)] = {};

  ~Impl() {
    if (!db) {
      return;
    }
    uint64_t in_memory = 0;
    if (!read_only &&
        db->GetAggregatedIntProperty(rocksdb::DB::Properties::kCurSizeAllMemTables, &in_memory) &&
        in_memory >= kFlushAtCloseBytes) {
      // Move what this run wrote from the write-ahead log into table files now: otherwise the next
      // open replays the whole log (after a full sync, ~0.2 s of a nightly run that changes
      // nothing). A small log is cheaper to replay than to flush (a table file per family, each
      // synced). What is only in the log is committed either way, so a failure loses nothing.
      rocksdb::FlushOptions flush;
      flush.allow_write_stall = true;
      if (rocksdb::Status status = db->Flush(flush, handles); !status.ok()) {
        Warn("metadata db flush at close failed", status);
      }
    }
    for (rocksdb::ColumnFamilyHandle* handle : handles) {
      static_cast<void>(db->DestroyColumnFamilyHandle(handle));
    }
    // Writes were synced when made; a failed close loses nothing committed, but say so.
    if (rocksdb::Status status = db->Close(); !status.ok()) {
      Warn("metadata db close failed", status);
    }
  }

  void Warn(std::string_view what, const rocksdb::Status& status) const {
    // Libraries never write to the terminal themselves (style §16): only a registered logger.
    if (auto logger = spdlog::get("store")) {
      logger->warn("{} dir={} status=\"{}\"", what, dir.string(), status.ToString());
    }
  }

  rocksdb::ColumnFamilyHandle* Cf(Family family) const {
    return families[static_cast<size_t>(family)];
  }

  std::string Where(Family family, std::string_view key) const {
    return "metadata db " + dir.string() + " " +
           std::string(kFamilyNames[static_cast<size_t>(family)]) + "[\"" + EscapeForMessage(key) +
           "\"]";
  }

  // Get that maps NotFound to nullopt.
  Result<std::optional<std::string>> Get(Family family, std::string_view key,
                                         const rocksdb::ReadOptions& options = {}) const {
    std::string value;
    rocksdb::Status status = db->Get(options, Cf(family), ToSlice(key), &value);
    if (status.IsNotFound()) {
      return std::optional<std::string>();
    }
    if (!status.ok()) {
      return tl::unexpected(StatusError(status, "read " + Where(family, key)));
    }
    return std::optional<std::string>(std::move(value));
  }

  // Adds which key held an undecodable value.
  Error Corrupt(const Error& error, Family family, std::string_view key) const {
    return Error{error.code, Where(family, key) + ": " + error.detail};
  }

  Result<void> IteratorStatus(const rocksdb::Iterator& it, Family family) const {
    if (!it.status().ok()) {
      return tl::unexpected(
          StatusError(it.status(), "scan metadata db " + dir.string() + " " +
                                       std::string(kFamilyNames[static_cast<size_t>(family)])));
    }
    return {};
  }

  Result<void> CheckSchema() {
    auto stored = Get(Family::kMeta, keys::kSchemaVersion);
    if (!stored) {
      return tl::unexpected(stored.error());
    }
    const std::string expected = std::to_string(kSchemaVersion);
    if (!stored->has_value() && read_only) {
      return {};  // a database that was never written to
    }
    if (!stored->has_value()) {
      rocksdb::WriteOptions options;
      options.sync = true;
      rocksdb::Status status =
          db->Put(options, Cf(Family::kMeta), ToSlice(keys::kSchemaVersion), ToSlice(expected));
      if (!status.ok()) {
        return tl::unexpected(
            StatusError(status, "write " + Where(Family::kMeta, keys::kSchemaVersion)));
      }
      return {};
    }
    const std::string& text = **stored;
    int version = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
    if (ec != std::errc() || end != text.data() + text.size() || version < 1) {
      return tl::unexpected(MakeError(Errc::kCorrupt, "metadata db " + dir.string() +
                                                          ": unreadable schema_version \"" +
                                                          EscapeForMessage(text) + "\""));
    }
    if (version > kSchemaVersion) {
      return tl::unexpected(MakeError(Errc::kCorrupt, "metadata db " + dir.string() +
                                                          " has schema version " + text +
                                                          ", newer than this cistern supports (" +
                                                          expected + "); use a newer cistern"));
    }
    return {};
  }
};

MetadataDb::MetadataDb(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MetadataDb::~MetadataDb() = default;

Result<std::unique_ptr<MetadataDb>> MetadataDb::Open(const fs::path& dir) {
  return OpenWithMode(dir, /*read_only=*/false);
}

Result<std::unique_ptr<MetadataDb>> MetadataDb::OpenReadOnly(const fs::path& dir) {
  return OpenWithMode(dir, /*read_only=*/true);
}

Result<std::unique_ptr<MetadataDb>> MetadataDb::OpenWithMode(const fs::path& dir, bool read_only) {
  std::error_code ec;
  if (read_only) {
    if (!fs::exists(dir / "CURRENT", ec)) {
      return tl::unexpected(MakeError(Errc::kNotFound, "no metadata db at " + dir.string()));
    }
  } else {
    fs::create_directories(dir, ec);
    if (ec) {
      return tl::unexpected(Error{ec, "create metadata db directory " + dir.string()});
    }
  }
  rocksdb::Options options;
  options.create_if_missing = !read_only;
  options.create_missing_column_families = !read_only;
  // RocksDB starts this many threads per column family at open to load table files (default 16:
  // ~100 short-lived threads for our families on every run). A handful of files needs none.
  options.max_file_opening_threads = 1;
  options.info_log = std::make_shared<InfoLogToSpdlog>();

  // Every existing family must be opened, including ones a newer schema added; the schema check
  // below then reports the version instead of RocksDB refusing to open.
  std::vector<std::string> names;
  rocksdb::Status listed = rocksdb::DB::ListColumnFamilies(options, dir.string(), &names);
  if (!listed.ok()) {
    names.clear();  // a new database; Open below reports any real problem
  }
  const auto add = [&names](std::string_view name) {
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      names.emplace_back(name);
    }
  };
  add(rocksdb::kDefaultColumnFamilyName);
  for (const std::string_view name : kFamilyNames) {
    add(name);
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.reserve(names.size());
  for (const std::string& name : names) {
    descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions(options));
  }

  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->read_only = read_only;
  rocksdb::DB* raw_db = nullptr;
  if (read_only) {
    // A reader beside a running sync: no lock, a consistent view as of the open.
    descriptors.erase(std::remove_if(descriptors.begin(), descriptors.end(),
                                     [&](const rocksdb::ColumnFamilyDescriptor& d) {
                                       return std::find(names.begin(), names.end(), d.name) ==
                                                  names.end();
                                     }),
                      descriptors.end());
  }
  rocksdb::Status status =
      read_only ? rocksdb::DB::OpenForReadOnly(options, dir.string(), descriptors, &impl->handles,
                                               &raw_db)
                : rocksdb::DB::Open(options, dir.string(), descriptors, &impl->handles, &raw_db);
  if (!status.ok()) {
    return tl::unexpected(StatusError(status, "open metadata db " + dir.string()));
  }
  impl->db.reset(raw_db);
  for (size_t i = 0; i < names.size(); ++i) {
    for (size_t f = 0; f < std::size(kFamilyNames); ++f) {
      if (names[i] == kFamilyNames[f]) {
        impl->families[f] = impl->handles[i];
      }
    }
  }
  if (auto schema = impl->CheckSchema(); !schema) {
    return tl::unexpected(schema.error());
  }
  return std::unique_ptr<MetadataDb>(new MetadataDb(std::move(impl)));
}

Result<FileTotals> MetadataDb::TotalFiles() const {
  FileTotals totals;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->Cf(Family::kFiles)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto record = DecodeFileRecord(ToView(it->value()));
    if (!record) {
      return tl::unexpected(
          impl_->Corrupt(record.error(), Family::kFiles, std::string(ToView(it->key()))));
    }
    ++totals.files;
    totals.bytes += record->size;
  }
  if (!it->status().ok()) {
    return tl::unexpected(StatusError(it->status(), "scan " + impl_->dir.string() + " files"));
  }
  return totals;
}

Result<std::optional<ProjectRecord>> MetadataDb::GetProject(std::string_view name) const {
  const std::string key = keys::ProjectKey(name);
  auto value = impl_->Get(Family::kProjects, key);
  if (!value) {
    return tl::unexpected(value.error());
  }
  if (!value->has_value()) {
    return std::optional<ProjectRecord>();
  }
  auto record = DecodeProjectRecord(**value);
  if (!record) {
    return tl::unexpected(impl_->Corrupt(record.error(), Family::kProjects, key));
  }
  return std::optional<ProjectRecord>(std::move(*record));
}

Result<void> MetadataDb::ForEachProject(const std::function<bool(const ProjectRecord&)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->Cf(Family::kProjects)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto record = DecodeProjectRecord(ToView(it->value()));
    if (!record) {
      return tl::unexpected(impl_->Corrupt(record.error(), Family::kProjects, ToView(it->key())));
    }
    if (!fn(*record)) {
      return {};
    }
  }
  return impl_->IteratorStatus(*it, Family::kProjects);
}

Result<std::vector<std::string>> MetadataDb::Removals() const {
  std::vector<std::string> paths;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->Cf(Family::kRemovals)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    paths.emplace_back(ToView(it->key()));
  }
  if (auto status = impl_->IteratorStatus(*it, Family::kRemovals); !status) {
    return tl::unexpected(status.error());
  }
  return paths;
}

Result<std::vector<FileRecord>> MetadataDb::ProjectFiles(std::string_view name) const {
  // One snapshot for the index scan and the lookups, so a concurrent Write cannot be half-seen.
  struct SnapshotGuard {
    rocksdb::DB* db;
    const rocksdb::Snapshot* snapshot;
    ~SnapshotGuard() { db->ReleaseSnapshot(snapshot); }
  } guard{impl_->db.get(), impl_->db->GetSnapshot()};
  rocksdb::ReadOptions options;
  options.snapshot = guard.snapshot;

  const std::string prefix = keys::ProjectFilePrefix(name);
  std::vector<FileRecord> files;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(options, impl_->Cf(Family::kProjectFiles)));
  for (it->Seek(ToSlice(prefix)); it->Valid(); it->Next()) {
    const std::optional<std::string_view> path =
        keys::PathFromProjectFileKey(ToView(it->key()), prefix);
    if (!path) {
      break;  // past the prefix: keys are sorted
    }
    const std::string file_key = keys::FileKey(*path);
    auto value = impl_->Get(Family::kFiles, file_key, options);
    if (!value) {
      return tl::unexpected(value.error());
    }
    if (!value->has_value()) {
      return tl::unexpected(
          MakeError(Errc::kCorrupt, impl_->Where(Family::kProjectFiles, ToView(it->key())) +
                                        " lists a file that has no record in files"));
    }
    auto record = DecodeFileRecord(**value);
    if (!record) {
      return tl::unexpected(impl_->Corrupt(record.error(), Family::kFiles, file_key));
    }
    files.push_back(std::move(*record));
  }
  if (auto status = impl_->IteratorStatus(*it, Family::kProjectFiles); !status) {
    return tl::unexpected(status.error());
  }
  return files;
}

Result<std::optional<FileRecord>> MetadataDb::GetFile(std::string_view path) const {
  const std::string key = keys::FileKey(path);
  auto value = impl_->Get(Family::kFiles, key);
  if (!value) {
    return tl::unexpected(value.error());
  }
  if (!value->has_value()) {
    return std::optional<FileRecord>();
  }
  auto record = DecodeFileRecord(**value);
  if (!record) {
    return tl::unexpected(impl_->Corrupt(record.error(), Family::kFiles, key));
  }
  return std::optional<FileRecord>(std::move(*record));
}

Result<std::optional<std::string>> MetadataDb::GetMeta(std::string_view key) const {
  return impl_->Get(Family::kMeta, key);
}

Result<void> MetadataDb::ForEachJournal(Generation since,
                                        const std::function<bool(const JournalEntry&)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->Cf(Family::kJournal)));
  for (it->Seek(ToSlice(keys::JournalSeekKey(since))); it->Valid(); it->Next()) {
    const std::string_view key = ToView(it->key());
    auto parts = keys::ParseJournalKey(key);
    if (!parts) {
      return tl::unexpected(impl_->Corrupt(parts.error(), Family::kJournal, key));
    }
    auto entry =
        DecodeJournalValue(ToView(it->value()), parts->generation, std::string(parts->path));
    if (!entry) {
      return tl::unexpected(impl_->Corrupt(entry.error(), Family::kJournal, key));
    }
    if (!fn(*entry)) {
      return {};
    }
  }
  return impl_->IteratorStatus(*it, Family::kJournal);
}

Result<uint64_t> MetadataDb::CountProjects() const {
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->Cf(Family::kProjects)));
  uint64_t count = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    ++count;
  }
  if (auto status = impl_->IteratorStatus(*it, Family::kProjects); !status) {
    return tl::unexpected(status.error());
  }
  return count;
}

Result<void> MetadataDb::Write(WriteBatch batch) {
  if (!batch.impl_) {
    return tl::unexpected(MakeError(Errc::kInvalidArgument, "write a moved-from batch"));
  }
  if (batch.impl_->error) {
    return tl::unexpected(std::move(*batch.impl_->error));
  }
  rocksdb::WriteBatch rocks_batch;
  for (const WriteBatch::Impl::Op& op : batch.impl_->ops) {
    rocksdb::ColumnFamilyHandle* cf = impl_->Cf(op.family);
    rocksdb::Status status = op.is_delete ? rocks_batch.Delete(cf, ToSlice(op.key))
                                          : rocks_batch.Put(cf, ToSlice(op.key), ToSlice(op.value));
    if (!status.ok()) {
      return tl::unexpected(StatusError(status, "build write batch for " + impl_->dir.string()));
    }
  }
  rocksdb::WriteOptions options;
  options.sync = true;
  rocksdb::Status status = impl_->db->Write(options, &rocks_batch);
  if (!status.ok()) {
    return tl::unexpected(StatusError(status, "write " + std::to_string(batch.size()) +
                                                  " changes to metadata db " +
                                                  impl_->dir.string()));
  }
  return {};
}

const fs::path& MetadataDb::dir() const { return impl_->dir; }

}  // namespace cistern::store
