// GroupSync: waiters share syncs, and a waiter never returns before a sync that started after it
// asked has finished (that is what makes its files durable).

#include "engine/group_sync.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/run_task.h"

namespace cistern::engine {
namespace {

using namespace std::chrono_literals;

// Stands in for the tree: "publishing" bumps a counter on the network thread, and a sync makes
// every publication it sees durable, slowly enough that other waiters arrive meanwhile.
struct FakeDisk {
  std::atomic<int> published{0};
  std::atomic<int> durable{0};
  std::atomic<int> syncs{0};
  std::atomic<bool> fail{false};
  std::chrono::milliseconds sync_time{20ms};
  int hold_until_published = 0;
  std::atomic<bool> hold{false};  // while true, a sync waits (bounded: 10 s)

  store::Result<void> Sync() {
    const int seen = published.load();
    // Holds the sync until that many publications were made (bounded: 10 s), so a test can make
    // sure waiters arrive while a sync runs, however the machine schedules the threads.
    for (int i = 0; i < 10'000 && (published.load() < hold_until_published || hold.load()); ++i) {
      std::this_thread::sleep_for(1ms);
    }
    std::this_thread::sleep_for(sync_time);
    ++syncs;
    if (fail) {
      return tl::unexpected(store::ErrnoError(EIO, "sync the filesystem of /mirror/web"));
    }
    durable = seen;
    return {};
  }
};

struct Waiter {
  int published_before = 0;
  int durable_after = -1;
  store::Result<void> result = tl::unexpected(store::ErrnoError(EINVAL, "not run"));
};

net::Task<void> PublishThenWait(FakeDisk* disk, GroupSync* group, Waiter* waiter,
                                std::chrono::milliseconds delay) {
  if (delay > 0ms) {
    co_await net::SleepFor(delay);
  }
  waiter->published_before = ++disk->published;
  waiter->result = co_await group->Wait();
  waiter->durable_after = disk->durable.load();
}

net::Task<bool> RunWaiters(FakeDisk* disk, GroupSync* group, std::vector<Waiter>* waiters,
                           std::chrono::milliseconds spread) {
  net::TaskGroup tasks(co_await asio::this_coro::executor);
  for (size_t i = 0; i < waiters->size(); ++i) {
    tasks.Spawn(PublishThenWait(disk, group, &(*waiters)[i], spread * static_cast<int>(i)));
  }
  co_await tasks.Wait();
  co_return true;
}

class GroupSyncTest : public ::testing::Test {
 protected:
  // Runs `waiters` on a fresh io_context, the i-th starting after i * `spread`.
  void Run(std::vector<Waiter>& waiters, std::chrono::milliseconds spread) {
    asio::io_context io(1);
    GroupSync group(io.get_executor(), pool_, [this] { return disk_.Sync(); });
    std::optional<bool> done;
    net::Spawn(io.get_executor(), RunWaiters(&disk_, &group, &waiters, spread),
               [&done](std::exception_ptr error, bool ok) {
                 ASSERT_FALSE(error);
                 done = ok;
               });
    io.run_for(30s);
    ASSERT_TRUE(done.has_value()) << "the waiters did not finish within 30 s";
    EXPECT_EQ(group.syncs(), static_cast<uint64_t>(disk_.syncs.load()));
  }

  asio::thread_pool pool_{2};
  FakeDisk disk_;
};

TEST_F(GroupSyncTest, OneWaiterCostsOneSync) {
  std::vector<Waiter> waiters(1);
  Run(waiters, 0ms);
  ASSERT_TRUE(waiters[0].result.has_value()) << waiters[0].result.error().detail;
  EXPECT_EQ(disk_.syncs.load(), 1);
  EXPECT_EQ(waiters[0].durable_after, 1);
}

TEST_F(GroupSyncTest, WaitersArrivingTogetherShareTheNextSync) {
  // The first starts a sync at once; the other 19 arrive while it runs, so it may have missed
  // their publications: they share one more sync, not 19.
  std::vector<Waiter> waiters(20);
  disk_.hold_until_published = 20;
  Run(waiters, 0ms);
  EXPECT_EQ(disk_.syncs.load(), 2);
  for (const Waiter& waiter : waiters) {
    ASSERT_TRUE(waiter.result.has_value()) << waiter.result.error().detail;
    EXPECT_GE(waiter.durable_after, waiter.published_before);
  }
  EXPECT_EQ(waiters.back().durable_after, 20);
}

TEST_F(GroupSyncTest, NoWaiterReturnsBeforeWhatItPublishedIsDurable) {
  // Waiters arrive every 3 ms while each sync takes 20 ms: they come before, during and after
  // syncs. Each must see durable at least what it had published when it asked.
  std::vector<Waiter> waiters(40);
  Run(waiters, 3ms);
  for (const Waiter& waiter : waiters) {
    ASSERT_TRUE(waiter.result.has_value()) << waiter.result.error().detail;
    EXPECT_GE(waiter.durable_after, waiter.published_before);
  }
  EXPECT_LT(disk_.syncs.load(), 40);  // grouped
  EXPECT_GE(disk_.syncs.load(), 2);
}

TEST_F(GroupSyncTest, AFailedSyncFailsItsWaitersAndEveryLaterOne) {
  disk_.fail = true;
  std::vector<Waiter> waiters(5);
  Run(waiters, 30ms);  // each arrives after the previous sync failed
  for (const Waiter& waiter : waiters) {
    ASSERT_FALSE(waiter.result.has_value());
    EXPECT_EQ(waiter.result.error().code, std::errc::io_error);
    EXPECT_NE(waiter.result.error().detail.find("/mirror/web"), std::string::npos);
  }
  EXPECT_EQ(disk_.syncs.load(), 1);  // a disk that lost writes is not asked again
}

net::Task<void> WaitInto(GroupSync* group, store::Result<void>* out) {
  *out = co_await group->Wait();
}

TEST_F(GroupSyncTest, ACancelledWaiterEndsAndTheSyncStillServesTheOthers) {
  // The sync runs until the second waiter was cancelled, however the machine schedules threads.
  disk_.hold = true;
  asio::io_context io(1);
  GroupSync group(io.get_executor(), pool_, [this] { return disk_.Sync(); });
  store::Result<void> runner = tl::unexpected(store::ErrnoError(EINVAL, "not run"));
  store::Result<void> cancelled = runner;
  net::TaskGroup first(io.get_executor());
  net::TaskGroup second(io.get_executor());
  first.Spawn(WaitInto(&group, &runner));    // starts the sync
  second.Spawn(WaitInto(&group, &cancelled));  // waits for the next one
  asio::steady_timer cancel_at(io, 20ms);
  cancel_at.async_wait([this, &second](std::error_code) {
    second.Cancel();
    disk_.hold = false;
  });
  bool finished = false;
  net::Spawn(io.get_executor(),
             [](net::TaskGroup* a, net::TaskGroup* b) -> net::Task<void> {
               co_await b->Wait();
               co_await a->Wait();
             }(&first, &second),
             [&finished](std::exception_ptr) { finished = true; });
  io.run_for(30s);
  ASSERT_TRUE(finished);
  ASSERT_FALSE(cancelled.has_value());
  EXPECT_EQ(cancelled.error().code, std::errc::operation_canceled);
  EXPECT_TRUE(runner.has_value());
  EXPECT_EQ(disk_.syncs.load(), 1);
}

}  // namespace
}  // namespace cistern::engine
