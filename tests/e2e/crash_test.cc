// Named crash points (store/crash_point.h, listed in store/format.md) against the real binary: a
// `cistern sync` started with CISTERN_CRASH_AT=<point> kills itself there with SIGKILL. Right
// after the kill, every link of every page (and of the root) resolves and the tree is in the state
// format.md describes for that point; a normal rerun then ends with exactly the tree, status and
// journal of an uninterrupted sync, and no temporary file in incoming/.
// Full syncs start from an empty mirror (generation 0 of the test upstream); incremental ones
// from a copy of a mirror of generation 0, syncing generation 1 (files added and removed,
// projects deleted and quarantined).

#include <filesystem>
#include <map>
#include <set>
#include <signal.h>
#include <string>

#include <gtest/gtest.h>

#include "store/crash_point.h"
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
using testing::ScratchDir;
using testing::Status;
using testing::SyncCommand;
using testing::TempDir;
using testing::TempFiles;
using testing::WriteConfig;

using Tree = std::map<std::string, std::string>;

// What must hold right after the kill, beyond the link check (format.md, "state after a kill").
enum class Expect {
  kNothingMore,
  kPartialLeft,       // incoming/ holds a partial or unpublished file
  kPagesWithoutRoot,  // some project pages published, no root index yet
  kRootCurrent,       // the root index is the reference's; committed removals still on disk
  kRootOld,           // the root index is still the previous generation's
  kSomeRemovalsDone,  // some removed paths unlinked, others not yet
  kTreeCompleteRunNotRecorded,  // web/ is final, the run record is not written
};

struct CrashCase {
  const char* name;   // test name suffix
  const char* point;  // CISTERN_CRASH_AT
  bool incremental;
  Expect expect;
};

void PrintTo(const CrashCase& crash_case, std::ostream* os) { *os << crash_case.point; }

constexpr CrashCase kCases[] = {
    {"FullBeforeRename", "tree.before_rename:60", false, Expect::kPartialLeft},
    {"FullAfterRename", "tree.after_rename:60", false, Expect::kNothingMore},
    {"FullMidFile", "downloader.mid_file", false, Expect::kPartialLeft},
    {"FullBeforeCommit", "project_sync.before_commit:3", false, Expect::kPagesWithoutRoot},
    {"FullAfterCommit", "project_sync.after_commit:3", false, Expect::kPagesWithoutRoot},
    {"FullAfterRoot", "sync_run.after_root", false, Expect::kRootCurrent},
    {"FullBeforeRunRecord", "sync_run.before_run_record", false,
     Expect::kTreeCompleteRunNotRecorded},
    {"IncrementalBeforeCommit", "project_sync.before_commit", true, Expect::kRootOld},
    {"IncrementalAfterCommit", "project_sync.after_commit", true, Expect::kRootOld},
    {"IncrementalAfterDeleteCommit", "project_sync.after_delete_commit", true, Expect::kRootOld},
    {"IncrementalAfterRoot", "sync_run.after_root", true, Expect::kRootCurrent},
    {"IncrementalAfterFirstUnlink", "sync_run.after_unlink:1", true, Expect::kSomeRemovalsDone},
    {"IncrementalAfterTwelfthUnlink", "sync_run.after_unlink:12", true, Expect::kSomeRemovalsDone},
    {"IncrementalBeforeRunRecord", "sync_run.before_run_record", true,
     Expect::kTreeCompleteRunNotRecorded},
};

Tree RootPages(const Tree& tree) {
  Tree root;
  for (const char* page : {"simple/index.v1_json", "simple/index.html", "simple/index.v1_html"}) {
    if (auto it = tree.find(page); it != tree.end()) {
      root.insert(*it);
    }
  }
  return root;
}

class CrashPointTest : public ::testing::TestWithParam<CrashCase> {};

