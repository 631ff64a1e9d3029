// A bounded loop that kills the real `cistern sync` with SIGKILL at random moments, for a full
// sync (generation 0 of the test upstream into an empty mirror) and an incremental one (a mirror
// of generation 0 syncing generation 1: files added and removed, projects deleted and
// quarantined). After every kill, every link of every page and of the root resolves; a rerun to
// completion then leaves byte for byte the tree of an uninterrupted sync, the same status, a
// journal that describes that tree, and nothing in incoming/.
//
// Kill moments are drawn uniformly over the measured duration of an uninterrupted run, from a
// seeded generator; an iteration kills one or two runs in a row before the final rerun. Mirrors
// live on /dev/shm when it exists (see ScratchDir), and fsync is off by default: a process kill
// cannot tell the difference, and on a disk the runs are several times shorter.
//   CISTERN_SCRATCH_DIR=/var/tmp  mirrors on a disk instead (O_DIRECT writes, real syncs)
//   CISTERN_KILL_LOOP_ITERATIONS  iterations per test (default 20)
//   CISTERN_KILL_LOOP_SEED        seed (default: random; printed: it replays the same moments,
//                                 though where a process is at a moment varies from run to run)
//   CISTERN_KILL_LOOP_FSYNC=1     run with fsync on, as shipped

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <random>
#include <signal.h>
#include <string>
#include <unistd.h>

#include <gtest/gtest.h>

#include "tests/e2e/mirror_check.h"
#include "tests/support/nginx_upstream.h"

namespace cistern {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using testing::CheckLinks;
using testing::Child;
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

uint64_t EnvNumber(const char* name, uint64_t fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    return fallback;
  }
  return std::strtoull(value, nullptr, 10);
}

