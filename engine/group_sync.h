// GroupSync: many coroutines that each need "everything I published is durable" served by few
// filesystem syncs (group commit).
//
// With `TreeOptions::Durability::kOnSync`, files are published without fsync, and a project's
// page may be written only once its files are durable, and committed only once its page is.
// Each project asks `Wait()`; a sync already running when it asks may have missed its files, so
// it waits for the next one, which it shares with every project that asked meanwhile. With eight
// projects committing at once, a run makes a few syncs per batch of projects instead of two
// fsyncs per file.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "net/asio.h"
#include "store/error.h"

namespace cistern::engine {

class GroupSync {
 public:
  // `sync` makes everything written so far durable (Tree::Sync); it runs on `pool`.
  // Lifetime: `pool` outlives this object.
  GroupSync(net::Executor executor, asio::thread_pool& pool,
            std::function<store::Result<void>()> sync);
  GroupSync(const GroupSync&) = delete;
  GroupSync& operator=(const GroupSync&) = delete;

  // Completes once a sync that started after this call has finished. After a failed sync every
  // call fails with that sync's error (a disk that lost writes does not recover within a run).
  // Cancellation: a cancelled waiter ends with ECANCELED; the sync it may have started still
  // completes for the others.
  // Requires: called from `executor` only (the run's network thread).
  net::Task<store::Result<void>> Wait();

  // Syncs run so far.
  uint64_t syncs() const { return syncs_; }

 private:
  asio::thread_pool& pool_;
  std::function<store::Result<void>()> sync_;
  asio::steady_timer wake_;  // waiters sleep on it; cancelled when a sync ends
  uint64_t requested_ = 0;   // tickets handed out
  uint64_t completed_ = 0;   // every ticket up to this one is durable
  bool running_ = false;
  uint64_t syncs_ = 0;
  std::optional<store::Error> failed_;
};

}  // namespace cistern::engine
