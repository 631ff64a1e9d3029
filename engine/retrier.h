#pragma once

// Retrier: the retry decisions of one sync run, shared by every fetch of it (the index root,
// project pages, files and their .metadata), so that they draw on one retry budget and honour
// one another's pauses. The policy itself (statuses worth retrying, backoff with full jitter,
// Retry-After) is net/retry_policy.h; this class adds what a run remembers:
//   - the retry budget: once spent, a transient failure is no longer retried (next run);
//   - pauses: a 429 or 503 whose Retry-After is at most `max_retry_after` pauses every later
//     request of the run to that origin until it has passed; a longer one fails the fetch at once;
//   - the random source for the jitter, injectable for tests.
// Callers own their loops (the Downloader's is the most involved); Run() is the loop of a fetch
// whose only outcomes are a value, a transient failure or a permanent one (pages, the root).
// A cancelled fetch is never retried: callers return a cancelled error as it is, and every wait
// here ends early, with false, when cancelled.
//
// Executor: the sync's network executor (one thread); not thread safe.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "engine/error.h"
#include "net/asio.h"
#include "net/retry_policy.h"

namespace cistern::engine {

struct RetryOptions {
  // A Retry-After longer than this fails the fetch at once (the next run retries it).
  std::chrono::seconds max_retry_after{300};
  // Retries of transient failures per run, over every fetch.
  uint64_t budget = 1000;
  // Draws in [0, 1) for the jitter; empty: net::MakeRandomSource().
  net::RandomSource random;
};

// How one kind of fetch retries: at most `attempts` attempts, the n-th retry (from 0) waiting
// a random time in [0, min(cap, base * 2^n)] unless the server said how long.
struct RetryRule {
  int attempts = 3;
  net::BackoffPolicy backoff;
};

struct RetryStats {
  uint64_t retries = 0;           // transient failures retried (each took one from the budget)
  uint64_t budget_exhausted = 0;  // transient failures not retried because the budget was spent
};

class Retrier {
 public:
  explicit Retrier(RetryOptions options);
  Retrier(const Retrier&) = delete;
  Retrier& operator=(const Retrier&) = delete;

  // Before a request to `origin` (net::Url::origin()): waits until a pause a Retry-After asked
  // for has passed. Returns false when cancelled while waiting.
  net::Task<bool> AwaitOrigin(const std::string& origin);

  // After the `failures`-th transient failure (from 1) of one fetch from `origin`, with the
  // server's `retry_after` if it sent one: records the pause, then returns the wait before the
  // next attempt, taking one retry from the budget; or nullopt when the fetch is not retried
  // (`rule.attempts` reached, a Retry-After above max_retry_after, the budget spent), with
  // `error.detail` saying why and `error.transient` set (a later run may well succeed).
  std::optional<std::chrono::milliseconds> NextWait(Error& error, int failures,
                                                    const RetryRule& rule,
                                                    const std::string& origin,
                                                    std::optional<std::chrono::seconds> retry_after);

  // Waits `wait`. Returns false when cancelled meanwhile.
  static net::Task<bool> Sleep(std::chrono::milliseconds wait);

  // Fetches until `fetch()` (returning net::Task<Result<T>>) gives a value that `judge(value)`
  // (returning std::optional<Error>: a problem worth another attempt, such as a stale page)
  // accepts. Transient errors and judged problems are retried as NextWait() says, unless
  // `stop()` is true; anything else is returned at once. `what` names the fetch in the log
  // ("page project=numpy").
  // Lifetime: `fetch` and `judge` are kept in the coroutine frame; what they reference must
  // outlive the returned task.
  template <class T, class Fetch, class Judge, class Stop>
  net::Task<Result<T>> Run(std::string what, std::string origin, RetryRule rule, Fetch fetch,
                           Judge judge, Stop stop) {
    for (int failures = 1;; ++failures) {
      if (!co_await AwaitOrigin(origin)) {
        co_return tl::make_unexpected(Cancelled(what));
      }
      Result<T> result = co_await fetch();
      std::optional<Error> problem;
      if (!result) {
        if (!result.error().transient) {
          co_return result;
        }
        problem = std::move(result.error());
      } else {
        problem = judge(*result);
        if (!problem) {
          co_return result;
        }
      }
      auto state = co_await asio::this_coro::cancellation_state;
      if (stop() || state.cancelled() != asio::cancellation_type::none) {
        co_return tl::make_unexpected(std::move(*problem));
      }
      const auto wait = NextWait(*problem, failures, rule, origin, problem->retry_after);
      if (!wait) {
        co_return tl::make_unexpected(std::move(*problem));
      }
      LogRetry(what, failures, *wait, *problem);
      if (!co_await Sleep(*wait)) {
        co_return tl::make_unexpected(Cancelled(what));
      }
    }
  }

  const RetryStats& stats() const { return stats_; }
  const net::RetryBudget& budget() const { return budget_; }

 private:
  static Error Cancelled(std::string_view what);
  static void LogRetry(std::string_view what, int attempt, std::chrono::milliseconds wait,
                       const Error& error);

  RetryOptions options_;
  net::RetryBudget budget_;
  RetryStats stats_;
  // Origins that asked for a pause (Retry-After), and until when.
  std::map<std::string, std::chrono::steady_clock::time_point> paused_until_;
};

}  // namespace cistern::engine
