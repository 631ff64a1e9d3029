#include "store/tree.h"

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "store/bytes.h"
#include "tests/store/result_helpers.h"
#include "tests/store/temp_dir.h"

namespace cistern::store {
namespace {
namespace fs = std::filesystem;

using testing::IsOk;
using testing::ListDir;
using testing::ReadTextFile;
using testing::TempDir;
using testing::WriteTextFile;

RelativePath Path(std::string_view text) {
  auto path = RelativePath::Parse(text);
  EXPECT_TRUE(IsOk(path));
  return *path;
}

class TreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tree = Tree::Open(dir_ / "mirror", TreeOptions{});
    ASSERT_TRUE(IsOk(tree));
    tree_.emplace(std::move(*tree));
  }

  fs::path Web(std::string_view relative) const { return dir_ / "mirror" / "web" / relative; }

  TempDir dir_;
  std::optional<Tree> tree_;
};

TEST_F(TreeTest, OpenCreatesWebAndIncoming) {
  EXPECT_EQ(ListDir(dir_ / "mirror"), (std::vector<std::string>{"incoming", "web"}));
  EXPECT_EQ(tree_->web_root(), dir_ / "mirror" / "web");
  EXPECT_EQ(tree_->incoming_dir(), dir_ / "mirror" / "incoming");
  EXPECT_EQ(tree_->WebPath(Path("a/b")), dir_ / "mirror" / "web" / "a/b");
  // Opening again over an existing tree is fine.
  EXPECT_TRUE(IsOk(Tree::Open(dir_ / "mirror", TreeOptions{})));
}

