#include "net/pool.h"

#include <algorithm>
#include <utility>

namespace cistern::net {

struct Pool::Waiter {
  explicit Waiter(const Executor& ex) : timer(ex, asio::steady_timer::time_point::max()) {}
  asio::steady_timer timer;                     // cancelled to wake the waiter
  std::unique_ptr<Http1Connection> connection;  // handed over by Release
  bool may_dial = false;                        // a slot was freed and reserved for it
};

Pool::Lease::Lease(Pool* pool, std::string key, std::unique_ptr<Http1Connection> connection,
                   bool reused)
    : pool_(pool), key_(std::move(key)), connection_(std::move(connection)), reused_(reused) {}

Pool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_),
      key_(std::move(other.key_)),
      connection_(std::move(other.connection_)),
      reused_(other.reused_) {}

Pool::Lease::~Lease() {
  if (connection_) {
    connection_->Close();
    connection_.reset();
    pool_->FreeSlot(key_);
  }
}

Pool::Pool(Executor executor, Dialer& dialer, PoolOptions options)
    : executor_(executor),
      dialer_(dialer),
      options_(options),
      reaper_(executor),
      alive_(std::make_shared<Pool*>(this)) {
  options_.max_connections_per_origin = std::max<size_t>(options_.max_connections_per_origin, 1);
}

Pool::~Pool() {
  alive_.reset();
  for (auto& [key, origin] : origins_) {
    for (Idle& idle : origin.idle) {
      idle.connection->Close();
    }
  }
}

Task<Result<Pool::Lease>> Pool::Acquire(Url origin_url, bool fresh) {
  std::string key = origin_url.origin();
  Origin& origin = origins_[key];
  if (!fresh) {
    while (!origin.idle.empty()) {
      std::unique_ptr<Http1Connection> connection = std::move(origin.idle.back().connection);
      origin.idle.pop_back();
      if (connection->is_open()) {
        co_return Lease(this, key, std::move(connection), true);
      }
      --origin.open;
    }
  } else if (origin.open >= options_.max_connections_per_origin && !origin.idle.empty()) {
    // Make room for the fresh connection by closing the oldest idle one.
    origin.idle.front().connection->Close();
    origin.idle.erase(origin.idle.begin());
    --origin.open;
  }
  if (origin.open < options_.max_connections_per_origin) {
    ++origin.open;
    co_return co_await Dial(std::move(key), std::move(origin_url));
  }
  Waiter waiter(executor_);
  origin.waiters.push_back(&waiter);
  auto [ec] = co_await waiter.timer.async_wait(use_task);
  if (waiter.connection && fresh) {
    // The slot is ours; use it for a new connection.
    waiter.connection->Close();
    waiter.connection.reset();
    waiter.may_dial = true;
  }
  if (waiter.connection) {
    co_return Lease(this, key, std::move(waiter.connection), true);
  }
  if (waiter.may_dial) {
    co_return co_await Dial(std::move(key), std::move(origin_url));
  }
  std::erase(origin.waiters, &waiter);
  co_return Fail(ec ? ec : std::error_code(asio::error::operation_aborted),
                 "wait for a connection to " + key);
}

Task<Result<Pool::Lease>> Pool::Dial(std::string key, Url origin) {
  auto stream = co_await dialer_.Dial(origin);
  if (!stream) {
    FreeSlot(key);
    co_return tl::unexpected(stream.error());
  }
  ++stats_.connections_opened;
  auto connection = std::make_unique<Http1Connection>(
      std::move(*stream), stats_, options_.read_buffer_size, options_.idle_timeout);
  co_return Lease(this, std::move(key), std::move(connection), false);
}

void Pool::Release(Lease lease) {
  std::unique_ptr<Http1Connection> connection = std::move(lease.connection_);
  if (!connection) {
    return;
  }
  if (shut_down_ || !connection->reusable()) {
    connection->Close();
    FreeSlot(lease.key_);
    return;
  }
  Origin& origin = origins_[lease.key_];
  if (!origin.waiters.empty()) {
    Waiter* waiter = origin.waiters.front();
    origin.waiters.pop_front();
    waiter->connection = std::move(connection);
    waiter->timer.cancel();
    return;
  }
  origin.idle.push_back(Idle{std::move(connection), std::chrono::steady_clock::now()});
  ArmReaper();
}

void Pool::FreeSlot(const std::string& key) {
  Origin& origin = origins_[key];
  --origin.open;
  if (!origin.waiters.empty()) {
    Waiter* waiter = origin.waiters.front();
    origin.waiters.pop_front();
    waiter->may_dial = true;
    ++origin.open;
    waiter->timer.cancel();
  }
}

void Pool::Shutdown() {
  shut_down_ = true;
  for (auto& [key, origin] : origins_) {
    for (Idle& idle : origin.idle) {
      idle.connection->Close();
    }
    origin.open -= origin.idle.size();
    origin.idle.clear();
  }
  reaper_.cancel();
  reaper_armed_ = false;
}

void Pool::ArmReaper() {
  if (reaper_armed_) {
    return;
  }
  auto earliest = std::chrono::steady_clock::time_point::max();
  for (const auto& [key, origin] : origins_) {
    for (const Idle& idle : origin.idle) {
      earliest = std::min(earliest, idle.since);
    }
  }
  if (earliest == std::chrono::steady_clock::time_point::max()) {
    return;
  }
  reaper_armed_ = true;
  reaper_.expires_at(earliest + options_.idle_timeout);
  std::weak_ptr<Pool*> alive = alive_;
  reaper_.async_wait([alive](std::error_code ec) {
    auto pool = alive.lock();
    if (!pool) {
      return;
    }
    (*pool)->reaper_armed_ = false;
    if (!ec) {
      (*pool)->Reap();
    }
  });
}

void Pool::Reap() {
  auto now = std::chrono::steady_clock::now();
  for (auto& [key, origin] : origins_) {
    auto expired = [&](const Idle& idle) {
      return now - idle.since >= options_.idle_timeout || !idle.connection->is_open();
    };
    size_t before = origin.idle.size();
    for (Idle& idle : origin.idle) {
      if (expired(idle)) {
        idle.connection->Close();
      }
    }
    std::erase_if(origin.idle, expired);
    origin.open -= before - origin.idle.size();
  }
  ArmReaper();
}

}  // namespace cistern::net
