#include "store/tree.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <dirent.h>
#include <map>
#include <fcntl.h>
#include <string_view>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>
#include <vector>

#include "store/bytes.h"
#include "store/crash_point.h"
#include "store/digest.h"
#include "store/unique_fd.h"

namespace cistern::store {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kWebDir = "web";
constexpr std::string_view kIncomingDir = "incoming";
constexpr std::string_view kTempPrefix = ".tmp-";  // format.md: temporary names
constexpr std::string_view kResumablePrefix = "part-";  // format.md: resumable partials
constexpr std::string_view kResumableData = ".data";
constexpr std::string_view kResumableRecord = ".meta";
constexpr size_t kResumableHexDigits = 32;     // 128 bits of SHA-256(key)
constexpr size_t kMaxRecordBytes = 64 << 10;   // a record is a few hundred bytes
constexpr mode_t kDirMode = 0755;
constexpr mode_t kFileMode = 0644;
constexpr int kPublishAttempts = 3;  // a concurrent Remove may prune the directory once or twice

Result<void> SyncFd(int fd, const std::string& what) {
  if (::fsync(fd) != 0) {
    return tl::unexpected(ErrnoError(errno, "fsync " + what));
  }
  return {};
}

Result<UniqueFd> OpenDirectory(const fs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.is_open()) {
    return tl::unexpected(ErrnoError(errno, "open directory " + path.string()));
  }
  return fd;
}

// mkdir that accepts an existing directory; reports whether it created one.
Result<bool> MakeDirectory(const fs::path& path) {
  if (::mkdir(path.c_str(), kDirMode) == 0) {
    return true;
  }
  if (errno != EEXIST) {
    return tl::unexpected(ErrnoError(errno, "create directory " + path.string()));
  }
  return false;
}

Result<void> CheckWritable(int fd, const fs::path& path) {
  // faccessat also reports EROFS for a read-only mount, which matters when running as root.
  if (::faccessat(fd, ".", W_OK | X_OK, AT_EACCESS) != 0) {
    return tl::unexpected(ErrnoError(errno, "directory " + path.string() + " is not writable"));
  }
  return {};
}

Result<std::string> RandomHex(size_t bytes_count) {
  std::vector<uint8_t> bytes(bytes_count);
  size_t filled = 0;
  while (filled < bytes.size()) {
    const ssize_t n = ::getrandom(bytes.data() + filled, bytes.size() - filled, 0);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return tl::unexpected(ErrnoError(errno, "getrandom for a temporary file name"));
    }
    filled += static_cast<size_t>(n);
  }
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (const uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0x0f]);
  }
  return out;
}

// The names in incoming/ (without directory) for which `keep` returns true. Uses a fresh open file
// description, so concurrent listings do not share a directory offset.
template <class Keep>
Result<std::vector<std::string>> ListIncoming(int incoming_fd, const fs::path& incoming,
                                              Keep keep) {
  const int list_fd = ::openat(incoming_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (list_fd < 0) {
    return tl::unexpected(ErrnoError(errno, "open " + incoming.string()));
  }
  DIR* dir = ::fdopendir(list_fd);
  if (dir == nullptr) {
    const int err = errno;
    static_cast<void>(::close(list_fd));
    return tl::unexpected(ErrnoError(err, "list " + incoming.string()));
  }
  std::vector<std::string> names;
  while (true) {
    errno = 0;
    const dirent* entry = ::readdir(dir);
    if (entry == nullptr) {
      break;
    }
    const std::string_view name = entry->d_name;
    if (keep(name)) {
      names.emplace_back(name);
    }
  }
  const int read_error = errno;
  static_cast<void>(::closedir(dir));  // read-only directory stream: nothing to lose
  if (read_error != 0) {
    return tl::unexpected(ErrnoError(read_error, "list " + incoming.string()));
  }
  return names;
}

}  // namespace

// ---- PartialFile ----

