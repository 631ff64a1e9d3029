// TokenBucket with a made-up clock, and RateLimiter's timer wait on a real io_context.
#include "net/rate_limiter.h"

#include <chrono>
#include <cstdint>
#include <optional>

#include <gtest/gtest.h>

namespace cistern::net {
namespace {

using namespace std::chrono_literals;
using Clock = TokenBucket::Clock;

const Clock::time_point kStart = Clock::time_point(100s);

TEST(TokenBucketTest, StartsFullSoTheFirstReadNeedNotWait) {
  TokenBucket bucket(1000, 500, kStart);
  EXPECT_EQ(bucket.Tokens(kStart), 500.0);
  EXPECT_EQ(bucket.Delay(kStart), Clock::duration::zero());
}

TEST(TokenBucketTest, RefillsAtTheRateUpToTheBurst) {
  TokenBucket bucket(1000, 500, kStart);
  bucket.Take(500, kStart);
  EXPECT_EQ(bucket.Tokens(kStart), 0.0);
  EXPECT_DOUBLE_EQ(bucket.Tokens(kStart + 250ms), 250.0);
  EXPECT_DOUBLE_EQ(bucket.Tokens(kStart + 10s), 500.0);
}

TEST(TokenBucketTest, AReadLargerThanTheTokensGoesIntoDebtAndTheNextWaitsItOff) {
  TokenBucket bucket(1000, 500, kStart);
  bucket.Take(1500, kStart);
  EXPECT_DOUBLE_EQ(bucket.Tokens(kStart), -1000.0);
  Clock::duration delay = bucket.Delay(kStart);
  // Until one token is back: 1001 bytes at 1000 bytes/s.
  EXPECT_GE(delay, 1001ms - 1us);
  EXPECT_LE(delay, 1001ms + 1us);
  EXPECT_GT(bucket.Delay(kStart + delay - 1ms), Clock::duration::zero());
  EXPECT_EQ(bucket.Delay(kStart + delay), Clock::duration::zero());
}

TEST(TokenBucketTest, AnEarlierTimeAddsNoTokens) {
  TokenBucket bucket(1000, 500, kStart);
  bucket.Take(500, kStart + 1s);
  EXPECT_EQ(bucket.Tokens(kStart), 0.0);
  EXPECT_EQ(bucket.Tokens(kStart + 1s), 0.0);
}

TEST(TokenBucketTest, AReaderThatAlwaysWaitsGetsTheRatePlusAtMostOneBurstAndOneRead) {
  constexpr uint64_t kRate = 2 << 20;
  constexpr uint64_t kBurst = 200 << 10;
  constexpr uint64_t kRead = 64 << 10;
  TokenBucket bucket(kRate, kBurst, kStart);
  Clock::time_point now = kStart;
  uint64_t bytes = 0;
  // Every read that starts within the first 10 s.
  for (int i = 0; i < 100'000; ++i) {
    now += bucket.Delay(now);
    if (now >= kStart + 10s) {
      break;
    }
    bucket.Take(kRead, now);
    bytes += kRead;
  }
  ASSERT_GE(now, kStart + 10s);
  EXPECT_GE(bytes, kRate * 10);
  EXPECT_LE(bytes, kRate * 10 + kBurst + kRead);
}

TEST(RateLimiterTest, DefaultBurstIsATenthOfASecondAndAtLeast64KiB) {
  EXPECT_EQ(RateLimiter::DefaultBurst(1000), 64u * 1024);
  EXPECT_EQ(RateLimiter::DefaultBurst(10u << 20), 1u << 20);
  EXPECT_EQ(RateLimiter(1000).burst(), 64u * 1024);
  EXPECT_EQ(RateLimiter(1000, 10).burst(), 10u);
}

Task<std::error_code> Wait(RateLimiter* limiter, asio::steady_timer* timer) {
  co_return co_await limiter->WaitToRead(*timer);
}

TEST(RateLimiterTest, WaitsOnTheTimerUntilTheDebtIsRepaid) {
  asio::io_context io(1);
  RateLimiter limiter(1 << 20, 64 << 10);
  limiter.Consumed((64 << 10) + (100 << 10));  // 100 KiB in debt: about 98 ms at 1 MiB/s
  asio::steady_timer timer(io);
  std::optional<std::error_code> result;
  auto started = Clock::now();
  Spawn(io.get_executor(), Wait(&limiter, &timer),
        [&](std::exception_ptr, std::error_code ec) { result = ec; });
  io.run_for(5s);
  auto elapsed = Clock::now() - started;
  ASSERT_TRUE(result.has_value());
  EXPECT_FALSE(*result) << result->message();
  EXPECT_GE(elapsed, 90ms);
}

TEST(RateLimiterTest, CancellingTheTimerEndsTheWait) {
  asio::io_context io(1);
  RateLimiter limiter(1000, 1000);
  limiter.Consumed(1'000'000);  // about 1000 s in debt
  asio::steady_timer timer(io);
  std::optional<std::error_code> result;
  Spawn(io.get_executor(), Wait(&limiter, &timer),
        [&](std::exception_ptr, std::error_code ec) { result = ec; });
  asio::steady_timer cancel_later(io, 20ms);
  cancel_later.async_wait([&](std::error_code) { timer.cancel(); });
  io.run_for(5s);
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(*result, asio::error::operation_aborted);
}

}  // namespace
}  // namespace cistern::net