void KillLoop(bool incremental) {
  const uint64_t iterations = EnvNumber("CISTERN_KILL_LOOP_ITERATIONS", 20);
  const uint64_t seed = EnvNumber("CISTERN_KILL_LOOP_SEED", std::random_device{}());
  std::cout << "[ kill loop ] " << (incremental ? "incremental" : "full") << " sync, seed " << seed
            << ", " << iterations << " iterations (replay: CISTERN_KILL_LOOP_SEED=" << seed << ")"
            << std::endl;
  ::testing::Test::RecordProperty("seed", std::to_string(seed));
  std::mt19937_64 random(seed);

  const auto scratch = ScratchDir();
  const TempDir& temp = *scratch;
  auto generations = Generations::Start(incremental);
  ASSERT_NE(generations, nullptr);
  const bool fsync = EnvNumber("CISTERN_KILL_LOOP_FSYNC", 0) != 0;
  const fs::path config = WriteConfig(temp.path() / "cistern.toml", fsync);
  const testing::NginxUpstream& upstream = incremental ? generations->gen1() : generations->gen0();

  // The reference: uninterrupted syncs of generation 0 (and then 1).
  const fs::path before = temp.path() / "reference-gen0";
  ASSERT_EQ(RunCommand(SyncCommand(config, before, generations->gen0())).exit_code, 0);
  fs::path reference = before;
  if (incremental) {
    reference = temp.path() / "reference-gen1";
    ASSERT_TRUE(CopyMirror(before, reference));
    ASSERT_EQ(RunCommand(SyncCommand(config, reference, upstream)).exit_code, 0);
  }
  // How long an uninterrupted run takes, process start to exit, timed on a second one (the
  // first warmed the caches), and the moments drawn over that span.
  const fs::path timing = temp.path() / "timing";
  if (incremental) {
    ASSERT_TRUE(CopyMirror(before, timing));
  }
  const auto started = Clock::now();
  ASSERT_EQ(RunCommand(SyncCommand(config, timing, upstream)).exit_code, 0);
  const auto duration = Clock::now() - started;
  fs::remove_all(timing);
  const auto run_ms = std::chrono::duration_cast<std::chrono::milliseconds>(duration);
  const auto reference_tree = HashTree(reference / "web");
  const auto reference_status = Status(reference);
  ASSERT_TRUE(reference_status.has_value());
  std::cout << "[ kill loop ] an uninterrupted run takes " << run_ms.count() << " ms (fsync "
            << (fsync ? "on" : "off") << "); " << reference_tree.size()
            << " files in the reference tree" << std::endl;

  // The span kill moments are drawn from. A first run of an iteration (same starting state as the
  // timed one) that ends before its moment shortens it: on a busy machine one timing is noisy.
  int64_t window_ms = std::max<int64_t>(run_ms.count(), 1);
  size_t kills = 0;
  size_t finished_first = 0;
  size_t checked_links = 0;
  // Where the loop's time goes: killed runs, reruns to completion, checks, copies and cleanup.
  Clock::duration killed_time{};
  Clock::duration rerun_time{};
  Clock::duration check_time{};
  Clock::duration cleanup_time{};
  const auto loop_started = Clock::now();
  auto since = [](Clock::time_point& mark) {
    const auto now = Clock::now();
    const auto elapsed = now - mark;
    mark = now;
    return elapsed;
  };
  for (uint64_t iteration = 0; iteration < iterations && !::testing::Test::HasFailure();
       ++iteration) {
    const fs::path mirror = temp.path() / ("mirror-" + std::to_string(iteration));
    if (incremental) {
      auto mark = Clock::now();
      ASSERT_TRUE(CopyMirror(before, mirror));
      cleanup_time += since(mark);
    }
    const auto sync = SyncCommand(config, mirror, upstream);
    const int runs_to_kill = 1 + static_cast<int>(random() % 2);
    for (int run = 0; run < runs_to_kill; ++run) {
      const std::chrono::milliseconds delay(
          std::uniform_int_distribution<int64_t>(0, window_ms)(random));
      SCOPED_TRACE(::testing::Message()
                   << "seed " << seed << ", iteration " << iteration << ", run " << run
                   << ", killed after " << delay.count() << " ms");
      int status = -1;
      auto mark = Clock::now();
      {
        Child child(sync, mirror.string() + ".out", mirror.string() + ".err");
        ASSERT_TRUE(child.running());
        status = child.Wait(delay);
        if (status == -1) {
          child.Signal(SIGKILL);
          status = child.Wait(std::chrono::seconds(30));
        }
        if (status == 128 + SIGKILL) {
          ++kills;
        } else {
          ++finished_first;  // it ended before the moment drawn
          if (run == 0) {
            window_ms = std::max<int64_t>(
                std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - mark).count(),
                1);
          }
          // It exited before the moment drawn, or between the last look and the signal.
          EXPECT_EQ(status, 0) << testing::ReadFile(mirror.string() + ".err");
        }
      }
      killed_time += since(mark);
      const LinkCheck links = CheckLinks(mirror / "web");
      check_time += since(mark);
      checked_links += links.links;
      ASSERT_TRUE(links.problems.empty())
          << links.problems.size() << " broken links after the kill, e.g. "
          << links.problems.front();
    }

    SCOPED_TRACE(::testing::Message()
                 << "seed " << seed << ", iteration " << iteration << ", the final rerun");
    auto mark = Clock::now();
    const CommandResult rerun = RunCommand(sync);
    rerun_time += since(mark);
    ASSERT_EQ(rerun.exit_code, 0) << rerun.out << rerun.err;
    const auto tree = HashTree(mirror / "web");
    EXPECT_EQ(tree, reference_tree) << DescribeTreeDifferences(reference_tree, tree);
    EXPECT_TRUE(TempFiles(mirror / "incoming").empty());
    EXPECT_TRUE(fs::is_empty(mirror / "incoming")) << "incoming/ is not empty after a complete run";
    // A run killed after writing its run record (or one that ended before its kill moment)
    // counts as a generation, so the final one may be later than the reference's.
    const auto status = Status(mirror);
    ASSERT_TRUE(status.has_value());
    EXPECT_GE(status->generation, reference_status->generation);
    EXPECT_LE(status->generation,
              reference_status->generation + static_cast<uint64_t>(runs_to_kill));
    auto expected_status = *reference_status;
    expected_status.generation = status->generation;
    EXPECT_EQ(*status, expected_status);
    const auto journal = JournalTree(mirror);
    ASSERT_TRUE(journal.has_value());
    EXPECT_EQ(*journal, tree) << "the journal does not describe the tree:\n"
                              << DescribeTreeDifferences(tree, *journal);
    check_time += since(mark);
    if (!::testing::Test::HasFailure()) {
      std::error_code ignored;
      fs::remove_all(mirror, ignored);
    }
    cleanup_time += since(mark);
  }
  auto ms = [](Clock::duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  };
  std::cout << "[ kill loop ] " << kills << " kills, " << finished_first
            << " runs ended before their kill moment (moments drawn from 0.." << window_ms
            << " ms at the end), " << checked_links << " page links checked; "
            << ms(Clock::now() - loop_started) << " ms in all: " << ms(killed_time)
            << " in runs that were killed, " << ms(rerun_time) << " in reruns, " << ms(check_time)
            << " in checks, " << ms(cleanup_time) << " copying and removing mirrors" << std::endl;
  EXPECT_GE(kills, iterations / 2) << "most kill moments came after the run had ended";
}

TEST(KillLoopTest, FullSyncKilledAtRandomMomentsEndsAsAnUninterruptedSync) { KillLoop(false); }

TEST(KillLoopTest, IncrementalSyncKilledAtRandomMomentsEndsAsAnUninterruptedSync) {
  KillLoop(true);
}

}  // namespace
}  // namespace cistern
