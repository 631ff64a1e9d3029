// UniqueFd: owns a POSIX file descriptor and closes it on destruction. The store's files use it,
// and so does any module that opens files itself (engine's file:// upstream).
#pragma once

#include <unistd.h>
#include <utility>

namespace cistern::store {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }

  int get() const { return fd_; }
  bool is_open() const { return fd_ >= 0; }

  // Gives up ownership without closing.
  int Release() { return std::exchange(fd_, -1); }

  // Closes now and returns close()'s result (0, or -1 with errno set); a no-op returning 0 when
  // nothing is open. Use it where a close error matters (after writing a file).
  int Close() {
    if (fd_ < 0) {
      return 0;
    }
    // Linux closes the descriptor even when close() fails, so it is never retried.
    return ::close(std::exchange(fd_, -1));
  }

 private:
  void Reset() {
    if (fd_ >= 0) {
      // Errors on close of a read-only or already-synced descriptor carry no information.
      static_cast<void>(::close(fd_));
      fd_ = -1;
    }
  }

  int fd_ = -1;
};

}  // namespace cistern::store
