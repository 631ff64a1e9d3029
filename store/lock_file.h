// LockFile: the exclusive lock a sync (or any command that modifies a mirror) holds, so two
// cistern processes never change the same mirror at once.
//
// It is an advisory `flock(LOCK_EX)` on a file that also records the holder's PID for the error
// message. The kernel drops the lock when the holder's last descriptor closes, including when the
// process is killed, so a crashed run never leaves a lock that blocks the next one; the file itself
// stays (it is never deleted, which would race with a concurrent Acquire).
// Thread safety: a value owned by one thread; `Acquire` may be called from any thread.
#pragma once

#include <filesystem>
#include <string>
#include <utility>

#include "store/error.h"

namespace cistern::store {

class LockFile {
 public:
  LockFile(const LockFile&) = delete;
  LockFile& operator=(const LockFile&) = delete;
  LockFile(LockFile&& other) noexcept;
  LockFile& operator=(LockFile&& other) noexcept;
  // Releases the lock (the file stays).
  ~LockFile();

  // Creates or opens `path` (mode 0644) and takes the lock without waiting; on success writes
  // this process's PID into the file.
  // Errors: Errc::kLocked when another open file description holds it (another process, or
  // another Acquire in this one), with a detail naming `path` and the holder's PID as recorded in
  // the file; system codes naming `path` when it cannot be opened or written.
  [[nodiscard]] static Result<LockFile> Acquire(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }

 private:
  LockFile(int fd, std::filesystem::path path) : fd_(fd), path_(std::move(path)) {}

  int fd_ = -1;
  std::filesystem::path path_;
};

}  // namespace cistern::store
