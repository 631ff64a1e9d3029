// Crash consistency of Tree::Publish: the real test binary is re-run once per crash point with
// CISTERN_CRASH_AT set, publishing over an existing file; after the kill, the tree must hold
// either the old or the new bytes, complete, and a rerun's cleanup must leave no temp file.
#include "store/crash_point.h"

#include <cstdlib>
#include <signal.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "store/bytes.h"
#include "store/tree.h"
#include "tests/store/result_helpers.h"
#include "tests/store/temp_dir.h"

extern char** environ;

namespace cistern::store {
namespace {
namespace fs = std::filesystem;

using testing::IsOk;
using testing::ListDir;
using testing::ReadTextFile;
using testing::TempDir;

constexpr char kRootVariable[] = "CISTERN_CRASH_TEST_ROOT";
constexpr char kChildTest[] = "CrashPointChildTest.DISABLED_PublishesNewBytes";

// Runs in the re-executed binary only (disabled, so a normal run skips it).
TEST(CrashPointChildTest, DISABLED_PublishesNewBytes) {
  const char* root = std::getenv(kRootVariable);
  if (root == nullptr) {
    GTEST_SKIP() << kRootVariable << " is not set";
  }
  auto tree = Tree::Open(root, TreeOptions{});
  ASSERT_TRUE(IsOk(tree));
  auto path = RelativePath::Parse("packages/ab/file.whl");
  ASSERT_TRUE(IsOk(path));
  ASSERT_TRUE(IsOk(tree->WriteAtomic(*path, AsBytes("new bytes"))));
}

// Runs in the re-executed binary only: publishes three files, one after the other.
TEST(CrashPointChildTest, DISABLED_PublishesThreeFiles) {
  const char* root = std::getenv(kRootVariable);
  if (root == nullptr) {
    GTEST_SKIP() << kRootVariable << " is not set";
  }
  auto tree = Tree::Open(root, TreeOptions{});
  ASSERT_TRUE(IsOk(tree));
  for (const char* name : {"packages/one.whl", "packages/two.whl", "packages/three.whl"}) {
    auto path = RelativePath::Parse(name);
    ASSERT_TRUE(IsOk(path));
    ASSERT_TRUE(IsOk(tree->WriteAtomic(*path, AsBytes(name))));
  }
}

// Re-runs this binary with the child test and `crash_at`; returns the wait status.
int RunChild(const fs::path& root, const std::string& crash_at,
             const char* child_test = kChildTest) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    if (!entry.starts_with("CISTERN_CRASH_AT=") && !entry.starts_with(kRootVariable)) {
      env_strings.emplace_back(entry);
    }
  }
  env_strings.push_back("CISTERN_CRASH_AT=" + crash_at);
  env_strings.push_back(std::string(kRootVariable) + "=" + root.string());
  std::vector<std::string> arg_strings = {"/proc/self/exe",
                                          std::string("--gtest_filter=") + child_test,
                                          "--gtest_also_run_disabled_tests"};
  std::vector<char*> argv;
  for (std::string& s : arg_strings) {
    argv.push_back(s.data());
  }
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (std::string& s : env_strings) {
    envp.push_back(s.data());
  }
  envp.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execve("/proc/self/exe", argv.data(), envp.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

class CrashPointTest : public ::testing::TestWithParam<const char*> {};

TEST_P(CrashPointTest, PublishKilledAtPointLeavesCompleteOldOrNewFile) {
#if !defined(CISTERN_CRASH_POINTS)
  GTEST_SKIP() << "built without CISTERN_CRASH_POINTS";
#endif
  const std::string point = GetParam();
  TempDir dir;
  const fs::path root = dir / "mirror";
  {
    auto tree = Tree::Open(root, TreeOptions{});
    ASSERT_TRUE(IsOk(tree));
    auto path = RelativePath::Parse("packages/ab/file.whl");
    ASSERT_TRUE(IsOk(tree->WriteAtomic(*path, AsBytes("old bytes"))));
  }

  const int status = RunChild(root, point);
  ASSERT_TRUE(WIFSIGNALED(status))
      << "child was not killed at " << point << "; wait status " << status;
  EXPECT_EQ(WTERMSIG(status), SIGKILL);

  const fs::path published = root / "web" / "packages" / "ab" / "file.whl";
  const std::vector<std::string> incoming = ListDir(root / "incoming");
  if (point == "tree.before_rename") {
    EXPECT_EQ(ReadTextFile(published), "old bytes");
    ASSERT_EQ(incoming.size(), 1u);
    EXPECT_TRUE(incoming[0].starts_with(".tmp-"));
    EXPECT_EQ(ReadTextFile(root / "incoming" / incoming[0]), "new bytes");
  } else {
    EXPECT_EQ(ReadTextFile(published), "new bytes");
    EXPECT_TRUE(incoming.empty());
  }

  // The next run cleans up whatever the crash left in incoming/.
  auto tree = Tree::Open(root, TreeOptions{});
  ASSERT_TRUE(IsOk(tree));
  auto removed = tree->RemoveStaleIncoming();
  ASSERT_TRUE(IsOk(removed));
  EXPECT_EQ(*removed, point == "tree.before_rename" ? 1u : 0u);
  EXPECT_TRUE(ListDir(root / "incoming").empty());
}

INSTANTIATE_TEST_SUITE_P(TreePublish, CrashPointTest,
                         ::testing::Values("tree.before_rename", "tree.after_rename"),
                         [](const ::testing::TestParamInfo<const char*>& param_info) {
                           return std::string(param_info.param) == "tree.before_rename"
                                      ? std::string("BeforeRename")
                                      : std::string("AfterRename");
                         });

// `name:N` kills on the N-th pass: after two files are in place and the third is renamed.
TEST(CrashPointCountTest, NameColonNKillsOnTheNthPass) {
#if !defined(CISTERN_CRASH_POINTS)
  GTEST_SKIP() << "built without CISTERN_CRASH_POINTS";
#endif
  TempDir dir;
  const fs::path root = dir / "mirror";
  const int status =
      RunChild(root, "tree.before_rename:3", "CrashPointChildTest.DISABLED_PublishesThreeFiles");
  ASSERT_TRUE(WIFSIGNALED(status)) << "wait status " << status;
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  EXPECT_EQ(ReadTextFile(root / "web" / "packages" / "one.whl"), "packages/one.whl");
  EXPECT_EQ(ReadTextFile(root / "web" / "packages" / "two.whl"), "packages/two.whl");
  EXPECT_FALSE(fs::exists(root / "web" / "packages" / "three.whl"));
  EXPECT_EQ(ListDir(root / "incoming").size(), 1u);
}

// A pass count beyond the passes made, or a malformed one, never kills.
TEST(CrashPointCountTest, UnreachedOrMalformedCountNeverKills) {
#if !defined(CISTERN_CRASH_POINTS)
  GTEST_SKIP() << "built without CISTERN_CRASH_POINTS";
#endif
  for (const char* crash_at : {"tree.before_rename:4", "tree.before_rename:0",
                               "tree.before_rename:x", "tree.before_rename:"}) {
    TempDir dir;
    const int status =
        RunChild(dir / "mirror", crash_at, "CrashPointChildTest.DISABLED_PublishesThreeFiles");
    ASSERT_TRUE(WIFEXITED(status)) << crash_at << ": wait status " << status;
    EXPECT_EQ(WEXITSTATUS(status), 0) << crash_at;
    EXPECT_EQ(ReadTextFile(dir / "mirror" / "web" / "packages" / "three.whl"), "packages/three.whl")
        << crash_at;
  }
}

TEST(CrashPointMacroTest, UnarmedPointDoesNothing) {
  // This process was not started with CISTERN_CRASH_AT naming this point.
  CISTERN_CRASH_POINT("test.never_armed");
  SUCCEED();
}

}  // namespace
}  // namespace cistern::store