TEST_F(TreeTest, PublishCreatesDirectoriesAndContentWithoutTempFiles) {
  auto partial = tree_->CreatePartial();
  ASSERT_TRUE(IsOk(partial));
  const fs::path temp = partial->path();
  EXPECT_EQ(temp.parent_path(), dir_ / "mirror" / "incoming");
  EXPECT_TRUE(temp.filename().string().starts_with(".tmp-"));
  EXPECT_EQ(temp.filename().string().size(), 5u + 16u);
  ASSERT_TRUE(IsOk(partial->Write(AsBytes("hello "))));
  ASSERT_TRUE(IsOk(partial->Write(AsBytes("world"))));
  EXPECT_EQ(partial->size(), 11u);

  ASSERT_TRUE(IsOk(tree_->Publish(std::move(*partial), Path("packages/ab/cd/x-1.0.tar.gz"))));
  EXPECT_EQ(ReadTextFile(Web("packages/ab/cd/x-1.0.tar.gz")), "hello world");
  EXPECT_TRUE(ListDir(dir_ / "mirror" / "incoming").empty());
  EXPECT_FALSE(fs::exists(temp));
  struct stat st {};
  ASSERT_EQ(::stat(Web("packages/ab/cd/x-1.0.tar.gz").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  EXPECT_EQ(*tree_->FileSize(Path("packages/ab/cd/x-1.0.tar.gz")), std::optional<uint64_t>(11));
  EXPECT_EQ(*tree_->ReadFile(Path("packages/ab/cd/x-1.0.tar.gz")), "hello world");
}

TEST_F(TreeTest, DroppedPartialIsUnlinked) {
  fs::path temp;
  {
    auto partial = tree_->CreatePartial();
    ASSERT_TRUE(IsOk(partial));
    temp = partial->path();
    ASSERT_TRUE(IsOk(partial->Write(AsBytes("abandoned"))));
    EXPECT_TRUE(fs::exists(temp));
  }
  EXPECT_FALSE(fs::exists(temp));
  EXPECT_TRUE(ListDir(dir_ / "mirror" / "incoming").empty());
}

TEST_F(TreeTest, WriteAtomicReplacesExistingFile) {
  ASSERT_TRUE(IsOk(tree_->WriteAtomic(Path("simple/numpy/index.html"), AsBytes("old page"))));
  ASSERT_TRUE(IsOk(tree_->WriteAtomic(Path("simple/numpy/index.html"), AsBytes("new"))));
  EXPECT_EQ(ReadTextFile(Web("simple/numpy/index.html")), "new");
  EXPECT_EQ(ListDir(Web("simple/numpy")), (std::vector<std::string>{"index.html"}));
  EXPECT_TRUE(ListDir(dir_ / "mirror" / "incoming").empty());
}

TEST_F(TreeTest, RemovePrunesEmptyParentsButKeepsWebAndNonEmptyDirs) {
  ASSERT_TRUE(IsOk(tree_->WriteAtomic(Path("packages/ab/cd/one.whl"), AsBytes("1"))));
  ASSERT_TRUE(IsOk(tree_->WriteAtomic(Path("packages/ab/two.whl"), AsBytes("2"))));

  ASSERT_TRUE(IsOk(tree_->Remove(Path("packages/ab/cd/one.whl"))));
  EXPECT_FALSE(fs::exists(Web("packages/ab/cd")));
  EXPECT_EQ(ListDir(Web("packages/ab")), (std::vector<std::string>{"two.whl"}));

  ASSERT_TRUE(IsOk(tree_->Remove(Path("packages/ab/two.whl"))));
  EXPECT_TRUE(fs::is_directory(Web("")));
  EXPECT_TRUE(ListDir(Web("")).empty());
}

TEST_F(TreeTest, RemoveOfMissingFileOrDirectoryIsNotAnError) {
  EXPECT_TRUE(IsOk(tree_->Remove(Path("never/was/here.whl"))));
  ASSERT_TRUE(IsOk(tree_->WriteAtomic(Path("dir/kept.whl"), AsBytes("k"))));
  EXPECT_TRUE(IsOk(tree_->Remove(Path("dir/absent.whl"))));
  EXPECT_EQ(ReadTextFile(Web("dir/kept.whl")), "k");
}

TEST_F(TreeTest, MissingFilesReadAsNotFoundAndNullSize) {
  EXPECT_EQ(*tree_->FileSize(Path("no/such.whl")), std::nullopt);
  auto read = tree_->ReadFile(Path("no/such.whl"));
  ASSERT_FALSE(read.has_value());
  EXPECT_EQ(read.error().code, Errc::kNotFound);
  EXPECT_EQ(read.error().detail, "read " + Web("no/such.whl").string());
}

TEST_F(TreeTest, RemoveStaleIncomingDeletesOnlyTempFiles) {
  WriteTextFile(dir_ / "mirror" / "incoming" / ".tmp-0123456789abcdef", "left by a crash");
  WriteTextFile(dir_ / "mirror" / "incoming" / ".tmp-feedface", "another");
  WriteTextFile(dir_ / "mirror" / "incoming" / "keep-me", "not ours");
  auto removed = tree_->RemoveStaleIncoming();
  ASSERT_TRUE(IsOk(removed));
  EXPECT_EQ(*removed, 2u);
  EXPECT_EQ(ListDir(dir_ / "mirror" / "incoming"), (std::vector<std::string>{"keep-me"}));
  EXPECT_EQ(*tree_->RemoveStaleIncoming(), 0u);
}

TEST_F(TreeTest, AResumablePartialKeepsItsBytesAndRecordAcrossOpens) {
  const fs::path incoming = dir_ / "mirror" / "incoming";
  {
    auto opened = tree_->OpenResumable("packages/aa/x.whl");
    ASSERT_TRUE(IsOk(opened));
    EXPECT_TRUE(opened->file.resumable());
    EXPECT_EQ(opened->file.size(), 0u);
    EXPECT_FALSE(opened->record.has_value());
    ASSERT_TRUE(IsOk(tree_->WriteResumableRecord(opened->file, "record v1")));
    ASSERT_TRUE(IsOk(opened->file.Write(AsBytes("hello "))));
  }  // destroyed unpublished: kept
  const std::vector<std::string> names = ListDir(incoming);
  ASSERT_EQ(names.size(), 2u);
  EXPECT_TRUE(names[0].starts_with("part-") && names[0].ends_with(".data")) << names[0];
  EXPECT_EQ(names[0].size(), std::string("part-.data").size() + 32);
  EXPECT_EQ(names[1], names[0].substr(0, names[0].size() - 5) + ".meta");
  EXPECT_EQ(*tree_->RemoveStaleIncoming(), 0u);  // not a temporary

  auto again = tree_->OpenResumable("packages/aa/x.whl");
  ASSERT_TRUE(IsOk(again));
  EXPECT_EQ(again->file.size(), 6u);
  EXPECT_EQ(again->record, "record v1");
  ASSERT_TRUE(IsOk(again->file.Write(AsBytes("world"))));  // appends
  std::vector<uint8_t> head(5);
  auto read = again->file.ReadAt(0, head);
  ASSERT_TRUE(IsOk(read));
  EXPECT_EQ(*read, 5u);
  EXPECT_EQ(std::string(head.begin(), head.end()), "hello");
  ASSERT_TRUE(IsOk(tree_->WriteResumableRecord(again->file, "record v2")));

  // Another key is another partial.
  auto other = tree_->OpenResumable("packages/aa/y.whl");
  ASSERT_TRUE(IsOk(other));
  EXPECT_EQ(other->file.size(), 0u);
  EXPECT_NE(other->file.path(), again->file.path());
  ASSERT_TRUE(IsOk(tree_->Discard(std::move(other->file))));

  ASSERT_TRUE(IsOk(tree_->Publish(std::move(again->file), Path("packages/aa/x.whl"))));
  EXPECT_EQ(ReadTextFile(Web("packages/aa/x.whl")), "hello world");
  EXPECT_TRUE(ListDir(incoming).empty());  // data renamed, record unlinked
}

TEST_F(TreeTest, TruncateEmptiesAPartialForARestart) {
  auto opened = tree_->OpenResumable("k");
  ASSERT_TRUE(IsOk(opened));
  ASSERT_TRUE(IsOk(opened->file.Write(AsBytes("stale bytes"))));
  ASSERT_TRUE(IsOk(opened->file.Truncate()));
  EXPECT_EQ(opened->file.size(), 0u);
  ASSERT_TRUE(IsOk(opened->file.Write(AsBytes("new"))));
  auto temp = tree_->CreatePartial();
  ASSERT_TRUE(IsOk(temp));
  EXPECT_FALSE(temp->resumable());
  ASSERT_TRUE(IsOk(temp->Write(AsBytes("0123456789"))));
  ASSERT_TRUE(IsOk(temp->Truncate()));
  ASSERT_TRUE(IsOk(temp->Write(AsBytes("ab"))));
  ASSERT_TRUE(IsOk(tree_->Publish(std::move(opened->file), Path("r"))));
  ASSERT_TRUE(IsOk(tree_->Publish(std::move(*temp), Path("t"))));
  EXPECT_EQ(ReadTextFile(Web("r")), "new");
  EXPECT_EQ(ReadTextFile(Web("t")), "ab");
}

TEST_F(TreeTest, DiscardRemovesDataAndRecord) {
  auto opened = tree_->OpenResumable("k");
  ASSERT_TRUE(IsOk(opened));
  ASSERT_TRUE(IsOk(tree_->WriteResumableRecord(opened->file, "r")));
  ASSERT_TRUE(IsOk(opened->file.Write(AsBytes("x"))));
  ASSERT_TRUE(IsOk(tree_->Discard(std::move(opened->file))));
  EXPECT_TRUE(ListDir(dir_ / "mirror" / "incoming").empty());
  auto temp = tree_->CreatePartial();
  ASSERT_TRUE(IsOk(temp));
  ASSERT_TRUE(IsOk(tree_->Discard(std::move(*temp))));
  EXPECT_TRUE(ListDir(dir_ / "mirror" / "incoming").empty());
  auto not_resumable = tree_->CreatePartial();
  ASSERT_TRUE(IsOk(not_resumable));
  auto refused = tree_->WriteResumableRecord(*not_resumable, "r");
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, std::errc::invalid_argument);
}

TEST_F(TreeTest, RemoveResumableSweepsOldPartialsAndOrphans) {
  const fs::path incoming = dir_ / "mirror" / "incoming";
  for (const char* key : {"old", "new"}) {
    auto opened = tree_->OpenResumable(key);
    ASSERT_TRUE(IsOk(opened));
    ASSERT_TRUE(IsOk(tree_->WriteResumableRecord(opened->file, key)));
    ASSERT_TRUE(IsOk(opened->file.Write(AsBytes(key))));
  }
  std::string old_data;
  {
    auto old = tree_->OpenResumable("old");
    ASSERT_TRUE(IsOk(old));
    old_data = old->file.path().string();
  }
  fs::last_write_time(old_data, fs::file_time_type::clock::now() - std::chrono::hours(48));
  WriteTextFile(incoming / "part-0123456789abcdef0123456789abcdef.meta", "orphan record");
  WriteTextFile(incoming / "part-fedcba9876543210fedcba9876543210.data", "orphan data");
  WriteTextFile(incoming / ".tmp-0123456789abcdef", "a temporary");
  WriteTextFile(incoming / "keep-me", "not ours");
  ASSERT_EQ(ListDir(incoming).size(), 8u);

  auto removed = tree_->RemoveResumable(std::chrono::system_clock::now() - std::chrono::hours(24));
  ASSERT_TRUE(IsOk(removed));
  EXPECT_EQ(*removed, 3u);  // "old" and both orphans
  EXPECT_FALSE(fs::exists(old_data));
  EXPECT_EQ(ListDir(incoming).size(), 4u);  // "new" (2 files), the temporary, keep-me
  auto kept = tree_->OpenResumable("new");
  ASSERT_TRUE(IsOk(kept));
  EXPECT_EQ(kept->file.size(), 3u);
  EXPECT_EQ(kept->record, "new");
  kept = tl::unexpected(Error{});  // close it before sweeping everything

  removed = tree_->RemoveResumable(std::chrono::system_clock::time_point::max());
  ASSERT_TRUE(IsOk(removed));
  EXPECT_EQ(*removed, 1u);
  EXPECT_EQ(ListDir(incoming), (std::vector<std::string>{".tmp-0123456789abcdef", "keep-me"}));
}

TEST_F(TreeTest, RefusesToWriteThroughSymlinkedDirectory) {
  const fs::path outside = dir_ / "outside";
  fs::create_directories(outside);
  fs::create_directories(Web("packages"));
  fs::create_directory_symlink(outside, Web("packages/evil"));

  auto written = tree_->WriteAtomic(Path("packages/evil/x.whl"), AsBytes("payload"));
  ASSERT_FALSE(written.has_value());
  EXPECT_EQ(written.error().code, Errc::kInvalidPath);
  EXPECT_EQ(written.error().detail,
            Web("packages/evil").string() + " is a symlink; refusing to follow it inside the tree");
  EXPECT_TRUE(ListDir(outside).empty());
  EXPECT_TRUE(ListDir(dir_ / "mirror" / "incoming").empty());

  auto removed = tree_->Remove(Path("packages/evil/x.whl"));
  ASSERT_FALSE(removed.has_value());
  EXPECT_EQ(removed.error().code, Errc::kInvalidPath);
  auto read = tree_->ReadFile(Path("packages/evil/x.whl"));
  ASSERT_FALSE(read.has_value());
  EXPECT_EQ(read.error().code, Errc::kInvalidPath);
}

TEST_F(TreeTest, RefusesFileWhereDirectoryIsNeeded) {
  ASSERT_TRUE(IsOk(tree_->WriteAtomic(Path("a"), AsBytes("file"))));
  auto written = tree_->WriteAtomic(Path("a/b"), AsBytes("x"));
  ASSERT_FALSE(written.has_value());
  EXPECT_EQ(written.error().code, Errc::kInvalidPath);
  EXPECT_EQ(written.error().detail, Web("a").string() + " is not a directory");
}

TEST_F(TreeTest, ReadFileRefusesSymlinkedFile) {
  WriteTextFile(dir_ / "secret", "secret");
  fs::create_symlink(dir_ / "secret", Web("link"));
  auto read = tree_->ReadFile(Path("link"));
  ASSERT_FALSE(read.has_value());
  EXPECT_EQ(read.error().code, Errc::kInvalidPath);
  auto size = tree_->FileSize(Path("link"));
  ASSERT_FALSE(size.has_value());
  EXPECT_EQ(size.error().code, Errc::kInvalidPath);
  // Publishing over a symlink replaces the link itself, never the file it points to.
  ASSERT_TRUE(IsOk(tree_->WriteAtomic(Path("link"), AsBytes("mirror bytes"))));
  EXPECT_EQ(ReadTextFile(dir_ / "secret"), "secret");
  EXPECT_FALSE(fs::is_symlink(Web("link")));
  EXPECT_EQ(ReadTextFile(Web("link")), "mirror bytes");
}

// As root, permission bits do not stop us, so this uses a failure that holds for root too: a
// component of the root path is a regular file (ENOTDIR).
TEST(TreeOpenTest, RootUnderRegularFileFailsNamingPath) {
  TempDir dir;
  WriteTextFile(dir / "file", "x");
  const fs::path root = dir / "file" / "mirror";
  auto tree = Tree::Open(root, TreeOptions{});
  ASSERT_FALSE(tree.has_value());
  EXPECT_EQ(tree.error().code, std::errc::not_a_directory);
  EXPECT_EQ(tree.error().detail, "create mirror directory " + root.string());
  EXPECT_FALSE(IsPermission(tree.error()));
}

// A real permission failure: a forked child drops to uid/gid 65534 (nobody) and opens a tree whose
// root it may not write. The child reports the error's code and detail through a pipe.
struct ChildOutcome {
  bool ok = false;
  int code = 0;
  bool is_permission = false;
  std::string detail;
};

ChildOutcome OpenAsNobody(const fs::path& root) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    std::string report;
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) {
      report = "setuid failed";
    } else {
      auto tree = Tree::Open(root, TreeOptions{});
      report = tree ? "ok"
                    : std::to_string(tree.error().code.value()) + "|" +
                          (IsPermission(tree.error()) ? "1" : "0") + "|" + tree.error().detail;
    }
    const ssize_t n = ::write(fds[1], report.data(), report.size());
    ::_exit(n == static_cast<ssize_t>(report.size()) ? 0 : 1);
  }
  ::close(fds[1]);
  std::string report;
  char buffer[512];
  ssize_t n = 0;
  while ((n = ::read(fds[0], buffer, sizeof(buffer))) > 0) {
    report.append(buffer, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ChildOutcome outcome;
  if (report == "ok") {
    outcome.ok = true;
    return outcome;
  }
  const size_t bar1 = report.find('|');
  const size_t bar2 = report.find('|', bar1 + 1);
  if (bar1 == std::string::npos || bar2 == std::string::npos) {
    outcome.detail = report;
    return outcome;
  }
  outcome.code = std::stoi(report.substr(0, bar1));
  outcome.is_permission = report.substr(bar1 + 1, bar2 - bar1 - 1) == "1";
  outcome.detail = report.substr(bar2 + 1);
  return outcome;
}

TEST(TreeOpenTest, UnwritableRootGivesPermissionErrorNamingPath) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "needs root to switch to the nobody user";
  }
  TempDir dir;
  const fs::path root = dir / "owned-by-root";
  fs::create_directories(root);  // 0755 root: nobody may not create web/ in it
  const ChildOutcome outcome = OpenAsNobody(root);
  ASSERT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.code, EACCES) << outcome.detail;
  EXPECT_TRUE(outcome.is_permission);
  EXPECT_EQ(outcome.detail, "create directory " + (root / "web").string());
}

