// Retry decisions and byte ranges as plain values: HTTP-date and Retry-After parsing, full-jitter
// backoff, the retry budget, Range and Content-Range.
#include "net/retry_policy.h"

#include <chrono>

#include <gtest/gtest.h>

#include "net/byte_range.h"

namespace cistern::net {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::system_clock;

system_clock::time_point At(int year, unsigned month, unsigned day, int h, int m, int s) {
  return system_clock::time_point(
      std::chrono::sys_days(std::chrono::year_month_day(std::chrono::year(year),
                                                        std::chrono::month(month),
                                                        std::chrono::day(day)))
          .time_since_epoch() +
      std::chrono::hours(h) + std::chrono::minutes(m) + seconds(s));
}

TEST(HttpDateTest, ParsesTheThreeFormsOfRfc9110) {
  const auto expected = At(1994, 11, 6, 8, 49, 37);
  EXPECT_EQ(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), expected);
  EXPECT_EQ(ParseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"), expected);
  EXPECT_EQ(ParseHttpDate("Sun Nov  6 08:49:37 1994"), expected);
  EXPECT_EQ(ParseHttpDate("Thu, 29 Feb 2024 23:59:59 GMT"), At(2024, 2, 29, 23, 59, 59));
}

TEST(HttpDateTest, RejectsAnythingElse) {
  for (const char* text : {"", "Sun, 06 Nov 1994 08:49:37", "Sun, 06 Nov 1994 08:49:37 UTC",
                           "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 31 Feb 2023 08:49:37 GMT",
                           "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
                           "1994-11-06T08:49:37Z", "Sun Nov  6 08:49:37 1994 extra"}) {
    EXPECT_FALSE(ParseHttpDate(text).has_value()) << text;
  }
}

TEST(RetryAfterTest, SecondsOrADateRelativeToNow) {
  const auto now = At(2025, 1, 1, 12, 0, 0);
  EXPECT_EQ(ParseRetryAfter("2", now), seconds(2));
  EXPECT_EQ(ParseRetryAfter(" 120 ", now), seconds(120));
  EXPECT_EQ(ParseRetryAfter("0", now), seconds(0));
  EXPECT_EQ(ParseRetryAfter("Wed, 01 Jan 2025 12:05:00 GMT", now), seconds(300));
  EXPECT_EQ(ParseRetryAfter("Wed, 01 Jan 2025 11:00:00 GMT", now), seconds(0));  // past
  EXPECT_EQ(ParseRetryAfter("99999999999999999999999", now), seconds(UINT32_MAX));
  EXPECT_FALSE(ParseRetryAfter("", now).has_value());
  EXPECT_FALSE(ParseRetryAfter("-1", now).has_value());
  EXPECT_FALSE(ParseRetryAfter("2s", now).has_value());
  EXPECT_FALSE(ParseRetryAfter("soon", now).has_value());
}

TEST(RetryStatusTest, TransientAndPermanentStatuses) {
  for (int status : {408, 429, 500, 502, 503, 504}) {
    EXPECT_TRUE(IsRetryableStatus(status)) << status;
  }
  for (int status : {200, 206, 301, 400, 401, 403, 404, 410, 416, 501}) {
    EXPECT_FALSE(IsRetryableStatus(status)) << status;
  }
  EXPECT_TRUE(HonoursRetryAfter(429));
  EXPECT_TRUE(HonoursRetryAfter(503));
  EXPECT_FALSE(HonoursRetryAfter(502));
}

TEST(FullJitterTest, DrawsUniformlyBelowTheDoublingCeilingUpToTheCap) {
  const BackoffPolicy policy{milliseconds(100), milliseconds(1000)};
  EXPECT_EQ(FullJitterDelay(policy, 0, 0.0), milliseconds(0));
  EXPECT_EQ(FullJitterDelay(policy, 0, 0.5), milliseconds(50));
  EXPECT_EQ(FullJitterDelay(policy, 1, 0.5), milliseconds(100));
  EXPECT_EQ(FullJitterDelay(policy, 2, 0.5), milliseconds(200));
  EXPECT_EQ(FullJitterDelay(policy, 3, 0.5), milliseconds(400));
  EXPECT_EQ(FullJitterDelay(policy, 4, 0.5), milliseconds(500));  // capped at 1000
  EXPECT_EQ(FullJitterDelay(policy, 60, 0.999), milliseconds(999));
  EXPECT_EQ(FullJitterDelay(policy, 1000, 1.5), milliseconds(1000));  // clamped draw
  EXPECT_EQ(FullJitterDelay(BackoffPolicy{milliseconds(0), milliseconds(0)}, 5, 0.7),
            milliseconds(0));
}

TEST(FullJitterTest, TheDefaultRandomSourceStaysInTheUnitInterval) {
  RandomSource random = MakeRandomSource();
  for (int i = 0; i < 1000; ++i) {
    const double draw = random();
    EXPECT_GE(draw, 0.0);
    EXPECT_LT(draw, 1.0);
  }
}

TEST(RetryBudgetTest, IsSpentAfterItsLimit) {
  RetryBudget budget(2);
  EXPECT_TRUE(budget.TryConsume());
  EXPECT_TRUE(budget.TryConsume());
  EXPECT_FALSE(budget.TryConsume());
  EXPECT_FALSE(budget.TryConsume());
  EXPECT_EQ(budget.used(), 2u);
  RetryBudget none(0);
  EXPECT_FALSE(none.TryConsume());
}

TEST(ByteRangeTest, HeaderValues) {
  EXPECT_EQ((ByteRange{100, std::nullopt}.HeaderValue()), "bytes=100-");
  EXPECT_EQ((ByteRange{0, 99}.HeaderValue()), "bytes=0-99");
}

TEST(ContentRangeTest, ParsesSatisfiedAndUnsatisfiedRanges) {
  auto range = ParseContentRange("bytes 100-199/1000");
  ASSERT_TRUE(range.has_value());
  EXPECT_TRUE(range->satisfied);
  EXPECT_EQ(range->first, 100u);
  EXPECT_EQ(range->last, 199u);
  EXPECT_EQ(range->complete_length, 1000u);
  EXPECT_EQ(range->length(), 100u);

  range = ParseContentRange(" Bytes 0-0/* ");
  ASSERT_TRUE(range.has_value());
  EXPECT_TRUE(range->satisfied);
  EXPECT_FALSE(range->complete_length.has_value());

  range = ParseContentRange("bytes */1000");
  ASSERT_TRUE(range.has_value());
  EXPECT_FALSE(range->satisfied);
  EXPECT_EQ(range->complete_length, 1000u);
  EXPECT_EQ(range->length(), 0u);
}

TEST(ContentRangeTest, RejectsMalformedValues) {
  for (const char* text :
       {"", "bytes", "items 0-1/2", "bytes 0-1", "bytes 5-4/10", "bytes 0-10/10", "bytes */*",
        "bytes -1-2/3", "bytes 0-1/x", "bytes 1/2", "bytes 0-99999999999999999999/*"}) {
    auto range = ParseContentRange(text);
    EXPECT_FALSE(range.has_value()) << text;
    if (!range) {
      EXPECT_EQ(range.error().code, make_error_code(Errc::kProtocol));
    }
  }
}

}  // namespace
}  // namespace cistern::net
