// The retry decisions of a polite client, as plain values (no I/O, no sleeping): which HTTP
// statuses are worth another attempt, how long to wait before it (exponential backoff with full
// jitter, or the server's Retry-After), and a budget bounding the retries of a whole run.
// Callers own the loop; net::Client itself retries only what is always safe (see client.h).
//
// Thread safety: the functions are pure; RetryBudget may be shared between threads; a
// RandomSource made by MakeRandomSource is used by one thread at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

namespace cistern::net {

// Uniformly distributed numbers in [0, 1). Injected so that tests get deterministic waits.
using RandomSource = std::function<double()>;

// A RandomSource over a std::mt19937_64 seeded from std::random_device.
RandomSource MakeRandomSource();

// HTTP-date (RFC 9110 §5.6.7): IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") and the obsolete
// RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime ("Sun Nov  6 08:49:37 1994") forms.
// The weekday is not checked. Returns nullopt for anything else.
std::optional<std::chrono::system_clock::time_point> ParseHttpDate(std::string_view text);

// Retry-After (RFC 9110 §10.2.3): delay-seconds, or an HTTP-date taken relative to `now` (a date
// in the past means 0). Returns nullopt for a malformed value.
std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value,
                                                    std::chrono::system_clock::time_point now);

// Statuses worth retrying later: 408 (request timeout), 429 (too many requests), 500, 502, 503
// and 504 (a server or gateway in trouble). Everything else (404, 410, other 4xx) is permanent.
constexpr bool IsRetryableStatus(int status) {
  return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 ||
         status == 504;
}

// Statuses whose Retry-After header is honoured: 429 and 503 (RFC 6585 §4, RFC 9110 §15.6.4).
constexpr bool HonoursRetryAfter(int status) { return status == 429 || status == 503; }

// Exponential backoff: the n-th retry (from 0) waits at most min(cap, base * 2^n).
struct BackoffPolicy {
  std::chrono::milliseconds base{500};
  std::chrono::milliseconds cap{30'000};
};

// "Full jitter": a wait drawn uniformly from [0, min(cap, base * 2^retry)], so clients that
// failed together do not retry together. `unit_random` is a draw in [0, 1) (clamped).
std::chrono::milliseconds FullJitterDelay(const BackoffPolicy& policy, int retry,
                                          double unit_random);

// A number of retries shared by every transfer of one run. Once spent, transient failures are
// no longer retried: a sick upstream is left alone until the next run.
class RetryBudget {
 public:
  explicit RetryBudget(uint64_t limit) : limit_(limit) {}
  RetryBudget(const RetryBudget&) = delete;
  RetryBudget& operator=(const RetryBudget&) = delete;

  // Takes one retry; false (taking nothing) when the budget is spent.
  bool TryConsume();
  uint64_t used() const { return used_.load(std::memory_order_relaxed); }
  uint64_t limit() const { return limit_; }

 private:
  const uint64_t limit_;
  std::atomic<uint64_t> used_{0};
};

}  // namespace cistern::net