TEST(TreeOpenTest, ExistingUnwritableWebGivesPermissionErrorNamingPath) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "needs root to switch to the nobody user";
  }
  TempDir dir;
  const fs::path root = dir / "mirror";
  fs::create_directories(root / "web");
  fs::create_directories(root / "incoming");
  const ChildOutcome outcome = OpenAsNobody(root);
  ASSERT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.code, EACCES) << outcome.detail;
  EXPECT_TRUE(outcome.is_permission);
  EXPECT_EQ(outcome.detail, "directory " + (root / "web").string() + " is not writable");
}

TEST(TreeOpenTest, RelativeRootIsMadeAbsolute) {
  TempDir dir;
  const fs::path saved = fs::current_path();
  fs::current_path(dir.path());
  auto tree = Tree::Open("rel", TreeOptions{});
  fs::current_path(saved);
  ASSERT_TRUE(IsOk(tree));
  EXPECT_EQ(tree->root(), dir / "rel");
  EXPECT_EQ(tree->web_root(), dir / "rel" / "web");
  ASSERT_TRUE(IsOk(tree->WriteAtomic(Path("f"), AsBytes("x"))));
  EXPECT_EQ(ReadTextFile(dir / "rel" / "web" / "f"), "x");
}

TEST(TreeOptionsTest, PublishWithoutFsyncStillLandsAtomically) {
  TempDir dir;
  auto tree = Tree::Open(dir / "m", TreeOptions{.fsync = false});
  ASSERT_TRUE(IsOk(tree));
  EXPECT_FALSE(tree->options().fsync);
  ASSERT_TRUE(IsOk(tree->WriteAtomic(Path("x/y"), AsBytes("bytes"))));
  EXPECT_EQ(ReadTextFile(dir / "m" / "web" / "x" / "y"), "bytes");
  EXPECT_TRUE(ListDir(dir / "m" / "incoming").empty());
}

