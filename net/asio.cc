#include "net/asio.h"

#include <cassert>

namespace cistern::net {

Task<void> SleepFor(std::chrono::steady_clock::duration d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  // A cancelled sleep simply ends early; the caller checks its cancellation state.
  std::ignore = co_await timer.async_wait(use_task);
}

TaskGroup::TaskGroup(Executor executor)
    : executor_(executor), idle_(executor, asio::steady_timer::time_point::max()) {}

TaskGroup::~TaskGroup() {
  // Invariant (Lifetime in the header): the owner awaited Wait() before destroying the group.
  assert(children_.empty());
}

void TaskGroup::Spawn(Task<void> task) {
  auto child = children_.emplace(children_.end());
  net::Spawn(executor_, std::move(task), child->signal.slot(),
             [this, child](std::exception_ptr error) { OnChildDone(child, error); });
}

void TaskGroup::OnChildDone(std::list<Child>::iterator child, std::exception_ptr error) {
  if (error && !first_error_) {
    first_error_ = error;
  }
  children_.erase(child);
  if (children_.empty()) {
    idle_.cancel();
  }
}

Task<void> TaskGroup::Wait() {
  while (!children_.empty()) {
    idle_.expires_at(asio::steady_timer::time_point::max());
    auto [ec] = co_await idle_.async_wait(use_task);
    if (ec && !children_.empty()) {
      // Either our own waiter was cancelled, or a spurious wake: structured concurrency means
      // we still wait for the children, but a cancelled owner cancels them first.
      auto state = co_await asio::this_coro::cancellation_state;
      if (state.cancelled() != asio::cancellation_type::none) {
        Cancel();
        co_await asio::this_coro::reset_cancellation_state();
      }
    }
  }
  if (first_error_) {
    std::rethrow_exception(std::exchange(first_error_, nullptr));
  }
}

void TaskGroup::Cancel() {
  for (Child& child : children_) {
    child.signal.emit(asio::cancellation_type::terminal);
  }
}

}  // namespace cistern::net
