// Local I/O failures (architecture.md, exit status 5): a full disk, an immutable directory and a
// read-only mirror end `cistern sync` with status 5 and a message naming the path; what was
// committed stays valid (every page links only files on disk), and the next run, once the problem
// is fixed, completes with the tree, status and journal of an uninterrupted sync.
//
// These tests mount a tmpfs, bind-mount read-only and set the immutable attribute, so they need
// root (CAP_SYS_ADMIN, CAP_LINUX_IMMUTABLE); they are skipped, with the reason, otherwise.

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <linux/fs.h>
#include <string>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "tests/e2e/mirror_check.h"
#include "tests/support/nginx_upstream.h"

namespace cistern {
namespace {

namespace fs = std::filesystem;
using testing::CheckLinks;
using testing::CommandResult;
using testing::CopyMirror;
using testing::DescribeTreeDifferences;
using testing::Generations;
using testing::HashTree;
using testing::JournalTree;
using testing::LinkCheck;
using testing::RunCommand;
using testing::Status;
using testing::SyncCommand;
using testing::TempDir;
using testing::TempFiles;
using testing::WriteConfig;

// A mount made by the test, undone (by its path) in the destructor.
class Mount {
 public:
  explicit Mount(fs::path target) : target_(std::move(target)) {}
  ~Mount() {
    if (::umount2(target_.c_str(), 0) != 0) {
      ::umount2(target_.c_str(), MNT_DETACH);
    }
  }
  Mount(const Mount&) = delete;
  Mount& operator=(const Mount&) = delete;

 private:
  fs::path target_;
};

// The immutable attribute on a directory, cleared in the destructor.
class Immutable {
 public:
  explicit Immutable(fs::path dir) : dir_(std::move(dir)) {}
  ~Immutable() { Set(dir_, false); }
  Immutable(const Immutable&) = delete;
  Immutable& operator=(const Immutable&) = delete;

  // Sets or clears FS_IMMUTABLE_FL on `dir`; 0 or an errno value.
  static int Set(const fs::path& dir, bool on) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      return errno;
    }
    int flags = 0;
    int error = 0;
    if (::ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0) {
      error = errno;
    } else {
      flags = on ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
      if (::ioctl(fd, FS_IOC_SETFLAGS, &flags) != 0) {
        error = errno;
      }
    }
    ::close(fd);
    return error;
  }

 private:
  fs::path dir_;
};

class LocalIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) {
      GTEST_SKIP() << "needs root: mounts a tmpfs, bind-mounts read-only, sets chattr +i";
    }
    config_ = WriteConfig(temp_.path() / "cistern.toml", /*fsync=*/false);
  }

  // Starts the upstream and writes the references: uninterrupted syncs of generation 0 (and 1).
  void StartUpstream(bool evolve) {
    generations_ = Generations::Start(evolve);
    ASSERT_NE(generations_, nullptr);
    reference0_ = temp_.path() / "reference-gen0";
    ASSERT_EQ(RunCommand(SyncCommand(config_, reference0_, generations_->gen0())).exit_code, 0);
    if (evolve) {
      reference1_ = temp_.path() / "reference-gen1";
      ASSERT_TRUE(CopyMirror(reference0_, reference1_));
      ASSERT_EQ(RunCommand(SyncCommand(config_, reference1_, generations_->gen1())).exit_code, 0);
    }
  }

  // The sync failed with status 5, naming `path_part` and `reason` on stderr; every page links
  // only files on disk.
  void ExpectLocalIoFailure(const CommandResult& result, const fs::path& mirror,
                            const std::string& path_part, const std::string& reason) {
    EXPECT_EQ(result.exit_code, 5) << result.out << result.err;
    EXPECT_NE(result.err.find(path_part), std::string::npos)
        << "the message does not name " << path_part << ": " << result.err;
    EXPECT_NE(result.err.find(reason), std::string::npos) << result.err;
    const LinkCheck links = CheckLinks(mirror / "web");
    EXPECT_TRUE(links.problems.empty())
        << links.problems.size() << " broken links after the failure, e.g. "
        << links.problems.front();
  }

  // The rerun completes with exactly the reference's tree, status and journal.
  void ExpectRerunCompletes(const std::vector<std::string>& sync, const fs::path& mirror,
                            const fs::path& reference) {
    const CommandResult rerun = RunCommand(sync);
    ASSERT_EQ(rerun.exit_code, 0) << rerun.out << rerun.err;
    const auto expected = HashTree(reference / "web");
    const auto tree = HashTree(mirror / "web");
    EXPECT_EQ(tree, expected) << DescribeTreeDifferences(expected, tree);
    EXPECT_TRUE(fs::is_empty(mirror / "incoming"))
        << TempFiles(mirror / "incoming").size() << " temporary files left in incoming/";
    EXPECT_EQ(Status(mirror), Status(reference));
    const auto journal = JournalTree(mirror);
    ASSERT_TRUE(journal.has_value());
    EXPECT_EQ(*journal, tree) << DescribeTreeDifferences(tree, *journal);
  }

  // Mounts a tmpfs of `size` (mount(8) syntax: "6m") at a new directory; skips the test if the
  // kernel refuses (no CAP_SYS_ADMIN, e.g. in an unprivileged container).
  std::unique_ptr<Mount> MountTmpfs(const std::string& name, const std::string& size) {
    const fs::path dir = temp_.path() / name;
    fs::create_directories(dir);
    const std::string options = "size=" + size + ",mode=0755";
    if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, options.c_str()) != 0) {
      return nullptr;
    }
    return std::make_unique<Mount>(dir);
  }

  TempDir temp_;
  fs::path config_;
  std::unique_ptr<Generations> generations_;
  fs::path reference0_;
  fs::path reference1_;
};

