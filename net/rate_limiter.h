// RateLimiter: caps the bytes per second a Client reads from its sockets, over all its
// connections (HTTP/1.1 and HTTP/2 alike), with one token bucket. A connection asks before each
// socket read and reports what it read; when the bucket is empty the read waits on a timer, the
// kernel's receive buffer fills, and TCP flow control slows the server down.
//
// Tokens are bytes. They accrue at `rate` per second up to `burst`, and the bucket starts full.
// A read may start whenever the bucket holds at least one token, and then takes as many tokens as
// it read, up to one read buffer (ClientOptions::read_buffer_size): the bucket may go into debt by
// that much per connection, which later waits repay, so a read is never split into tiny pieces
// and the long-run rate still holds. Over any interval T the bytes read are at most
// rate * T + burst + (connections reading at once) * read_buffer_size.
//
// What is counted: bytes read after TLS decryption (HTTP heads, frames, compressed bodies), the
// bytes the stats report; TLS records' overhead, handshakes and proxy CONNECT exchanges are not.
//
// Executor: one (the client's); no locks. Thread safety: none.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <system_error>

#include "net/asio.h"

namespace cistern::net {

// The arithmetic of the bucket without timers; time is passed in, so tests drive it with a
// made-up clock.
class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  // A full bucket at `now`. `rate` (bytes per second) and `burst` (bytes) are at least 1.
  TokenBucket(uint64_t rate, uint64_t burst, Clock::time_point now);

  // How long after `now` a read may start: zero when the bucket holds a token, else the time
  // until it holds one again.
  Clock::duration Delay(Clock::time_point now);

  // Takes `bytes` tokens at `now`, going into debt if there are fewer.
  void Take(uint64_t bytes, Clock::time_point now);

  // Tokens at `now`: at most burst(), negative while in debt.
  double Tokens(Clock::time_point now);

  uint64_t rate() const { return rate_; }
  uint64_t burst() const { return burst_; }

 private:
  void Refill(Clock::time_point now);

  uint64_t rate_;
  uint64_t burst_;
  double tokens_;
  Clock::time_point last_;  // when tokens_ was last brought up to date
};

class RateLimiter {
 public:
  // The burst used unless one is given: a tenth of a second's worth of bytes, at least 64 KiB,
  // so a full read buffer fits and a low rate is not held to many tiny waits.
  static uint64_t DefaultBurst(uint64_t rate);

  // `rate`: bytes per second, at least 1. `burst`: bytes, at least 1; 0 means DefaultBurst.
  explicit RateLimiter(uint64_t rate, uint64_t burst = 0);

  // How long from now until a read may start; zero when it may start at once. For a caller
  // that waits on its own timer and must check its own state before asking again.
  TokenBucket::Clock::duration Delay() { return bucket_.Delay(TokenBucket::Clock::now()); }

  // Waits on `timer` until a read may start. The caller owns the timer, so it can cancel the
  // wait (as closing its connection does). Returns the timer's error: none when a read may
  // start, operation_aborted when the wait was cancelled.
  // Lifetime: `timer` and the limiter must outlive the await (await in the same statement).
  Task<std::error_code> WaitToRead(asio::steady_timer& timer);

  // Reports `bytes` read from a socket.
  void Consumed(size_t bytes) { bucket_.Take(bytes, TokenBucket::Clock::now()); }

  uint64_t rate() const { return bucket_.rate(); }
  uint64_t burst() const { return bucket_.burst(); }

 private:
  TokenBucket bucket_;
};

}  // namespace cistern::net
