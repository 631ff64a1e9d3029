#include "engine/group_sync.h"

#include <cerrno>
#include <utility>

namespace cistern::engine {

GroupSync::GroupSync(net::Executor executor, asio::thread_pool& pool,
                     std::function<store::Result<void>()> sync)
    : pool_(pool), sync_(std::move(sync)), wake_(executor) {}

net::Task<store::Result<void>> GroupSync::Wait() {
  const uint64_t ticket = ++requested_;
  while (completed_ < ticket && !failed_) {
    if (!running_) {
      // Covers every ticket handed out so far: their files were published before this sync.
      running_ = true;
      const uint64_t covers = requested_;
      store::Result<void> synced = co_await net::Offload(pool_, [this] { return sync_(); });
      running_ = false;
      ++syncs_;
      if (synced) {
        completed_ = covers;
      } else {
        failed_ = synced.error();
      }
      wake_.cancel();
      continue;
    }
    wake_.expires_at(asio::steady_timer::time_point::max());
    // Ends when a sync ends (cancel()) or when this waiter is cancelled; both are checked.
    std::ignore = co_await wake_.async_wait(net::use_task);
    auto state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none && completed_ < ticket && !failed_) {
      co_return tl::unexpected(
          store::ErrnoError(ECANCELED, "wait for the mirror's filesystem to sync"));
    }
  }
  if (completed_ < ticket) {
    co_return tl::unexpected(*failed_);
  }
  co_return store::Result<void>{};
}

}  // namespace cistern::engine
