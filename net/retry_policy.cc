#include "net/retry_policy.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <memory>
#include <random>
#include <string>

namespace cistern::net {
namespace {

using std::chrono::system_clock;

constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Reads exactly `digits` decimal digits from the front of `text`.
std::optional<int> TakeNumber(std::string_view& text, size_t digits) {
  if (text.size() < digits) {
    return std::nullopt;
  }
  int value = 0;
  for (size_t i = 0; i < digits; ++i) {
    const char c = text[i];
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    value = value * 10 + (c - '0');
  }
  text.remove_prefix(digits);
  return value;
}

bool TakeLiteral(std::string_view& text, std::string_view literal) {
  if (!text.starts_with(literal)) {
    return false;
  }
  text.remove_prefix(literal.size());
  return true;
}

std::optional<unsigned> TakeMonth(std::string_view& text) {
  for (size_t i = 0; i < kMonths.size(); ++i) {
    if (TakeLiteral(text, kMonths[i])) {
      return static_cast<unsigned>(i + 1);
    }
  }
  return std::nullopt;
}

// "HH:MM:SS"
std::optional<std::chrono::seconds> TakeTime(std::string_view& text) {
  auto hours = TakeNumber(text, 2);
  if (!hours || !TakeLiteral(text, ":")) {
    return std::nullopt;
  }
  auto minutes = TakeNumber(text, 2);
  if (!minutes || !TakeLiteral(text, ":")) {
    return std::nullopt;
  }
  auto seconds = TakeNumber(text, 2);
  if (!seconds || *hours > 23 || *minutes > 59 || *seconds > 60) {  // 60: a leap second
    return std::nullopt;
  }
  return std::chrono::hours(*hours) + std::chrono::minutes(*minutes) +
         std::chrono::seconds(*seconds);
}

std::optional<system_clock::time_point> MakeTime(int year, unsigned month, int day,
                                                 std::chrono::seconds time_of_day) {
  const std::chrono::year_month_day date{std::chrono::year(year), std::chrono::month(month),
                                         std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok()) {
    return std::nullopt;
  }
  return system_clock::time_point(std::chrono::sys_days(date).time_since_epoch() + time_of_day);
}

}  // namespace

RandomSource MakeRandomSource() {
  std::random_device device;
  auto engine = std::make_shared<std::mt19937_64>((static_cast<uint64_t>(device()) << 32) ^
                                                  static_cast<uint64_t>(device()));
  return [engine]() { return std::uniform_real_distribution<double>(0.0, 1.0)(*engine); };
}

std::optional<system_clock::time_point> ParseHttpDate(std::string_view text) {
  const size_t comma = text.find(',');
  if (comma != std::string_view::npos) {
    std::string_view rest = text.substr(comma + 1);
    if (!TakeLiteral(rest, " ")) {
      return std::nullopt;
    }
    if (comma == 3) {
      // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
      auto day = TakeNumber(rest, 2);
      if (!day || !TakeLiteral(rest, " ")) {
        return std::nullopt;
      }
      auto month = TakeMonth(rest);
      if (!month || !TakeLiteral(rest, " ")) {
        return std::nullopt;
      }
      auto year = TakeNumber(rest, 4);
      if (!year || !TakeLiteral(rest, " ")) {
        return std::nullopt;
      }
      auto time = TakeTime(rest);
      if (!time || rest != " GMT") {
        return std::nullopt;
      }
      return MakeTime(*year, *month, *day, *time);
    }
    // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"; a two-digit year more than 50 years in the
    // future means the past century (RFC 9110 §5.6.7).
    auto day = TakeNumber(rest, 2);
    if (!day || !TakeLiteral(rest, "-")) {
      return std::nullopt;
    }
    auto month = TakeMonth(rest);
    if (!month || !TakeLiteral(rest, "-")) {
      return std::nullopt;
    }
    auto year = TakeNumber(rest, 2);
    if (!year || !TakeLiteral(rest, " ")) {
      return std::nullopt;
    }
    auto time = TakeTime(rest);
    if (!time || rest != " GMT") {
      return std::nullopt;
    }
    const auto now = std::chrono::year_month_day(
        std::chrono::floor<std::chrono::days>(system_clock::now()));
    const int this_year = static_cast<int>(now.year());
    int full_year = this_year - this_year % 100 + *year;
    if (full_year > this_year + 50) {
      full_year -= 100;
    }
    return MakeTime(full_year, *month, *day, *time);
  }
  // asctime: "Sun Nov  6 08:49:37 1994"
  std::string_view rest = text;
  if (rest.size() < 4 || rest[3] != ' ') {
    return std::nullopt;
  }
  rest.remove_prefix(4);
  auto month = TakeMonth(rest);
  if (!month || !TakeLiteral(rest, " ")) {
    return std::nullopt;
  }
  std::optional<int> day;
  if (TakeLiteral(rest, " ")) {
    day = TakeNumber(rest, 1);
  } else {
    day = TakeNumber(rest, 2);
  }
  if (!day || !TakeLiteral(rest, " ")) {
    return std::nullopt;
  }
  auto time = TakeTime(rest);
  if (!time || !TakeLiteral(rest, " ")) {
    return std::nullopt;
  }
  auto year = TakeNumber(rest, 4);
  if (!year || !rest.empty()) {
    return std::nullopt;
  }
  return MakeTime(*year, *month, *day, *time);
}

std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value,
                                                    system_clock::time_point now) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
    value.remove_prefix(1);
  }
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
    value.remove_suffix(1);
  }
  if (!value.empty() && value.front() >= '0' && value.front() <= '9') {
    uint64_t seconds = 0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (end != value.data() + value.size()) {
      return std::nullopt;
    }
    if (error == std::errc::result_out_of_range) {
      seconds = UINT32_MAX;  // "a very long time": any cap applies
    } else if (error != std::errc()) {
      return std::nullopt;
    }
    return std::chrono::seconds(std::min<uint64_t>(seconds, UINT32_MAX));
  }
  auto date = ParseHttpDate(value);
  if (!date) {
    return std::nullopt;
  }
  if (*date <= now) {
    return std::chrono::seconds(0);
  }
  return std::chrono::ceil<std::chrono::seconds>(*date - now);
}

std::chrono::milliseconds FullJitterDelay(const BackoffPolicy& policy, int retry,
                                          double unit_random) {
  const int64_t base = std::max<int64_t>(0, policy.base.count());
  const int64_t cap = std::max<int64_t>(0, policy.cap.count());
  int64_t ceiling = base;
  for (int i = 0; i < retry && ceiling < cap; ++i) {
    ceiling *= 2;
  }
  ceiling = std::min(ceiling, cap);
  const double draw = std::clamp(unit_random, 0.0, 1.0);
  const auto wait = static_cast<int64_t>(draw * static_cast<double>(ceiling));
  return std::chrono::milliseconds(std::min(wait, ceiling));
}

bool RetryBudget::TryConsume() {
  uint64_t used = used_.load(std::memory_order_relaxed);
  while (used < limit_) {
    if (used_.compare_exchange_weak(used, used + 1, std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

}  // namespace cistern::net
