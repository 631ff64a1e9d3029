#include "net/rate_limiter.h"

#include <algorithm>

namespace cistern::net {

TokenBucket::TokenBucket(uint64_t rate, uint64_t burst, Clock::time_point now)
    : rate_(std::max<uint64_t>(rate, 1)),
      burst_(std::max<uint64_t>(burst, 1)),
      tokens_(static_cast<double>(burst_)),
      last_(now) {}

void TokenBucket::Refill(Clock::time_point now) {
  if (now <= last_) {
    return;  // the clock is steady; an earlier `now` from a caller adds nothing
  }
  double seconds = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(static_cast<double>(burst_), tokens_ + seconds * static_cast<double>(rate_));
  last_ = now;
}

double TokenBucket::Tokens(Clock::time_point now) {
  Refill(now);
  return tokens_;
}

TokenBucket::Clock::duration TokenBucket::Delay(Clock::time_point now) {
  Refill(now);
  if (tokens_ >= 1.0) {
    return Clock::duration::zero();
  }
  double seconds = (1.0 - tokens_) / static_cast<double>(rate_);
  auto delay = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  // Rounded up, so the wait never ends a tick before the token is there.
  return delay + Clock::duration(1);
}

void TokenBucket::Take(uint64_t bytes, Clock::time_point now) {
  Refill(now);
  tokens_ -= static_cast<double>(bytes);
}

uint64_t RateLimiter::DefaultBurst(uint64_t rate) {
  return std::max<uint64_t>(rate / 10, 64 * 1024);
}

RateLimiter::RateLimiter(uint64_t rate, uint64_t burst)
    : bucket_(rate, burst == 0 ? DefaultBurst(rate) : burst, TokenBucket::Clock::now()) {}

Task<std::error_code> RateLimiter::WaitToRead(asio::steady_timer& timer) {
  for (;;) {
    TokenBucket::Clock::duration delay = bucket_.Delay(TokenBucket::Clock::now());
    if (delay == TokenBucket::Clock::duration::zero()) {
      co_return std::error_code();
    }
    // Another connection may read meanwhile and take the token: check again after waking.
    timer.expires_after(delay);
    auto [ec] = co_await timer.async_wait(use_task);
    if (ec) {
      co_return ec;
    }
  }
}

}  // namespace cistern::net
