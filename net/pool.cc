#include "net/pool.h"

#include <algorithm>
#include <utility>

namespace cistern::net {

struct Pool::Waiter {
  explicit Waiter(const Executor& ex) : timer(ex, asio::steady_timer::time_point::max()) {}
  asio::steady_timer timer;                     // cancelled to wake the waiter
  bool fresh = false;                           // wants a new connection
  std::unique_ptr<Http1Connection> connection;  // handed over by Dispatch
  std::shared_ptr<H2Connection> h2;             // a stream of it, handed over by Dispatch
  bool may_dial = false;                        // a slot was reserved for it to dial
  bool urgent = false;                          // queued ahead of waiters that are not
};

Pool::Lease::Lease(Pool* pool, std::string key, std::unique_ptr<Http1Connection> connection,
                   bool reused)
    : pool_(pool), key_(std::move(key)), connection_(std::move(connection)), reused_(reused) {}

Pool::Lease::Lease(Pool* pool, std::string key, std::shared_ptr<H2Connection> connection)
    : pool_(pool), key_(std::move(key)), h2_(std::move(connection)), reused_(false) {}

Pool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_),
      key_(std::move(other.key_)),
      connection_(std::move(other.connection_)),
      h2_(std::move(other.h2_)),
      reused_(other.reused_) {}

Pool::Lease::~Lease() {
  if (connection_) {
    connection_->Close();
    connection_.reset();
    pool_->FreeSlot(key_);
  }
  if (h2_) {
    pool_->ReleaseStream(key_, std::exchange(h2_, nullptr));
  }
}

Pool::Pool(Executor executor, Dialer& dialer, PoolOptions options)
    : executor_(executor),
      dialer_(dialer),
      options_(options),
      reaper_(executor),
      alive_(std::make_shared<Pool*>(this)) {
  options_.max_connections_per_origin = std::max<size_t>(options_.max_connections_per_origin, 1);
  options_.max_streams_per_connection = std::max<size_t>(options_.max_streams_per_connection, 1);
}

Pool::~Pool() {
  alive_.reset();
  for (auto& [key, origin] : origins_) {
    for (Idle& idle : origin.idle) {
      idle.connection->Close();
    }
    for (H2Entry& entry : origin.h2) {
      entry.connection->Close();
    }
  }
}

Task<Result<Pool::Lease>> Pool::Acquire(Url origin_url, bool fresh, bool urgent) {
  std::string key = origin_url.origin();
  Origin& origin = origins_[key];
  if (!origin.protocol_known && (!origin_url.is_https() || !options_.http2)) {
    origin.protocol_known = true;  // only TLS negotiates HTTP/2 here
  }
  std::optional<Lease> lease;
  // Nobody this request must queue behind: take what is free now.
  const bool first = origin.waiters.empty() || (urgent && !origin.waiters.front()->urgent);
  Next next = first ? TryTake(key, origin, fresh, lease) : Next::kWait;
  if (next == Next::kLeased) {
    co_return std::move(*lease);
  }
  if (next == Next::kDial) {
    co_return co_await Dial(std::move(key), std::move(origin_url));
  }
  Waiter waiter(executor_);
  waiter.fresh = fresh;
  waiter.urgent = urgent;
  if (urgent) {
    auto behind = std::find_if(origin.waiters.begin(), origin.waiters.end(),
                               [](const Waiter* other) { return !other->urgent; });
    origin.waiters.insert(behind, &waiter);
  } else {
    origin.waiters.push_back(&waiter);
  }
  if (origin.waiters.front() == &waiter) {
    Dispatch(key);  // nobody else will, if room appeared while nobody waited
  }
  if (!waiter.h2 && !waiter.connection && !waiter.may_dial) {
    auto [ec] = co_await waiter.timer.async_wait(use_task);
    if (!waiter.h2 && !waiter.connection && !waiter.may_dial) {
      std::erase(origin.waiters, &waiter);
      co_return Fail(ec ? ec : std::error_code(asio::error::operation_aborted),
                     "wait for a connection to " + key);
    }
  }
  if (waiter.h2) {
    co_return Lease(this, key, std::move(waiter.h2));
  }
  if (waiter.connection) {
    co_return Lease(this, key, std::move(waiter.connection), true);
  }
  co_return co_await Dial(std::move(key), std::move(origin_url));
}

Pool::Next Pool::TryTake(const std::string& key, Origin& origin, bool fresh,
                         std::optional<Lease>& lease) {
  if (!fresh) {
    if (H2Entry* entry = H2WithRoom(origin)) {
      ++entry->leased;
      lease.emplace(Lease(this, key, entry->connection));
      return Next::kLeased;
    }
    while (!origin.idle.empty()) {
      std::unique_ptr<Http1Connection> connection = std::move(origin.idle.back().connection);
      origin.idle.pop_back();
      if (connection->is_open()) {
        lease.emplace(Lease(this, key, std::move(connection), true));
        return Next::kLeased;
      }
      --origin.open;
    }
  }
  return ReserveDial(origin, fresh) ? Next::kDial : Next::kWait;
}

bool Pool::ReserveDial(Origin& origin, bool fresh) {
  if (origin.open >= options_.max_connections_per_origin && fresh && !origin.idle.empty()) {
    // Make room for the fresh connection by closing the oldest idle one.
    origin.idle.front().connection->Close();
    origin.idle.erase(origin.idle.begin());
    --origin.open;
  }
  if (origin.open >= options_.max_connections_per_origin) {
    return false;
  }
  // While the protocol is unknown, or known to be HTTP/2, one dial at a time: its connection
  // may carry everyone who waits.
  bool may_be_h2 = !origin.protocol_known || origin.is_h2;
  if (may_be_h2 && origin.dialling > 0) {
    return false;
  }
  ++origin.open;
  ++origin.dialling;
  return true;
}

