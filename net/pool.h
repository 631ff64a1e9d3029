// Pool: HTTP/1.1 connections per origin ("https://host:443"), at most
// `max_connections_per_origin` open at a time. Idle keep-alive connections are reused newest
// first (LIFO, so the warmest socket is used and old ones age out) and closed after
// `idle_timeout`. A request that finds its origin at the limit waits in a FIFO queue.
//
// Executor: all methods on the executor given to the constructor; connections belong to it.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "net/asio.h"
#include "net/dialer.h"
#include "net/error.h"
#include "net/http1_connection.h"
#include "net/url.h"

namespace cistern::net {

struct PoolOptions {
  size_t max_connections_per_origin = 4;  // open connections (busy or idle) per origin; >= 1
  std::chrono::milliseconds idle_timeout{30'000};  // per read, and for idle pooled connections
  size_t read_buffer_size = 64 * 1024;             // bytes per connection
};

class Pool {
 public:
  // Exclusive use of one connection. Give it back with Pool::Release(); a Lease destroyed
  // without that closes its connection and frees the slot.
  class Lease {
   public:
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&& other) = delete;
    ~Lease();

    Http1Connection& connection() { return *connection_; }
    // True when the connection already carried a request (it may have gone stale while idle).
    bool reused() const { return reused_; }

   private:
    friend class Pool;
    Lease(Pool* pool, std::string key, std::unique_ptr<Http1Connection> connection, bool reused);

    Pool* pool_;
    std::string key_;
    std::unique_ptr<Http1Connection> connection_;
    bool reused_;
  };

  // Lifetime: `dialer` must outlive the pool. The pool must outlive every Lease.
  Pool(Executor executor, Dialer& dialer, PoolOptions options);
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;
  ~Pool();

  // A connection to `origin`'s origin: an idle one unless `fresh`, else a newly dialled one,
  // waiting for a slot when the origin is at its limit.
  // Errors: the dialer's. Cancellation: supported while waiting and dialling.
  Task<Result<Lease>> Acquire(Url origin, bool fresh);

  // Returns a connection: kept idle (or handed to a waiter) when it is reusable and the pool is
  // not shut down; closed otherwise.
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
  struct Origin {
    size_t open = 0;         // busy + idle + being dialled
    std::vector<Idle> idle;  // back is newest
    std::deque<Waiter*> waiters;
  };

  Task<Result<Lease>> Dial(std::string key, Url origin);
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
  std::shared_ptr<Pool*> alive_;  // the reaper's handler checks it after the pool is gone
};

}  // namespace cistern::net