TEST_P(CrashPointTest, KilledThereLeavesValidLinksAndTheRerunEndsAsAnUninterruptedSync) {
#if !defined(CISTERN_CRASH_POINTS)
  GTEST_SKIP() << "built without CISTERN_CRASH_POINTS (cmake -DCISTERN_CRASH_POINTS=ON)";
#endif
  const CrashCase& crash = GetParam();
  const auto scratch = ScratchDir();
  const TempDir& temp = *scratch;
  auto generations = Generations::Start(crash.incremental);
  ASSERT_NE(generations, nullptr);
  // fsync changes nothing a process kill can observe; off, the runs are several times faster.
  const fs::path config = WriteConfig(temp.path() / "cistern.toml", /*fsync=*/false);

  // The references: uninterrupted syncs of generation 0, and of 0 then 1.
  const fs::path before = temp.path() / "reference-gen0";
  ASSERT_EQ(RunCommand(SyncCommand(config, before, generations->gen0())).exit_code, 0);
  const fs::path mirror = temp.path() / "mirror";
  fs::path reference = before;
  if (crash.incremental) {
    reference = temp.path() / "reference-gen1";
    ASSERT_TRUE(CopyMirror(before, reference));
    ASSERT_TRUE(CopyMirror(before, mirror));
    ASSERT_EQ(RunCommand(SyncCommand(config, reference, generations->gen1())).exit_code, 0);
  }
  const Tree previous_tree = HashTree(before / "web");
  const Tree reference_tree = HashTree(reference / "web");
  const auto sync =
      SyncCommand(config, mirror, crash.incremental ? generations->gen1() : generations->gen0());

  const CommandResult crashed = RunCommand(sync, {{"CISTERN_CRASH_AT", crash.point}});
  ASSERT_EQ(crashed.exit_code, 128 + SIGKILL) << "the sync did not die at " << crash.point << "\n"
                                              << crashed.out << crashed.err;

  const LinkCheck links = CheckLinks(mirror / "web");
  EXPECT_TRUE(links.problems.empty())
      << links.problems.size() << " broken links right after the kill, e.g. "
      << links.problems.front();
  const Tree killed_tree = HashTree(mirror / "web");
  switch (crash.expect) {
    case Expect::kNothingMore:
      break;
    case Expect::kPartialLeft:
      // A temporary (.tmp-*), or a resumable partial (part-*) of a large file.
      EXPECT_FALSE(fs::is_empty(mirror / "incoming")) << "no partial file in incoming/";
      break;
    case Expect::kPagesWithoutRoot:
      EXPECT_GE(links.projects, 1u);
      EXPECT_TRUE(RootPages(killed_tree).empty()) << "the root index was written";
      break;
    case Expect::kRootCurrent:
    case Expect::kRootOld: {
      const Tree& expected = crash.expect == Expect::kRootCurrent ? reference_tree : previous_tree;
      EXPECT_EQ(RootPages(killed_tree), RootPages(expected));
      if (crash.incremental && crash.expect == Expect::kRootCurrent) {
        for (const auto& [path, hash] : previous_tree) {
          if (!reference_tree.contains(path)) {
            EXPECT_TRUE(killed_tree.contains(path)) << path << " unlinked before its time";
          }
        }
      }
      break;
    }
    case Expect::kSomeRemovalsDone: {
      size_t removed = 0;
      size_t left = 0;
      for (const auto& [path, hash] : previous_tree) {
        if (!reference_tree.contains(path)) {
          ++(killed_tree.contains(path) ? left : removed);
        }
      }
      EXPECT_GE(removed, 1u);
      EXPECT_GE(left, 1u);
      break;
    }
    case Expect::kTreeCompleteRunNotRecorded: {
      EXPECT_EQ(killed_tree, reference_tree)
          << DescribeTreeDifferences(reference_tree, killed_tree);
      auto killed_status = Status(mirror);
      auto reference_status = Status(reference);
      ASSERT_TRUE(killed_status && reference_status);
      EXPECT_EQ(killed_status->generation + 1, reference_status->generation);
      break;
    }
  }

  const CommandResult rerun = RunCommand(sync);
  ASSERT_EQ(rerun.exit_code, 0) << rerun.out << rerun.err;
  const Tree final_tree = HashTree(mirror / "web");
  EXPECT_EQ(final_tree, reference_tree) << DescribeTreeDifferences(reference_tree, final_tree);
  EXPECT_TRUE(fs::is_empty(mirror / "incoming"))
      << TempFiles(mirror / "incoming").size() << " temporary files left in incoming/";
  EXPECT_EQ(Status(mirror), Status(reference));
  auto journal = JournalTree(mirror);
  ASSERT_TRUE(journal.has_value());
  EXPECT_EQ(*journal, final_tree) << "the journal does not describe the tree:\n"
                                  << DescribeTreeDifferences(final_tree, *journal);
}

INSTANTIATE_TEST_SUITE_P(Points, CrashPointTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<CrashCase>& param_info) {
                           return std::string(param_info.param.name);
                         });

}  // namespace
}  // namespace cistern
