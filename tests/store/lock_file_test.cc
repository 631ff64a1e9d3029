#include "store/lock_file.h"

#include <poll.h>
#include <signal.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "tests/store/result_helpers.h"
#include "tests/store/temp_dir.h"

namespace cistern::store {
namespace {

using testing::IsOk;
using testing::ReadTextFile;
using testing::TempDir;

TEST(LockFileTest, AcquireWritesPidAndSecondAcquireIsLockedNamingPid) {
  TempDir dir;
  const auto path = dir / "lock";
  auto first = LockFile::Acquire(path);
  ASSERT_TRUE(IsOk(first));
  const std::string pid = std::to_string(::getpid());
  EXPECT_EQ(ReadTextFile(path), pid + "\n");

  // A second Acquire opens a new file description, so flock conflicts even in one process.
  auto second = LockFile::Acquire(path);
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code, Errc::kLocked);
  EXPECT_EQ(second.error().detail,
            "lock file " + path.string() + " is held by another process (pid " + pid + ")");
}

TEST(LockFileTest, ReleasedOnDestructionAndFileKept) {
  TempDir dir;
  const auto path = dir / "lock";
  {
    auto first = LockFile::Acquire(path);
    ASSERT_TRUE(IsOk(first));
  }
  EXPECT_TRUE(std::filesystem::exists(path));
  auto again = LockFile::Acquire(path);
  ASSERT_TRUE(IsOk(again));
  LockFile moved = std::move(*again);
  EXPECT_EQ(moved.path(), path);
  EXPECT_FALSE(LockFile::Acquire(path).has_value());
}

TEST(LockFileTest, LockOfKilledProcessDoesNotBlock) {
  TempDir dir;
  const auto path = dir / "lock";
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(ready[0]);
    auto lock = LockFile::Acquire(path);
    const char byte = lock ? 'y' : 'n';
    static_cast<void>(::write(ready[1], &byte, 1));
    while (true) {
      ::pause();  // hold the lock until killed
    }
  }
  ::close(ready[1]);
  pollfd pfd{ready[0], POLLIN, 0};
  ASSERT_EQ(::poll(&pfd, 1, 10000), 1) << "child did not report within 10 s";
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  ::close(ready[0]);
  ASSERT_EQ(byte, 'y');

  auto blocked = LockFile::Acquire(path);
  ASSERT_FALSE(blocked.has_value());
  EXPECT_EQ(blocked.error().code, Errc::kLocked);
  EXPECT_EQ(blocked.error().detail, "lock file " + path.string() +
                                        " is held by another process (pid " +
                                        std::to_string(child) + ")");

  ASSERT_EQ(::kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);

  auto after = LockFile::Acquire(path);
  ASSERT_TRUE(IsOk(after));
  EXPECT_EQ(ReadTextFile(path), std::to_string(::getpid()) + "\n");
}

TEST(LockFileTest, UnopenablePathIsSystemErrorNamingPath) {
  TempDir dir;
  const auto path = dir / "missing-dir" / "lock";
  auto lock = LockFile::Acquire(path);
  ASSERT_FALSE(lock.has_value());
  EXPECT_EQ(lock.error().code, std::errc::no_such_file_or_directory);
  EXPECT_EQ(lock.error().detail, "open lock file " + path.string());
}

}  // namespace
}  // namespace cistern::store
