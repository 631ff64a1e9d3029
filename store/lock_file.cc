#include "store/lock_file.h"

#include <cerrno>
#include <fcntl.h>
#include <string_view>
#include <sys/file.h>
#include <unistd.h>
#include <utility>

#include "store/unique_fd.h"

namespace cistern::store {
namespace fs = std::filesystem;

namespace {

constexpr mode_t kLockFileMode = 0644;
constexpr size_t kMaxPidText = 32;

// The PID recorded by the holder, as text, or "unknown" if the file is empty or unreadable
// (the holder may be between flock and writing its PID).
std::string RecordedPid(int fd) {
  char buffer[kMaxPidText] = {};
  const ssize_t n = ::pread(fd, buffer, sizeof(buffer), 0);
  if (n <= 0) {
    return "unknown";
  }
  std::string_view text(buffer, static_cast<size_t>(n));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
    text.remove_suffix(1);
  }
  if (text.empty() || text.find_first_not_of("0123456789") != std::string_view::npos) {
    return "unknown";
  }
  return std::string(text);
}

}  // namespace

LockFile::LockFile(LockFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::exchange(other.path_, fs::path())) {}

LockFile& LockFile::operator=(LockFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) {
      static_cast<void>(::close(fd_));  // closing the last descriptor releases the flock
    }
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::exchange(other.path_, fs::path());
  }
  return *this;
}

LockFile::~LockFile() {
  if (fd_ >= 0) {
    // Unlock explicitly: a forked child may still hold a copy of this descriptor, and the lock
    // must end here, not when the child exits.
    static_cast<void>(::flock(fd_, LOCK_UN));
    static_cast<void>(::close(fd_));
  }
}

Result<LockFile> LockFile::Acquire(const fs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, kLockFileMode));
  if (!fd.is_open()) {
    return tl::unexpected(ErrnoError(errno, "open lock file " + path.string()));
  }
  while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) {
      continue;
    }
    if (errno == EWOULDBLOCK) {
      return tl::unexpected(MakeError(Errc::kLocked, "lock file " + path.string() +
                                                         " is held by another process (pid " +
                                                         RecordedPid(fd.get()) + ")"));
    }
    return tl::unexpected(ErrnoError(errno, "lock " + path.string()));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) != 0) {
    return tl::unexpected(ErrnoError(errno, "truncate lock file " + path.string()));
  }
  const ssize_t n = ::pwrite(fd.get(), pid.data(), pid.size(), 0);
  if (n < 0 || static_cast<size_t>(n) != pid.size()) {
    return tl::unexpected(
        ErrnoError(n < 0 ? errno : EIO, "write pid to lock file " + path.string()));
  }
  return LockFile(fd.Release(), path);
}

}  // namespace cistern::store