PartialFile::PartialFile(PartialFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      path_(std::exchange(other.path_, fs::path())),
      record_path_(std::exchange(other.record_path_, fs::path())),
      size_(std::exchange(other.size_, 0)),
      direct_allowed_(std::exchange(other.direct_allowed_, false)),
      direct_on_(std::exchange(other.direct_on_, false)) {}

PartialFile& PartialFile::operator=(PartialFile&& other) noexcept {
  if (this != &other) {
    Discard();
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::exchange(other.path_, fs::path());
    record_path_ = std::exchange(other.record_path_, fs::path());
    size_ = std::exchange(other.size_, 0);
    direct_allowed_ = std::exchange(other.direct_allowed_, false);
    direct_on_ = std::exchange(other.direct_on_, false);
  }
  return *this;
}

PartialFile::~PartialFile() { Discard(); }

void PartialFile::Discard() noexcept {
  if (fd_ >= 0) {
    // An unpublished file's bytes are thrown away, so a close error does not matter.
    static_cast<void>(::close(fd_));
    fd_ = -1;
  }
  if (!path_.empty() && record_path_.empty()) {
    // Best effort: a leftover is removed by Tree::RemoveStaleIncoming on the next run.
    static_cast<void>(::unlink(path_.c_str()));
  }
  // A resumable partial stays on disk for a later attempt.
  path_.clear();
  record_path_.clear();
}

Result<void> PartialFile::Truncate() {
  if (fd_ < 0) {
    return tl::unexpected(ErrnoError(EBADF, "truncate a closed partial file"));
  }
  if (::ftruncate(fd_, 0) != 0) {
    return tl::unexpected(ErrnoError(errno, "truncate " + path_.string()));
  }
  // A temporary is not opened with O_APPEND: move its offset back to the start as well.
  if (::lseek(fd_, 0, SEEK_SET) < 0) {
    return tl::unexpected(ErrnoError(errno, "seek " + path_.string()));
  }
  size_ = 0;
  return {};
}

Result<size_t> PartialFile::ReadAt(uint64_t offset, std::span<uint8_t> out) const {
  if (fd_ < 0) {
    return tl::unexpected(ErrnoError(EBADF, "read a closed partial file"));
  }
  if (!SetDirect(false)) {  // O_DIRECT would require aligned reads as well
    return tl::unexpected(ErrnoError(errno, "clear O_DIRECT on " + path_.string()));
  }
  while (true) {
    const ssize_t n = ::pread(fd_, out.data(), out.size(), static_cast<off_t>(offset));
    if (n >= 0) {
      return static_cast<size_t>(n);
    }
    if (errno != EINTR) {
      return tl::unexpected(ErrnoError(errno, "read " + path_.string()));
    }
  }
}

bool PartialFile::SetDirect(bool on) const {
  if (direct_on_ == on) {
    return true;
  }
  const int flags = ::fcntl(fd_, F_GETFL);
  if (flags < 0 || ::fcntl(fd_, F_SETFL, on ? flags | O_DIRECT : flags & ~O_DIRECT) != 0) {
    return false;
  }
  direct_on_ = on;
  return true;
}

Result<void> PartialFile::Write(std::span<const uint8_t> bytes) {
  if (fd_ < 0) {
    return tl::unexpected(ErrnoError(EBADF, "write to a closed partial file"));
  }
  const size_t blocks = bytes.size() - bytes.size() % kDirectAlignment;
  const bool aligned = reinterpret_cast<uintptr_t>(bytes.data()) % kDirectAlignment == 0 &&
                       size_ % kDirectAlignment == 0;
  if (direct_allowed_ && aligned && blocks > 0) {
    if (!SetDirect(true)) {
      direct_allowed_ = false;  // tmpfs and others refuse O_DIRECT
    } else {
      const uint64_t before = size_;
      Result<void> written = WriteAll(bytes.first(blocks));
      bytes = bytes.subspan(static_cast<size_t>(size_ - before));
      if (!written) {
        // EINVAL: the filesystem takes the flag but not the write (a block size above
        // kDirectAlignment): what is left goes buffered, from here on.
        if (written.error().code != std::errc::invalid_argument) {
          return written;
        }
        direct_allowed_ = false;
      }
    }
  }
  if (bytes.empty()) {
    return {};
  }
  if (!SetDirect(false)) {
    return tl::unexpected(ErrnoError(errno, "clear O_DIRECT on " + path_.string()));
  }
  return WriteAll(bytes);
}

Result<void> PartialFile::WriteAll(std::span<const uint8_t> bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return tl::unexpected(ErrnoError(errno, "write " + path_.string()));
    }
    if (n == 0) {
      return tl::unexpected(ErrnoError(EIO, "write " + path_.string() + " made no progress"));
    }
    const auto written = static_cast<size_t>(n);
    bytes = bytes.subspan(written);
    size_ += written;
  }
  return {};
}

