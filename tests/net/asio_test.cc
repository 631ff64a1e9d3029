#include "net/asio.h"

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "tests/net/test_util.h"

namespace cistern::net {
namespace {

using namespace std::chrono_literals;

Task<Result<int>> AnswerAfter(std::chrono::milliseconds delay, int value) {
  co_await SleepFor(delay);
  co_return value;
}

Task<Result<int>> RaceAgainst(std::chrono::milliseconds work, std::chrono::milliseconds limit) {
  co_return co_await WithDeadline(AnswerAfter(work, 7), limit);
}

TEST(AsioTest, WithDeadlineReturnsTheResultWhenTheTaskWins) {
  asio::io_context io;
  auto result = testing::RunOn(io, RaceAgainst(1ms, 5s));
  ASSERT_TRUE(result.has_value()) << result.error().message();
  EXPECT_EQ(*result, 7);
}

TEST(AsioTest, WithDeadlineReturnsTimeoutWhenTheTimerWins) {
  asio::io_context io;
  auto result = testing::RunOn(io, RaceAgainst(10s, 20ms));
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, make_error_code(Errc::kTimeout));
  EXPECT_EQ(result.error().detail, "no result within 20 ms");
}

Task<Result<bool>> OffloadResumesOnTheCaller(asio::thread_pool* pool) {
  auto caller = std::this_thread::get_id();
  auto worker = co_await Offload(*pool, [] { return std::this_thread::get_id(); });
  co_return worker != caller&& std::this_thread::get_id() == caller;
}

TEST(AsioTest, OffloadRunsOnThePoolAndResumesOnTheCaller) {
  asio::io_context io;
  asio::thread_pool pool(1);
  auto result = testing::RunOn(io, OffloadResumesOnTheCaller(&pool));
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(*result);
  pool.join();
}

Task<void> Count(int* finished, std::chrono::milliseconds delay) {
  co_await SleepFor(delay);
  ++*finished;
}

Task<Result<int>> GroupOf(int n, bool cancel) {
  int finished = 0;
  TaskGroup group(co_await asio::this_coro::executor);
  for (int i = 0; i < n; ++i) {
    group.Spawn(Count(&finished, cancel ? std::chrono::milliseconds(10s) : 1ms * i));
  }
  if (cancel) {
    group.Cancel();
  }
  co_await group.Wait();
  co_return finished;
}

TEST(AsioTest, TaskGroupWaitsForAllChildren) {
  asio::io_context io;
  auto result = testing::RunOn(io, GroupOf(5, false));
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(*result, 5);
}

TEST(AsioTest, TaskGroupCancelEndsSleepingChildren) {
  asio::io_context io;
  auto result = testing::RunOn(io, GroupOf(3, true), std::chrono::seconds(5));
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(*result, 3);  // each child ends its sleep early and still counts
}

}  // namespace
}  // namespace cistern::net