// The disk fills during a full sync (the tmpfs holds about half the tree); the next run, on a
// bigger tmpfs, continues and completes.
TEST_F(LocalIoTest, DiskFullDuringAFullSyncExitsWith5AndTheNextRunWithSpaceCompletes) {
  ASSERT_NO_FATAL_FAILURE(StartUpstream(/*evolve=*/false));
  size_t most_projects_kept = 0;
  for (const char* size : {"2m", "10m", "12m"}) {
    SCOPED_TRACE(std::string("tmpfs of ") + size);
    const std::string name = std::string("small-") + size;
    auto mount = MountTmpfs(name, size);
    if (mount == nullptr) {
      GTEST_SKIP() << "cannot mount a tmpfs: " << std::strerror(errno);
    }
    const fs::path mirror = temp_.path() / name / "mirror";
    const auto sync = SyncCommand(config_, mirror, generations_->gen0());
    const CommandResult failed = RunCommand(sync);
    ExpectLocalIoFailure(failed, mirror, mirror.string(), "No space left on device");
    EXPECT_TRUE(TempFiles(mirror / "incoming").empty());
    const size_t kept = CheckLinks(mirror / "web").projects;
    most_projects_kept = std::max(most_projects_kept, kept);
    std::cout << "[ disk full ] tmpfs of " << size << ": " << kept << " projects committed; "
              << failed.err.substr(0, failed.err.find('\n')) << std::endl;

    const std::string bigger = "size=64m";
    ASSERT_EQ(::mount("tmpfs", (temp_.path() / name).c_str(), "tmpfs", MS_REMOUNT, bigger.c_str()),
              0)
        << std::strerror(errno);
    ExpectRerunCompletes(sync, mirror, reference0_);
  }
  // The larger sizes fill up after some projects were committed (about 7 and 15 of 30 here), so
  // "what was committed stays valid" was checked on more than an empty tree.
  EXPECT_GE(most_projects_kept, 1u);
}

// The disk is full when the incremental sync starts (a filler file took the last byte); deleting
// the filler lets the next run complete.
TEST_F(LocalIoTest, DiskFullDuringAnIncrementalSyncExitsWith5AndTheNextRunCompletes) {
  ASSERT_NO_FATAL_FAILURE(StartUpstream(/*evolve=*/true));
  auto mount = MountTmpfs("disk", "64m");
  if (mount == nullptr) {
    GTEST_SKIP() << "cannot mount a tmpfs: " << std::strerror(errno);
  }
  const fs::path mirror = temp_.path() / "disk" / "mirror";
  ASSERT_TRUE(CopyMirror(reference0_, mirror));
  const fs::path filler = temp_.path() / "disk" / "filler";
  {
    std::ofstream out(filler, std::ios::binary);
    const std::string block(1 << 16, 'x');
    for (int i = 0; i < 2048 && out.write(block.data(), static_cast<std::streamsize>(block.size()));
         ++i) {
    }
  }
  ASSERT_LT(fs::space(filler.parent_path()).available, 65536u)
      << "the filler did not fill the disk";

  const auto sync = SyncCommand(config_, mirror, generations_->gen1());
  ExpectLocalIoFailure(RunCommand(sync), mirror, mirror.string(), "No space left on device");
  fs::remove(filler);
  ExpectRerunCompletes(sync, mirror, reference1_);
}

// An immutable web/simple/ (chattr +i) refuses the new project's directory and the root index:
// EPERM, status 5, the path named; once the attribute is cleared the next run completes.
TEST_F(LocalIoTest, ImmutableDirectoryExitsWith5NamingThePathAndTheNextRunCompletes) {
  ASSERT_NO_FATAL_FAILURE(StartUpstream(/*evolve=*/true));
  const fs::path mirror = temp_.path() / "mirror";
  ASSERT_TRUE(CopyMirror(reference0_, mirror));
  const fs::path simple = mirror / "web" / "simple";
  {
    Immutable guard(simple);
    if (const int error = Immutable::Set(simple, true); error != 0) {
      GTEST_SKIP() << "cannot set the immutable attribute on " << simple << ": "
                   << std::strerror(error);
    }
    const auto sync = SyncCommand(config_, mirror, generations_->gen1());
    ExpectLocalIoFailure(RunCommand(sync), mirror, simple.string(), "Operation not permitted");
  }
  ExpectRerunCompletes(SyncCommand(config_, mirror, generations_->gen1()), mirror, reference1_);
}

// A mirror on a read-only mount: refused at the start (nothing can be written), status 5.
TEST_F(LocalIoTest, ReadOnlyMirrorExitsWith5NamingThePathAndTheNextRunCompletes) {
  ASSERT_NO_FATAL_FAILURE(StartUpstream(/*evolve=*/true));
  const fs::path mirror = temp_.path() / "mirror";
  ASSERT_TRUE(CopyMirror(reference0_, mirror));
  {
    if (::mount(mirror.c_str(), mirror.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      GTEST_SKIP() << "cannot bind-mount " << mirror << ": " << std::strerror(errno);
    }
    Mount bind(mirror);
    ASSERT_EQ(::mount(nullptr, mirror.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr),
              0)
        << std::strerror(errno);
    const auto sync = SyncCommand(config_, mirror, generations_->gen1());
    ExpectLocalIoFailure(RunCommand(sync), mirror, mirror.string(), "Read-only file system");
    EXPECT_EQ(HashTree(mirror / "web"), HashTree(reference0_ / "web"));
  }
  ExpectRerunCompletes(SyncCommand(config_, mirror, generations_->gen1()), mirror, reference1_);
}

}  // namespace
}  // namespace cistern
