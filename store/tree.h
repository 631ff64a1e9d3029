// Tree: the mirror directory on disk. `<root>/web` is the tree nginx serves; `<root>/incoming`
// holds partial files on the same filesystem, so publishing one is a rename.
//
// Every file lands atomically: bytes go to a new `incoming/.tmp-<hex>` file, which is closed and
// renamed over its destination. A reader of web/ therefore sees the old bytes or the new bytes,
// never a mix. Durability against a power loss comes either from fsyncs around each rename or
// from one `Sync()` for many files (`TreeOptions::durability`; format.md, "fsync order").
//
// Resumable partials: a download that may continue later, in this process or the next, goes to a
// named partial instead, `incoming/part-<h>.data`, next to an opaque record the caller keeps in
// `incoming/part-<h>.meta` (what it needs to resume; the store does not interpret it). <h> is
// derived from a key the caller chooses, so the next run finds the same files. Such a partial
// survives its `PartialFile` object, a crash and a kill; it leaves incoming/ when published,
// discarded, or swept by `RemoveResumable`. It is published exactly like a temporary.
//
// Symlinks: the root and `web/` itself may be symlinks (the administrator's choice). Below
// `web/`, no directory component may be a symlink: every operation walks the path one directory
// at a time with `openat(O_NOFOLLOW | O_DIRECTORY)` and refuses a symlinked component with
// `Errc::kInvalidPath`, so a hostile or mistaken link cannot make the store write outside the
// tree. The last component is never followed either: a rename replaces a symlink at the
// destination, and reads refuse one.
//
// Thread safety: all methods may be called concurrently from several threads on one `Tree`.
// Concurrent `Publish` calls to the same destination are each atomic; the last rename wins. A
// `Publish` racing a `Remove` that prunes its directory re-creates the directory and retries.
// Only one process may modify a mirror at a time; callers hold the mirror's `LockFile`.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "store/error.h"
#include "store/relative_path.h"

namespace cistern::store {

struct TreeOptions {
  // When true (the default), file contents and directory entries are fsynced before and after
  // each rename, so a published file survives a power loss or kernel crash.
  // When false, nothing is fsynced: publishing is much faster (tests, an import onto media that is
  // synced as a whole afterwards) and still atomic against a crash of the process, but after a
  // power loss a file the database records may be missing or empty.
  bool fsync = true;

  // With `fsync`, when a published file becomes durable.
  enum class Durability {
    // `Publish` fsyncs the file, the parent of each directory it creates and the destination's
    // directory: the file is durable when `Publish` returns. Two or more fsyncs per file.
    kEachFile,
    // `Publish` syncs nothing; `Sync()` (one syncfs(2) of the mirror's filesystem) makes every
    // file published before it durable. The caller must `Sync()` before anything that refers to
    // those files is made durable (a page linking them, a database record of them). Many files
    // then cost one sync instead of two fsyncs each.
    kOnSync,
  };
  Durability durability = Durability::kEachFile;

  // When true, `PartialFile::Write` writes whole 4 KiB blocks from a block-aligned buffer with
  // O_DIRECT (see `kDirectAlignment`): the bytes go from the caller's buffer to the disk without
  // the copy into the page cache (the largest CPU cost of a full sync) and without pushing what
  // the web server reads out of the cache. Any other write, and a filesystem without O_DIRECT
  // (tmpfs), is an ordinary buffered write. Durability is unchanged: the bytes still need the
  // fsync or sync of `fsync`/`durability` (for the drive's cache and the file's metadata).
  bool direct_writes = false;
};

// The alignment of buffer address, file offset and length that O_DIRECT writes use.
inline constexpr size_t kDirectAlignment = 4096;

class Tree;

// A file in `incoming/`, being written. Created by `Tree::CreatePartial` (a temporary) or
// `Tree::OpenResumable` (a resumable partial); becomes a file in the tree through `Tree::Publish`.
// If a temporary is destroyed unpublished, it is closed and unlinked; a resumable partial is only
// closed (its bytes stay for a later attempt). After a `Write` error its contents are
// unspecified: destroy or `Truncate` it.
// Lifetime: independent of the `Tree` that made it (it holds its own descriptor and path).
// Thread safety: one thread at a time.
class PartialFile {
 public:
  PartialFile(const PartialFile&) = delete;
  PartialFile& operator=(const PartialFile&) = delete;
  PartialFile(PartialFile&& other) noexcept;
  PartialFile& operator=(PartialFile&& other) noexcept;
  ~PartialFile();