// ---- Tree ----

struct Tree::Impl {
  fs::path root;
  fs::path web;
  fs::path incoming;
  TreeOptions options;
  UniqueFd web_fd;
  UniqueFd incoming_fd;

  std::string Describe(const RelativePath& path) const { return (web / path.str()).string(); }

  // Opens web/ and each directory above `dest`'s last segment, one `openat` at a time, never
  // following a symlink. Returns the descriptors, web/ first and `dest`'s directory last.
  // With `create`, missing directories are made (and their parent fsynced); without it, a missing
  // directory gives ENOENT.
  Result<std::vector<UniqueFd>> OpenParents(const RelativePath& dest, bool create) const {
    std::vector<UniqueFd> chain;
    UniqueFd web_dir(::openat(web_fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!web_dir.is_open()) {
      return tl::unexpected(ErrnoError(errno, "open " + web.string()));
    }
    chain.push_back(std::move(web_dir));
    std::vector<std::string_view> segments = dest.segments();
    segments.pop_back();
    std::string walked;
    for (const std::string_view segment : segments) {
      walked += walked.empty() ? "" : "/";
      walked += segment;
      const std::string name(segment);
      const int parent = chain.back().get();
      for (int attempt = 0;; ++attempt) {
        UniqueFd dir(
            ::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (dir.is_open()) {
          chain.push_back(std::move(dir));
          break;
        }
        const int err = errno;
        const std::string where = (web / walked).string();
        if (err == ELOOP || err == ENOTDIR) {
          struct stat st {};
          const bool is_link =
              ::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
          return tl::unexpected(
              MakeError(Errc::kInvalidPath,
                        where + (is_link ? " is a symlink; refusing to follow it inside the tree"
                                         : " is not a directory")));
        }
        if (err != ENOENT || !create || attempt > 0) {
          return tl::unexpected(ErrnoError(err, "open directory " + where));
        }
        if (::mkdirat(parent, name.c_str(), kDirMode) != 0 && errno != EEXIST) {
          return tl::unexpected(ErrnoError(errno, "create directory " + where));
        }
        if (SyncEachFile()) {
          // The new directory's entry must be durable before anything is renamed into it.
          if (auto synced = SyncFd(parent, "parent of " + where); !synced) {
            return tl::unexpected(synced.error());
          }
        }
      }
    }
    return chain;
  }

  bool SyncEachFile() const {
    return options.fsync && options.durability == TreeOptions::Durability::kEachFile;
  }

  Result<void> PublishOnce(const fs::path& source, const RelativePath& dest) const {
    auto chain = OpenParents(dest, /*create=*/true);
    if (!chain) {
      return tl::unexpected(chain.error());
    }
    const int dir = chain->back().get();
    const std::string name(dest.filename());
    CISTERN_CRASH_POINT("tree.before_rename");
    if (::renameat(AT_FDCWD, source.c_str(), dir, name.c_str()) != 0) {
      return tl::unexpected(
          ErrnoError(errno, "rename " + source.string() + " to " + Describe(dest)));
    }
    CISTERN_CRASH_POINT("tree.after_rename");
    if (SyncEachFile()) {
      return SyncFd(dir, "directory of " + Describe(dest));
    }
    return {};
  }
};

Tree::Tree(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tree::Tree(Tree&&) noexcept = default;
Tree& Tree::operator=(Tree&&) noexcept = default;
Tree::~Tree() = default;

Result<Tree> Tree::Open(const fs::path& root, TreeOptions options) {
  // Absolute, so the paths kept in PartialFile stay valid if the working directory changes.
  std::error_code ec;
  const fs::path absolute_root = fs::absolute(root, ec);
  if (ec) {
    return tl::unexpected(Error{ec, "resolve mirror directory " + root.string()});
  }
  auto impl = std::make_unique<Impl>();
  impl->root = absolute_root;
  impl->web = absolute_root / kWebDir;
  impl->incoming = absolute_root / kIncomingDir;
  impl->options = options;

  fs::create_directories(absolute_root, ec);
  if (ec) {
    return tl::unexpected(Error{ec, "create mirror directory " + absolute_root.string()});
  }
  auto made_web = MakeDirectory(impl->web);
  if (!made_web) {
    return tl::unexpected(made_web.error());
  }
  auto made_incoming = MakeDirectory(impl->incoming);
  if (!made_incoming) {
    return tl::unexpected(made_incoming.error());
  }
  auto web_fd = OpenDirectory(impl->web);
  if (!web_fd) {
    return tl::unexpected(web_fd.error());
  }
  auto incoming_fd = OpenDirectory(impl->incoming);
  if (!incoming_fd) {
    return tl::unexpected(incoming_fd.error());
  }
  for (const auto& [fd, path] :
       {std::pair{web_fd->get(), impl->web}, std::pair{incoming_fd->get(), impl->incoming}}) {
    if (auto writable = CheckWritable(fd, path); !writable) {
      return tl::unexpected(writable.error());
    }
  }
  struct stat web_st {};
  struct stat incoming_st {};
  if (::fstat(web_fd->get(), &web_st) != 0 || ::fstat(incoming_fd->get(), &incoming_st) != 0) {
    return tl::unexpected(ErrnoError(errno, "stat " + impl->web.string()));
  }
  if (web_st.st_dev != incoming_st.st_dev) {
    return tl::unexpected(ErrnoError(EXDEV, impl->web.string() + " and " + impl->incoming.string() +
                                                " must be on the same filesystem"));
  }
  if (options.fsync && (*made_web || *made_incoming)) {
    auto root_fd = OpenDirectory(absolute_root);
    if (!root_fd) {
      return tl::unexpected(root_fd.error());
    }
    if (auto synced = SyncFd(root_fd->get(), absolute_root.string()); !synced) {
      return tl::unexpected(synced.error());
    }
  }
  impl->web_fd = std::move(*web_fd);
  impl->incoming_fd = std::move(*incoming_fd);
  return Tree(std::move(impl));
}

Result<PartialFile> Tree::CreatePartial() {
  // 64 random bits: a collision is vanishingly rare, and O_EXCL catches it anyway.
  constexpr int kAttempts = 8;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    auto hex = RandomHex(8);
    if (!hex) {
      return tl::unexpected(hex.error());
    }
    const std::string name = std::string(kTempPrefix) + *hex;
    const int fd = ::openat(impl_->incoming_fd.get(), name.c_str(),
                            O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, kFileMode);
    if (fd >= 0) {
      return PartialFile(fd, impl_->incoming / name, {}, 0, impl_->options.direct_writes);
    }
    if (errno != EEXIST) {
      return tl::unexpected(
          ErrnoError(errno, "create partial file " + (impl_->incoming / name).string()));
    }
  }
  return tl::unexpected(ErrnoError(EEXIST, "create partial file in " + impl_->incoming.string()));
}

Result<void> Tree::Publish(PartialFile file, const RelativePath& dest) {
  if (file.fd_ < 0 || file.path_.empty()) {
    return tl::unexpected(ErrnoError(
        EBADF, "publish " + impl_->Describe(dest) + ": the partial file was moved from"));
  }
  if (impl_->SyncEachFile()) {
    if (auto synced = SyncFd(file.fd_, file.path_.string()); !synced) {
      return tl::unexpected(synced.error());
    }
  }
  // close() can report a deferred write error (NFS, some FUSE filesystems): check it.
  const int fd = std::exchange(file.fd_, -1);
  if (::close(fd) != 0) {
    return tl::unexpected(ErrnoError(errno, "close " + file.path_.string()));
  }
  Result<void> published;
  for (int attempt = 0; attempt < kPublishAttempts; ++attempt) {
    published = impl_->PublishOnce(file.path_, dest);
    // ENOENT from rename: a concurrent Remove pruned the directory between open and rename.
    const bool pruned =
        !published && published.error().code == std::errc::no_such_file_or_directory;
    if (!pruned) {
      break;
    }
  }
  if (published) {
    file.path_.clear();  // it is in the tree now; the destructor must not unlink it
    if (!file.record_path_.empty()) {
      // Best effort: a record without data is swept by RemoveResumable.
      static_cast<void>(::unlink(file.record_path_.c_str()));
      file.record_path_.clear();
    }
  }
  return published;
}

Result<ResumablePartial> Tree::OpenResumable(std::string_view key) {
  const std::string base = std::string(kResumablePrefix) +
                           Sha256Of(AsBytes(key)).Hex().substr(0, kResumableHexDigits);
  const std::string data_name = base + std::string(kResumableData);
  const std::string record_name = base + std::string(kResumableRecord);
  const fs::path data_path = impl_->incoming / data_name;
  UniqueFd fd(::openat(impl_->incoming_fd.get(), data_name.c_str(),
                       O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, kFileMode));
  if (!fd.is_open()) {
    return tl::unexpected(ErrnoError(errno, "open resumable partial " + data_path.string()));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return tl::unexpected(ErrnoError(errno, "stat " + data_path.string()));
  }
  if (!S_ISREG(st.st_mode)) {
    return tl::unexpected(MakeError(Errc::kInvalidPath, data_path.string() + " is not a regular file"));
  }
  std::optional<std::string> record;
  UniqueFd record_fd(::openat(impl_->incoming_fd.get(), record_name.c_str(),
                              O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (record_fd.is_open()) {
    std::string content;
    char buffer[4096];
    while (content.size() <= kMaxRecordBytes) {
      const ssize_t n = ::read(record_fd.get(), buffer, sizeof(buffer));
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        return tl::unexpected(ErrnoError(errno, "read " + (impl_->incoming / record_name).string()));
      }
      if (n == 0) {
        break;
      }
      content.append(buffer, static_cast<size_t>(n));
    }
    // An oversized record is not one this store wrote for a caller: report it as absent.
    if (content.size() <= kMaxRecordBytes) {
      record = std::move(content);
    }
  } else if (errno != ENOENT) {
    return tl::unexpected(ErrnoError(errno, "open " + (impl_->incoming / record_name).string()));
  }
  PartialFile file(fd.Release(), data_path, impl_->incoming / record_name,
                   static_cast<uint64_t>(st.st_size), impl_->options.direct_writes);
  return ResumablePartial{std::move(file), std::move(record)};
}

Result<void> Tree::WriteResumableRecord(const PartialFile& file, std::string_view record) {
  if (file.record_path_.empty()) {
    return tl::unexpected(ErrnoError(EINVAL, "write a record for " + file.path_.string() +
                                                 ": not a resumable partial"));
  }
  // The data first: a record that survives a power loss must not describe bytes (or an
  // emptying) that did not (format.md, "fsync order").
  if (impl_->options.fsync && ::fdatasync(file.fd_) != 0) {
    return tl::unexpected(ErrnoError(errno, "fdatasync " + file.path_.string()));
  }
  auto temp = CreatePartial();
  if (!temp) {
    return tl::unexpected(temp.error());
  }
  if (auto written = temp->Write(AsBytes(record)); !written) {
    return written;
  }
  const int fd = std::exchange(temp->fd_, -1);
  if (::close(fd) != 0) {
    return tl::unexpected(ErrnoError(errno, "close " + temp->path_.string()));
  }
  if (::rename(temp->path_.c_str(), file.record_path_.c_str()) != 0) {
    return tl::unexpected(ErrnoError(
        errno, "rename " + temp->path_.string() + " to " + file.record_path_.string()));
  }
  temp->path_.clear();
  return {};
}

Result<void> Tree::Discard(PartialFile file) {
  if (file.fd_ >= 0) {
    static_cast<void>(::close(std::exchange(file.fd_, -1)));  // the bytes are thrown away
  }
  for (fs::path* path : {&file.path_, &file.record_path_}) {
    if (!path->empty() && ::unlink(path->c_str()) != 0 && errno != ENOENT) {
      return tl::unexpected(ErrnoError(errno, "remove " + path->string()));
    }
    path->clear();
  }
  return {};
}

Result<size_t> Tree::RemoveResumable(std::chrono::system_clock::time_point modified_before) {
  auto names = ListIncoming(impl_->incoming_fd.get(), impl_->incoming, [](std::string_view name) {
    return name.starts_with(kResumablePrefix) &&
           (name.ends_with(kResumableData) || name.ends_with(kResumableRecord));
  });
  if (!names) {
    return tl::unexpected(names.error());
  }
  struct Pair {
    bool data = false;
    bool record = false;
  };
  std::map<std::string, Pair> pairs;  // by base name
  for (const std::string& name : *names) {
    const bool data = name.ends_with(kResumableData);
    Pair& pair = pairs[name.substr(0, name.size() - (data ? kResumableData.size()
                                                          : kResumableRecord.size()))];
    (data ? pair.data : pair.record) = true;
  }
  const int dir = impl_->incoming_fd.get();
  size_t removed = 0;
  for (const auto& [base, pair] : pairs) {
    const std::string data_name = base + std::string(kResumableData);
    const std::string record_name = base + std::string(kResumableRecord);
    bool remove = !pair.data || !pair.record;
    if (!remove) {
      struct stat st {};
      if (::fstatat(dir, data_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno != ENOENT) {
          return tl::unexpected(ErrnoError(errno, "stat " + (impl_->incoming / data_name).string()));
        }
        remove = true;
      } else {
        const auto modified = std::chrono::system_clock::time_point(
            std::chrono::duration_cast<std::chrono::system_clock::duration>(
                std::chrono::seconds(st.st_mtim.tv_sec) +
                std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
        remove = modified_before == std::chrono::system_clock::time_point::max() ||
                 modified < modified_before;
      }
    }
    if (!remove) {
      continue;
    }
    for (const std::string& name : {data_name, record_name}) {
      if (::unlinkat(dir, name.c_str(), 0) != 0 && errno != ENOENT) {
        return tl::unexpected(ErrnoError(errno, "remove " + (impl_->incoming / name).string()));
      }
    }
    ++removed;
  }
  if (removed > 0 && impl_->options.fsync) {
    if (auto synced = SyncFd(dir, impl_->incoming.string()); !synced) {
      return tl::unexpected(synced.error());
    }
  }
  return removed;
}

Result<void> Tree::Sync() {
  if (!impl_->options.fsync) {
    return {};
  }
  if (::syncfs(impl_->web_fd.get()) != 0) {
    return tl::unexpected(ErrnoError(errno, "sync the filesystem of " + impl_->web.string()));
  }
  return {};
}

Result<void> Tree::WriteAtomic(const RelativePath& dest, std::span<const uint8_t> bytes) {
  auto file = CreatePartial();
  if (!file) {
    return tl::unexpected(file.error());
  }
  if (auto written = file->Write(bytes); !written) {
    return tl::unexpected(written.error());
  }
  return Publish(std::move(*file), dest);
}

Result<void> Tree::Remove(const RelativePath& dest) {
  auto chain = impl_->OpenParents(dest, /*create=*/false);
  if (!chain) {
    if (chain.error().code == std::errc::no_such_file_or_directory) {
      return {};
    }
    return tl::unexpected(chain.error());
  }
  const std::string name(dest.filename());
  if (::unlinkat(chain->back().get(), name.c_str(), 0) != 0) {
    if (errno == ENOENT) {
      return {};
    }
    return tl::unexpected(ErrnoError(errno, "remove " + impl_->Describe(dest)));
  }
  if (impl_->options.fsync) {
    if (auto synced = SyncFd(chain->back().get(), "directory of " + impl_->Describe(dest));
        !synced) {
      return tl::unexpected(synced.error());
    }
  }
  // Prune now-empty directories, deepest first; chain[0] is web/ itself and stays.
  std::vector<std::string_view> segments = dest.segments();
  for (size_t level = chain->size() - 1; level >= 1; --level) {
    const int parent = (*chain)[level - 1].get();
    const std::string dir_name(segments[level - 1]);
    if (::unlinkat(parent, dir_name.c_str(), AT_REMOVEDIR) != 0) {
      if (errno == ENOTEMPTY || errno == EEXIST || errno == ENOENT) {
        break;  // still in use (or already gone): the directories above are not empty either
      }
      return tl::unexpected(
          ErrnoError(errno, "remove empty directory of " + impl_->Describe(dest)));
    }
    if (impl_->options.fsync) {
      if (auto synced = SyncFd(parent, "directory of " + impl_->Describe(dest)); !synced) {
        return tl::unexpected(synced.error());
      }
    }
  }
  return {};
}

Result<std::optional<uint64_t>> Tree::FileSize(const RelativePath& dest) const {
  auto chain = impl_->OpenParents(dest, /*create=*/false);
  if (!chain) {
    if (chain.error().code == std::errc::no_such_file_or_directory) {
      return std::optional<uint64_t>();
    }
    return tl::unexpected(chain.error());
  }
  const std::string name(dest.filename());
  struct stat st {};
  if (::fstatat(chain->back().get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) {
      return std::optional<uint64_t>();
    }
    return tl::unexpected(ErrnoError(errno, "stat " + impl_->Describe(dest)));
  }
  if (!S_ISREG(st.st_mode)) {
    return tl::unexpected(
        MakeError(Errc::kInvalidPath, impl_->Describe(dest) + " is not a regular file"));
  }
  return std::optional<uint64_t>(static_cast<uint64_t>(st.st_size));
}

Result<std::string> Tree::ReadFile(const RelativePath& dest) const {
  auto chain = impl_->OpenParents(dest, /*create=*/false);
  if (!chain) {
    if (chain.error().code == std::errc::no_such_file_or_directory) {
      return tl::unexpected(MakeError(Errc::kNotFound, "read " + impl_->Describe(dest)));
    }
    return tl::unexpected(chain.error());
  }
  const std::string name(dest.filename());
  UniqueFd fd(::openat(chain->back().get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.is_open()) {
    if (errno == ENOENT) {
      return tl::unexpected(MakeError(Errc::kNotFound, "read " + impl_->Describe(dest)));
    }
    if (errno == ELOOP) {
      return tl::unexpected(
          MakeError(Errc::kInvalidPath, impl_->Describe(dest) + " is a symlink; refusing to read"));
    }
    return tl::unexpected(ErrnoError(errno, "open " + impl_->Describe(dest)));
  }
  std::string content;
  struct stat st {};
  if (::fstat(fd.get(), &st) == 0 && st.st_size > 0) {
    content.reserve(static_cast<size_t>(st.st_size));
  }
  char buffer[65536];
  while (true) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return tl::unexpected(ErrnoError(errno, "read " + impl_->Describe(dest)));
    }
    if (n == 0) {
      return content;
    }
    content.append(buffer, static_cast<size_t>(n));
  }
}

Result<size_t> Tree::RemoveStaleIncoming() {
  auto listed = ListIncoming(impl_->incoming_fd.get(), impl_->incoming,
                             [](std::string_view name) { return name.starts_with(kTempPrefix); });
  if (!listed) {
    return tl::unexpected(listed.error());
  }
  const std::vector<std::string>& stale = *listed;
  size_t removed = 0;
  for (const std::string& name : stale) {
    if (::unlinkat(impl_->incoming_fd.get(), name.c_str(), 0) != 0) {
      if (errno == ENOENT) {
        continue;
      }
      return tl::unexpected(ErrnoError(errno, "remove " + (impl_->incoming / name).string()));
    }
    ++removed;
  }
  if (removed > 0 && impl_->options.fsync) {
    if (auto synced = SyncFd(impl_->incoming_fd.get(), impl_->incoming.string()); !synced) {
      return tl::unexpected(synced.error());
    }
  }
  return removed;
}

fs::path Tree::WebPath(const RelativePath& dest) const { return impl_->web / dest.str(); }
const fs::path& Tree::root() const { return impl_->root; }
const fs::path& Tree::web_root() const { return impl_->web; }
const fs::path& Tree::incoming_dir() const { return impl_->incoming; }
const TreeOptions& Tree::options() const { return impl_->options; }

}  // namespace cistern::store