// Which pages of `path` are in the page cache (mincore of a read-only mapping: nothing is read).
std::vector<bool> ResidentPages(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0) << path;
  const auto size = static_cast<size_t>(fs::file_size(path));
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  EXPECT_NE(map, MAP_FAILED);
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> flags((size + page - 1) / page);
  EXPECT_EQ(::mincore(map, size, flags.data()), 0) << std::strerror(errno);
  ::munmap(map, size);
  std::vector<bool> resident;
  for (unsigned char flag : flags) {
    resident.push_back((flag & 1) != 0);
  }
  return resident;
}

// `size` bytes of a pattern, at an address aligned for O_DIRECT.
struct AlignedBytes {
  explicit AlignedBytes(size_t n)
      : data(static_cast<uint8_t*>(std::aligned_alloc(  // a size in whole blocks, as C requires
            kDirectAlignment, (n / kDirectAlignment + 1) * kDirectAlignment))),
        size(n) {
    for (size_t i = 0; i < n; ++i) {
      data[i] = static_cast<uint8_t>('a' + i % 26);
    }
  }
  ~AlignedBytes() { std::free(data); }
  AlignedBytes(const AlignedBytes&) = delete;
  AlignedBytes& operator=(const AlignedBytes&) = delete;
  std::span<const uint8_t> span(size_t from = 0) const { return {data + from, size - from}; }
  std::string str() const { return std::string(reinterpret_cast<const char*>(data), size); }
  uint8_t* data;
  size_t size;
};