  // Appends `bytes`, retrying short writes and EINTR. With `TreeOptions::direct_writes`, the
  // whole blocks of `bytes` go with O_DIRECT when `bytes` starts at a `kDirectAlignment` address
  // and the file's size is a multiple of it; the rest is written buffered.
  // Errors: system codes (ENOSPC: `IsNoSpace`; EIO), EBADF for a moved-from file; the detail
  // names the partial file.
  [[nodiscard]] Result<void> Write(std::span<const uint8_t> bytes);

  // Empties the file; the next `Write` starts at offset 0 (a download restarting from zero).
  // Errors: system codes; EBADF for a moved-from file.
  [[nodiscard]] Result<void> Truncate();

  // Reads up to `out.size()` bytes at `offset` (for re-hashing what a resumable partial already
  // holds); returns the count, 0 at the end of the file.
  // Errors: system codes (EIO); EBADF for a moved-from file.
  [[nodiscard]] Result<size_t> ReadAt(uint64_t offset, std::span<uint8_t> out) const;

  // Bytes in the file: for a resumable partial, those found on disk plus those written since.
  uint64_t size() const { return size_; }

  // True for a partial made by `Tree::OpenResumable`.
  bool resumable() const { return !record_path_.empty(); }

  // The absolute path of the partial file: `<root>/incoming/.tmp-<hex>`, or
  // `<root>/incoming/part-<h>.data` for a resumable one.
  const std::filesystem::path& path() const { return path_; }

 private:
  friend class Tree;
  PartialFile(int fd, std::filesystem::path path, std::filesystem::path record_path = {},
              uint64_t size = 0, bool direct_allowed = false)
      : fd_(fd),
        path_(std::move(path)),
        record_path_(std::move(record_path)),
        size_(size),
        direct_allowed_(direct_allowed) {}
  void Discard() noexcept;
  // Sets or clears O_DIRECT on the descriptor; false when the filesystem refuses it (then direct
  // writes stay off for this file).
  bool SetDirect(bool on) const;
  Result<void> WriteAll(std::span<const uint8_t> bytes);

  int fd_ = -1;
  std::filesystem::path path_;         // empty once published or moved from
  std::filesystem::path record_path_;  // resumable only: `part-<h>.meta`
  uint64_t size_ = 0;
  mutable bool direct_allowed_ = false;  // TreeOptions::direct_writes, until the filesystem refuses
  mutable bool direct_on_ = false;       // O_DIRECT is set on fd_
};

// A resumable partial as `Tree::OpenResumable` found it.
struct ResumablePartial {
  PartialFile file;                   // positioned at its end: writes append
  std::optional<std::string> record;  // the caller's record, nullopt if there is none
};

class Tree {
 public:
  Tree(const Tree&) = delete;
  Tree& operator=(const Tree&) = delete;
  Tree(Tree&&) noexcept;
  Tree& operator=(Tree&&) noexcept;
  ~Tree();

  // Opens the mirror at `root` (made absolute against the current directory), creating `root`,
  // `root/web` and `root/incoming` if missing, and checks that web/ and incoming/ are writable
  // directories on the same filesystem.
  // Errors: system codes with a detail naming the path: EACCES, EPERM or EROFS (`IsPermission`),
  // ENOTDIR (a component of `root` is a file), ENOSPC; EXDEV when web/ and incoming/ are on
  // different filesystems. The CLI exits with status 5 and shows the detail.
  [[nodiscard]] static Result<Tree> Open(const std::filesystem::path& root,
                                         TreeOptions options = {});

  // Creates a new, empty `incoming/.tmp-<16 random hex digits>` (O_EXCL, mode 0644).
  // Errors: system codes naming incoming/.
  [[nodiscard]] Result<PartialFile> CreatePartial();

  // Opens the resumable partial of `key` (any bytes; the file names derive from its SHA-256),
  // creating an empty one if there is none. The file keeps what earlier attempts wrote.
  // Errors: system codes naming the file.
  // Requires: at most one open `PartialFile` per key (callers serialise downloads of one key).
  [[nodiscard]] Result<ResumablePartial> OpenResumable(std::string_view key);