Pool::H2Entry* Pool::H2WithRoom(Origin& origin) {
  for (H2Entry& entry : origin.h2) {
    if (entry.connection->accepting() && entry.leased < entry.connection->stream_limit()) {
      return &entry;
    }
  }
  return nullptr;
}

Task<Result<Pool::Lease>> Pool::Dial(std::string key, Url origin_url) {
  auto stream = co_await dialer_.Dial(origin_url);
  Origin& origin = origins_[key];
  --origin.dialling;
  if (!stream) {
    --origin.open;
    Dispatch(key);
    co_return tl::unexpected(stream.error());
  }
  ++stats_.connections_opened;
  origin.protocol_known = true;
  origin.is_h2 = options_.http2 && stream->alpn_protocol() == "h2";
  if (!origin.is_h2) {
    auto connection =
        std::make_unique<Http1Connection>(std::move(*stream), stats_, options_.read_buffer_size,
                                          options_.idle_timeout, options_.rate_limiter);
    Dispatch(key);  // waiters held back while the protocol was unknown may dial now
    co_return Lease(this, std::move(key), std::move(connection), false);
  }
  H2ConnectionOptions h2_options;
  h2_options.codec = options_.h2;
  h2_options.max_streams = options_.max_streams_per_connection;
  h2_options.idle_timeout = options_.idle_timeout;
  h2_options.read_buffer_size = options_.read_buffer_size;
  h2_options.rate_limiter = options_.rate_limiter;
  auto connection =
      std::make_shared<H2Connection>(executor_, std::move(*stream), stats_, h2_options);
  std::weak_ptr<Pool*> alive = alive_;
  Executor executor = executor_;
  connection->set_on_capacity_change([alive, key, executor] {
    // Posted: the connection calls this from its own code paths, which must not re-enter the
    // pool while it may be iterating its connections.
    asio::post(executor, [alive, key] {
      if (auto pool = alive.lock()) {
        (*pool)->Dispatch(key);
      }
    });
  });
  H2Entry entry;
  entry.connection = connection;
  entry.leased = 1;
  origin.h2.push_back(std::move(entry));
  // The task's handler holds the connection until Run() has returned.
  Spawn(executor_, connection->Run(), [alive, key, connection](std::exception_ptr error) {
    if (error) {
      std::rethrow_exception(error);  // a bug: let it end the run
    }
    if (auto pool = alive.lock()) {
      (*pool)->OnH2Closed(key, connection.get());
    }
  });
  Dispatch(key);
  co_return Lease(this, std::move(key), std::move(connection));
}

void Pool::Dispatch(const std::string& key) {
  Origin& origin = origins_[key];
  while (!origin.waiters.empty()) {
    Waiter* waiter = origin.waiters.front();
    std::optional<Lease> lease;
    Next next = TryTake(key, origin, waiter->fresh, lease);
    if (next == Next::kWait) {
      return;
    }
    origin.waiters.pop_front();
    if (next == Next::kDial) {
      waiter->may_dial = true;
    } else if (lease->h2_) {
      waiter->h2 = std::move(lease->h2_);
    } else {
      waiter->connection = std::move(lease->connection_);
    }
    waiter->timer.cancel();
  }
}

void Pool::Release(Lease lease) {
  if (lease.h2_) {
    ReleaseStream(lease.key_, std::exchange(lease.h2_, nullptr));
    return;
  }
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
  origin.idle.push_back(Idle{std::move(connection), std::chrono::steady_clock::now()});
  Dispatch(lease.key_);
  ArmReaper();
}

void Pool::ReleaseStream(const std::string& key, const std::shared_ptr<H2Connection>& connection) {
  Origin& origin = origins_[key];
  for (H2Entry& entry : origin.h2) {
    if (entry.connection != connection) {
      continue;
    }
    if (--entry.leased == 0) {
      entry.idle_since = std::chrono::steady_clock::now();
      if (shut_down_) {
        entry.connection->Close();  // OnH2Closed removes it once Run() returns
      } else {
        ArmReaper();
      }
    }
    break;
  }
  Dispatch(key);
}

void Pool::OnH2Closed(const std::string& key, const H2Connection* connection) {
  Origin& origin = origins_[key];
  auto it = std::find_if(origin.h2.begin(), origin.h2.end(), [connection](const H2Entry& entry) {
    return entry.connection.get() == connection;
  });
  if (it == origin.h2.end()) {
    return;
  }
  origin.h2.erase(it);
  --origin.open;
  Dispatch(key);
}

void Pool::FreeSlot(const std::string& key) {
  Origin& origin = origins_[key];
  --origin.open;
  Dispatch(key);
}

void Pool::Shutdown() {
  shut_down_ = true;
  for (auto& [key, origin] : origins_) {
    for (Idle& idle : origin.idle) {
      idle.connection->Close();
    }
    origin.open -= origin.idle.size();
    origin.idle.clear();
    for (H2Entry& entry : origin.h2) {
      if (entry.leased == 0) {
        entry.connection->Close();
      }
    }
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
    for (const H2Entry& entry : origin.h2) {
      if (entry.leased == 0 && entry.connection->is_open()) {
        earliest = std::min(earliest, entry.idle_since);
      }
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
    for (H2Entry& entry : origin.h2) {
      if (entry.leased == 0 && now - entry.idle_since >= options_.idle_timeout) {
        entry.connection->Close();  // OnH2Closed removes it once Run() returns
      }
    }
  }
  ArmReaper();
}

}  // namespace cistern::net