TEST(TreeDirectWritesTest, WholeAlignedBlocksSkipThePageCacheAndTheRestIsBuffered) {
  TempDir dir;  // $TMPDIR: a disk filesystem that takes O_DIRECT (ext4 here)
  auto tree = Tree::Open(dir / "m", TreeOptions{.direct_writes = true});
  ASSERT_TRUE(IsOk(tree));
  auto partial = tree->CreatePartial();
  ASSERT_TRUE(IsOk(partial));
  const AlignedBytes first(8 * kDirectAlignment + 100);  // 8 blocks direct, 100 bytes buffered
  ASSERT_TRUE(IsOk(partial->Write(first.span())));
  const AlignedBytes second(3 * kDirectAlignment);  // the file's size is not aligned now
  ASSERT_TRUE(IsOk(partial->Write(second.span())));
  EXPECT_EQ(partial->size(), first.size + second.size);
  const std::vector<bool> resident = ResidentPages(partial->path());
  ASSERT_EQ(resident.size(), 12u);
  for (size_t page = 0; page < 8; ++page) {
    EXPECT_FALSE(resident[page]) << "page " << page << " was written with O_DIRECT";
  }
  for (size_t page = 8; page < 12; ++page) {
    EXPECT_TRUE(resident[page]) << "page " << page << " was written through the page cache";
  }
  std::vector<uint8_t> head(10);
  auto read = partial->ReadAt(1, head);  // after direct writes, an unaligned read (it caches)
  ASSERT_TRUE(IsOk(read));
  EXPECT_EQ(std::string(head.begin(), head.end()), first.str().substr(1, 10));
  ASSERT_TRUE(IsOk(tree->Publish(std::move(*partial), Path("p/f"))));
  EXPECT_EQ(ReadTextFile(dir / "m" / "web" / "p" / "f"), first.str() + second.str());
}