  // Replaces the record of the resumable partial `file` with `record`, atomically (a temporary,
  // then a rename; not fsynced: a record lost to a power loss only means starting from zero).
  // With `TreeOptions::fsync`, the partial's data is fdatasynced first, so a record that
  // survives a power loss never sits over bytes or an emptying of the file that did not: one
  // fdatasync per record write (once per download that gets a 200; a 206 keeps the record).
  // Errors: system codes; EINVAL when `file` is not resumable.
  [[nodiscard]] Result<void> WriteResumableRecord(const PartialFile& file, std::string_view record);

  // Unlinks a partial and, for a resumable one, its record. Missing files are not an error.
  // Errors: system codes naming the file.
  [[nodiscard]] Result<void> Discard(PartialFile file);

  // Deletes the resumable partials (data and record) whose data was last written before
  // `modified_before`, and every half of a pair whose other half is missing (a record without
  // data is what a crash right after publishing leaves). Returns how many partials went.
  // `system_clock::time_point::max()` removes them all.
  // Requires: no resumable `PartialFile` of this process is open (hold the mirror's `LockFile`).
  // Errors: system codes naming incoming/.
  [[nodiscard]] Result<size_t> RemoveResumable(std::chrono::system_clock::time_point modified_before);

  // Moves `file` to `web/<dest>`, replacing any file there: fsyncs and closes the file, creates
  // missing parent directories (fsyncing the parent of each new directory), renames, then fsyncs
  // dest's directory. On error the partial file is unlinked and any file already at `dest` is
  // untouched, unless the error came after the rename (the final directory fsync). A resumable
  // partial's record is unlinked after the rename; on error a resumable partial is kept (closed)
  // rather than unlinked.
  // Crash points: "tree.before_rename", "tree.after_rename".
  // Errors: Errc::kInvalidPath for a symlinked or non-directory component under web/; system codes
  // (ENOSPC, EIO, EISDIR when `dest` is a directory). The detail names `dest`.
  // Requires: `file` came from `CreatePartial` or `OpenResumable` of a tree over the same root.
  [[nodiscard]] Result<void> Publish(PartialFile file, const RelativePath& dest);

  // Makes every file published (and removed) so far durable: syncfs(2) on the mirror's
  // filesystem, which web/ and incoming/ share. A no-op when `fsync` is off.
  // Errors: system codes (EIO: a writeback error since the last sync, on Linux >= 5.8).
  [[nodiscard]] Result<void> Sync();

  // Writes `bytes` to `web/<dest>` atomically: `CreatePartial`, `Write`, `Publish`.
  // Errors: as `CreatePartial`, `PartialFile::Write` and `Publish`.
  [[nodiscard]] Result<void> WriteAtomic(const RelativePath& dest, std::span<const uint8_t> bytes);

  // Unlinks `web/<dest>`, fsyncs its directory, then removes parent directories that became
  // empty, up to but not including web/. A missing file (or missing directory) is not an error.
  // Errors: Errc::kInvalidPath for a symlinked component; system codes (EISDIR when `dest` is a
  // directory). The detail names `dest`.
  [[nodiscard]] Result<void> Remove(const RelativePath& dest);

  // The size of the regular file `web/<dest>`, or nullopt if it does not exist.
  // Errors: Errc::kInvalidPath if a component is a symlink or `dest` is not a regular file;
  // system codes.
  [[nodiscard]] Result<std::optional<uint64_t>> FileSize(const RelativePath& dest) const;

  // The whole content of `web/<dest>`. Meant for pages and small files.
  // Errors: Errc::kNotFound if it does not exist; Errc::kInvalidPath for a symlink (component or
  // file); system codes.
  [[nodiscard]] Result<std::string> ReadFile(const RelativePath& dest) const;

  // Deletes every `.tmp-*` file left in incoming/ (by a crash or a kill) and returns how many.
  // Resumable partials stay (see `RemoveResumable`).
  // Requires: no other process is writing partial files (hold the mirror's `LockFile`), and no
  // `PartialFile` of this process is alive.
  // Errors: system codes naming incoming/.
  [[nodiscard]] Result<size_t> RemoveStaleIncoming();

  // `<root>/web/<dest>`, for callers that must hand a path to something else (e.g. logging).
  std::filesystem::path WebPath(const RelativePath& dest) const;

  const std::filesystem::path& root() const;
  const std::filesystem::path& web_root() const;
  const std::filesystem::path& incoming_dir() const;
  const TreeOptions& options() const;

 private:
  struct Impl;
  explicit Tree(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace cistern::store
