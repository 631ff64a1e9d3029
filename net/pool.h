// Pool: connections per origin ("https://host:443"), at most `max_connections_per_origin` open
// at a time, over HTTP/1.1 or HTTP/2 as TLS ALPN decides.
//
// HTTP/1.1: one request per connection at a time. Idle keep-alive connections are reused newest
// first (LIFO, so the warmest socket is used and old ones age out) and closed after
// `idle_timeout`.
// HTTP/2: a connection is shared by up to min(max_streams_per_connection, the server's
// SETTINGS_MAX_CONCURRENT_STREAMS) requests; another is opened only when every one is full.
// Until an https origin's first connection says which protocol it speaks, only that one
// connection is dialled, so a burst of requests to an HTTP/2 server opens one connection, not
// `max_connections_per_origin`. A connection that received GOAWAY takes no new requests and
// leaves the pool once its last stream ends; an unused one is closed after `idle_timeout`.
// A request that finds no room waits in a FIFO queue.
//
// Executor: all methods on the executor given to the constructor; connections belong to it.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/asio.h"
#include "net/dialer.h"
#include "net/error.h"
#include "net/h2_codec.h"
#include "net/h2_connection.h"
#include "net/http1_connection.h"
#include "net/rate_limiter.h"
#include "net/url.h"

namespace cistern::net {

struct PoolOptions {
  size_t max_connections_per_origin = 4;  // open connections (busy or idle) per origin; >= 1
  std::chrono::milliseconds idle_timeout{30'000};  // per read, and for idle pooled connections
  size_t read_buffer_size = 64 * 1024;             // bytes per connection
  // Use HTTP/2 when ALPN selects it. The dialer's TLS context decides what is offered.
  bool http2 = true;
  size_t max_streams_per_connection = 100;  // concurrent requests per HTTP/2 connection; >= 1
  H2CodecOptions h2;                        // HTTP/2 windows and head limit
  // Shared by every connection's socket reads when not null. Lifetime: outlives the pool.
  RateLimiter* rate_limiter = nullptr;
};

class Pool {
 public:
  // The right to send one request: exclusive use of an HTTP/1.1 connection, or one stream of a
  // shared HTTP/2 connection. Give it back with Pool::Release(); a Lease destroyed without that
  // closes its HTTP/1.1 connection (an HTTP/2 connection stays, for its other streams).
  class Lease {
   public:
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&& other) = delete;
    ~Lease();

    bool is_h2() const { return h2_ != nullptr; }
    // Requires: !is_h2().
    Http1Connection& connection() { return *connection_; }
    // Requires: is_h2().
    H2Connection& h2() { return *h2_; }
    // True when the connection already carried a request (it may have gone stale while idle).
    bool reused() const { return reused_; }

   private:
    friend class Pool;
    Lease(Pool* pool, std::string key, std::unique_ptr<Http1Connection> connection, bool reused);
    Lease(Pool* pool, std::string key, std::shared_ptr<H2Connection> connection);

    Pool* pool_;
    std::string key_;
    std::unique_ptr<Http1Connection> connection_;
    std::shared_ptr<H2Connection> h2_;
    bool reused_;
  };

  // Lifetime: `dialer` must outlive the pool. The pool must outlive every Lease. HTTP/2
  // connections run tasks of their own; the destructor closes them, and they end as soon as
  // the executor runs again, touching nothing of the pool.
  Pool(Executor executor, Dialer& dialer, PoolOptions options);
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;
  ~Pool();

  // A connection to `origin`'s origin: a stream of an HTTP/2 connection with room, or an idle
  // HTTP/1.1 one, unless `fresh`; else a newly dialled one, waiting for room when the origin is
  // at its limit. Waiters are served in arrival order, except that an `urgent` one goes ahead of
  // every waiter that is not.
  // Errors: the dialer's. Cancellation: supported while waiting and dialling.
  Task<Result<Lease>> Acquire(Url origin, bool fresh, bool urgent = false);

  // Returns a lease: an HTTP/1.1 connection is kept idle (or handed to a waiter) when it is
  // reusable and the pool is not shut down, closed otherwise; an HTTP/2 stream slot is freed.
  void Release(Lease lease);

  // Closes idle connections; connections released later are closed instead of kept.
  void Shutdown();

  const TransportStats& stats() const { return stats_; }

 private:
  struct Waiter;
  struct Idle {
    std::unique_ptr<Http1Connection> connection;
    std::chrono::steady_clock::time_point since;
  };
  struct H2Entry {
    std::shared_ptr<H2Connection> connection;
    size_t leased = 0;                              // leases holding one of its streams
    std::chrono::steady_clock::time_point idle_since;  // when `leased` last became 0
  };
  struct Origin {
    size_t open = 0;         // HTTP/1.1 busy + idle, HTTP/2 connections, dials in flight
    size_t dialling = 0;     // dials in flight
    bool protocol_known = false;  // whether a dial to it has said which protocol it speaks
    bool is_h2 = false;      // the last dial negotiated HTTP/2
    std::vector<Idle> idle;  // back is newest
    std::vector<H2Entry> h2;
    std::deque<Waiter*> waiters;
  };
  enum class Next { kLeased, kDial, kWait };

  Next TryTake(const std::string& key, Origin& origin, bool fresh, std::optional<Lease>& lease);
  bool ReserveDial(Origin& origin, bool fresh);
  H2Entry* H2WithRoom(Origin& origin);
  Task<Result<Lease>> Dial(std::string key, Url origin);
  void Dispatch(const std::string& key);
  void ReleaseStream(const std::string& key, const std::shared_ptr<H2Connection>& connection);
  void OnH2Closed(const std::string& key, const H2Connection* connection);
  void FreeSlot(const std::string& key);
  void ArmReaper();
  void Reap();

  Executor executor_;
  Dialer& dialer_;
  PoolOptions options_;
  std::map<std::string, Origin> origins_;  // never erased: references stay valid across awaits
  TransportStats stats_;
  bool shut_down_ = false;
  asio::steady_timer reaper_;
  bool reaper_armed_ = false;
  std::shared_ptr<Pool*> alive_;  // handlers check it after the pool is gone
};

}  // namespace cistern::net