TEST(TreeDirectWritesTest, AnUnalignedBufferOrResumeOffsetIsWrittenBuffered) {
  TempDir dir;
  auto tree = Tree::Open(dir / "m", TreeOptions{.direct_writes = true});
  ASSERT_TRUE(IsOk(tree));
  const AlignedBytes bytes(4 * kDirectAlignment + 1);
  {
    auto opened = tree->OpenResumable("k");
    ASSERT_TRUE(IsOk(opened));
    ASSERT_TRUE(IsOk(opened->file.Write(bytes.span().first(1000))));
  }  // kept: resumed at offset 1000, not a block boundary
  auto again = tree->OpenResumable("k");
  ASSERT_TRUE(IsOk(again));
  EXPECT_EQ(again->file.size(), 1000u);
  ASSERT_TRUE(IsOk(again->file.Write(bytes.span(1000))));
  ASSERT_TRUE(IsOk(tree->Publish(std::move(again->file), Path("r"))));
  EXPECT_EQ(ReadTextFile(dir / "m" / "web" / "r"), bytes.str());

  auto temp = tree->CreatePartial();
  ASSERT_TRUE(IsOk(temp));
  ASSERT_TRUE(IsOk(temp->Write(bytes.span(1))));  // an address one byte past a block
  ASSERT_TRUE(IsOk(tree->Publish(std::move(*temp), Path("u"))));
  EXPECT_EQ(ReadTextFile(dir / "m" / "web" / "u"), bytes.str().substr(1));
}

TEST(TreeDirectWritesTest, AFilesystemWithoutODirectFallsBackToBufferedWrites) {
  if (!fs::is_directory("/dev/shm")) {
    GTEST_SKIP() << "no /dev/shm (tmpfs) here";
  }
  const fs::path dir = fs::path("/dev/shm") / ("cistern-direct-" + std::to_string(::getpid()));
  {
    auto tree = Tree::Open(dir / "m", TreeOptions{.direct_writes = true});
    ASSERT_TRUE(IsOk(tree));
    auto partial = tree->CreatePartial();
    ASSERT_TRUE(IsOk(partial));
    const AlignedBytes bytes(5 * kDirectAlignment);
    ASSERT_TRUE(IsOk(partial->Write(bytes.span())));
    ASSERT_TRUE(IsOk(partial->Write(bytes.span())));
    ASSERT_TRUE(IsOk(tree->Publish(std::move(*partial), Path("f"))));
    EXPECT_EQ(ReadTextFile(dir / "m" / "web" / "f"), bytes.str() + bytes.str());
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cistern::store
