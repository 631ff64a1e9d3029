#include "engine/retrier.h"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "engine/internal/log.h"

namespace cistern::engine {

Retrier::Retrier(RetryOptions options)
    : options_(std::move(options)), budget_(options_.budget) {
  if (!options_.random) {
    options_.random = net::MakeRandomSource();
  }
}

net::Task<bool> Retrier::AwaitOrigin(const std::string& origin) {
  auto paused = paused_until_.find(origin);
  if (paused == paused_until_.end()) {
    co_return true;
  }
  const auto now = std::chrono::steady_clock::now();
  if (paused->second <= now) {
    paused_until_.erase(paused);
    co_return true;
  }
  // Copied: the entry may be extended or erased while this fetch sleeps.
  const auto until = paused->second;
  co_await net::SleepFor(until - now);
  auto state = co_await asio::this_coro::cancellation_state;
  co_return state.cancelled() == asio::cancellation_type::none;
}

std::optional<std::chrono::milliseconds> Retrier::NextWait(
    Error& error, int failures, const RetryRule& rule, const std::string& origin,
    std::optional<std::chrono::seconds> retry_after) {
  error.transient = true;
  if (retry_after) {
    // The server asked every client to wait: hold back this run's other requests to it too.
    const auto until = std::chrono::steady_clock::now() +
                       std::min<std::chrono::seconds>(*retry_after, options_.max_retry_after);
    auto& paused = paused_until_[origin];
    paused = std::max(paused, until);
  }
  if (failures >= rule.attempts) {
    error.detail += fmt::format(" (after {} attempts)", failures);
    return std::nullopt;
  }
  if (retry_after && *retry_after > options_.max_retry_after) {
    error.detail +=
        fmt::format(" (the server asks to wait {} s, more than max_retry_after {} s; next run)",
                    retry_after->count(), options_.max_retry_after.count());
    return std::nullopt;
  }
  if (!budget_.TryConsume()) {
    ++stats_.budget_exhausted;
    error.detail +=
        fmt::format(" (the run's retry budget of {} is spent; next run)", budget_.limit());
    return std::nullopt;
  }
  ++stats_.retries;
  if (retry_after) {
    return std::chrono::milliseconds(*retry_after);
  }
  return net::FullJitterDelay(rule.backoff, failures - 1, options_.random());
}

net::Task<bool> Retrier::Sleep(std::chrono::milliseconds wait) {
  co_await net::SleepFor(wait);
  auto state = co_await asio::this_coro::cancellation_state;
  co_return state.cancelled() == asio::cancellation_type::none;
}

Error Retrier::Cancelled(std::string_view what) {
  Error error = FromNet(net::Error{asio::error::operation_aborted, std::string(what)});
  error.detail = fmt::format("{}: cancelled while waiting (backoff or Retry-After)", what);
  return error;
}

void Retrier::LogRetry(std::string_view what, int attempt, std::chrono::milliseconds wait,
                       const Error& error) {
  Log()->warn("retry {} attempt={} wait_ms={} reason=\"{}\"", what, attempt, wait.count(),
              error.detail);
}

}  // namespace cistern::engine
