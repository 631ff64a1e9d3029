// The one header through which cistern reaches Asio 1.22: the coroutine vocabulary (Task<T>,
// use_task, Spawn, Offload, TaskGroup, WithDeadline, IdleDeadline, SleepFor).
//
// Asio 1.22 differs from the Asio of today's documentation: no operation has a default completion
// token, `as_tuple` lives in `asio::experimental`, there is no `cancel_after`, no ranged
// parallel group, no `co_composed` and no `any_completion_handler`, and
// `experimental::channel::close()` drops buffered values. This file is the only one that spells
// `asio::experimental`, and the only user of the awaitable operators and of plain
// `asio::use_awaitable`. Asio is compiled once, in net/asio_impl.cc (ASIO_SEPARATE_COMPILATION).
//
// Executor: every function here runs on the executor of the coroutine that awaits it, except
// the work handed to Offload().
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <list>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/buffer.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/cancellation_state.hpp>
#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/error.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "net/error.h"

namespace cistern::net {

// A coroutine returning T. Await it; never keep an un-awaited Task in a variable.
template <class T>
using Task = asio::awaitable<T>;

// The completion token for every Asio call: errors come back as values in a tuple.
//   auto [ec, n] = co_await socket.async_read_some(asio::buffer(buf), use_task);
inline constexpr auto use_task = asio::experimental::as_tuple(asio::use_awaitable);

using Executor = asio::any_io_executor;

namespace internal {

template <class T>
Task<T> SpawnRoot(Task<T> task) {
  // Style §8: cancellation is a value (operation_aborted), never an exception.
  co_await asio::this_coro::throw_if_cancelled(false);
  if constexpr (std::is_void_v<T>) {
    co_await std::move(task);
  } else {
    co_return co_await std::move(task);
  }
}

}  // namespace internal

// Starts `task` on `ex` as a root task. A cancelled task sees `operation_aborted` as a value.
// `on_done` is called on `ex` with (std::exception_ptr, T), or (std::exception_ptr) for void;
// a non-null exception_ptr is a bug and should be logged and end the run.
// Lifetime: `task` owns everything it uses, or what it references outlives it.
template <class T, class Handler>
void Spawn(Executor ex, Task<T> task, Handler on_done) {
  asio::co_spawn(ex, internal::SpawnRoot(std::move(task)), std::move(on_done));
}

// As above; emitting a signal on `slot`'s cancellation_signal cancels the task's current
// operation (and, with terminal cancellation, all its later ones).
template <class T, class Handler>
void Spawn(Executor ex, Task<T> task, asio::cancellation_slot slot, Handler on_done) {
  asio::co_spawn(ex, internal::SpawnRoot(std::move(task)),
                 asio::bind_cancellation_slot(slot, std::move(on_done)));
}

// Runs the blocking function `fn` on `pool` and resumes the caller on its own executor with the
// result. An exception from `fn` is rethrown in the caller (it is a bug).
// Cancellation: not supported; `fn` always runs to completion.
// Lifetime: `fn` is moved to the pool; whatever it references must outlive the await.
template <class F>
auto Offload(asio::thread_pool& pool, F fn) -> Task<std::invoke_result_t<F>> {
  using R = std::invoke_result_t<F>;
  if constexpr (std::is_void_v<R>) {
    co_await asio::async_initiate<decltype(asio::use_awaitable), void(std::exception_ptr)>(
        [&pool, &fn](auto handler) {
          auto work = asio::make_work_guard(asio::get_associated_executor(handler));
          asio::post(pool, [fn = std::move(fn), handler = std::move(handler),
                            work = std::move(work)]() mutable {
            std::exception_ptr error;
            try {
              fn();
            } catch (...) {
              error = std::current_exception();
            }
            auto ex = work.get_executor();
            asio::post(
                ex, [handler = std::move(handler), error]() mutable { std::move(handler)(error); });
          });
        },
        asio::use_awaitable);
  } else {
    std::optional<R> result =
        co_await asio::async_initiate<decltype(asio::use_awaitable),
                                      void(std::exception_ptr, std::optional<R>)>(
            [&pool, &fn](auto handler) {
              auto work = asio::make_work_guard(asio::get_associated_executor(handler));
              asio::post(pool, [fn = std::move(fn), handler = std::move(handler),
                                work = std::move(work)]() mutable {
                std::exception_ptr error;
                std::optional<R> value;
                try {
                  value.emplace(fn());
                } catch (...) {
                  error = std::current_exception();
                }
                auto ex = work.get_executor();
                asio::post(
                    ex, [handler = std::move(handler), error, value = std::move(value)]() mutable {
                      std::move(handler)(error, std::move(value));
                    });
              });
            },
            asio::use_awaitable);
    co_return std::move(*result);
  }
}

// Waits for `d` or until cancelled, whichever comes first.
Task<void> SleepFor(std::chrono::steady_clock::duration d);

// Owns a set of child tasks: spawns them, counts them, and lets the owner wait until all have
// finished. Children handle their own errors (they return void). An exception escaping a child
// is a bug; the first one is rethrown from Wait().
// Lifetime: the group must outlive its children; await Wait() before destroying it.
// Executor: all methods are called on `executor`.
class TaskGroup {
 public:
  explicit TaskGroup(Executor executor);
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;
  ~TaskGroup();

  // Starts `task` as a child. Lifetime: as for Spawn().
  void Spawn(Task<void> task);

  // Completes when no child is running. If the waiting task is cancelled, the children are
  // cancelled (terminal) and Wait() still waits for them to finish.
  Task<void> Wait();

  // Emits terminal cancellation to every running child. Children finish on their own time.
  void Cancel();

  size_t size() const { return children_.size(); }

 private:
  struct Child {
    asio::cancellation_signal signal;
  };

  void OnChildDone(std::list<Child>::iterator child, std::exception_ptr error);

  Executor executor_;
  std::list<Child> children_;
  asio::steady_timer idle_;  // waited on by Wait(); cancelled when the last child finishes
  std::exception_ptr first_error_;
};

// A deadline that activity pushes forward: the idle watchdog of one connection.
// Touch() on every read and write; Suspend() while waiting for a consumer (a BodySink), so
// backpressure is not mistaken for a stalled peer.
class IdleDeadline {
 public:
  using Clock = std::chrono::steady_clock;
  explicit IdleDeadline(Clock::duration limit) : limit_(limit), expiry_(Clock::now() + limit) {}

  void Touch() {
    expiry_ = Clock::now() + limit_;
    suspended_ = false;
  }
  void Suspend() { suspended_ = true; }

  Clock::duration limit() const { return limit_; }
  Clock::time_point expiry() const { return expiry_; }
  bool suspended() const { return suspended_; }

 private:
  Clock::duration limit_;
  Clock::time_point expiry_;
  bool suspended_ = false;
};

namespace internal {

inline std::string DurationText(std::chrono::steady_clock::duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}

template <class T>
Task<Result<T>> Guarded(Task<Result<T>> task) {
  co_await asio::this_coro::throw_if_cancelled(false);
  co_return co_await std::move(task);
}

template <class T>
Task<Result<T>> DeadlineTimer(std::chrono::steady_clock::duration d) {
  co_await asio::this_coro::throw_if_cancelled(false);
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  auto [ec] = co_await timer.async_wait(use_task);
  if (ec) {
    co_return Fail(ec, "deadline");
  }
  co_return Fail(Errc::kTimeout, "no result within " + DurationText(d));
}

template <class T>
Task<Result<T>> IdleWatchdog(IdleDeadline& idle) {
  co_await asio::this_coro::throw_if_cancelled(false);
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    auto now = IdleDeadline::Clock::now();
    if (!idle.suspended() && now >= idle.expiry()) {
      co_return Fail(Errc::kTimeout, "idle for " + DurationText(idle.limit()));
    }
    timer.expires_at(idle.suspended() ? now + idle.limit() : idle.expiry());
    auto [ec] = co_await timer.async_wait(use_task);
    if (ec) {
      co_return Fail(ec, "idle watchdog");
    }
  }
}

template <class T>
Result<T> Winner(std::variant<Result<T>, Result<T>> raced) {
  if (raced.index() == 0) {
    return std::move(std::get<0>(raced));
  }
  return std::move(std::get<1>(raced));
}

}  // namespace internal

// Races `task` against a timer of `d`. Returns the task's result, or Errc::kTimeout if the timer
// wins; the task is then cancelled (terminal) and awaited before this returns.
// Cancellation: cancelling the caller cancels the task; the result is then the task's
// (usually operation_aborted).
template <class T>
Task<Result<T>> WithDeadline(Task<Result<T>> task, std::chrono::steady_clock::duration d) {
  auto raced = co_await asio::experimental::awaitable_operators::operator||(
      internal::Guarded(std::move(task)), internal::DeadlineTimer<T>(d));
  co_return internal::Winner<T>(std::move(raced));
}

// Races `task` against the idle watchdog `idle`: Errc::kTimeout when `idle` expires while not
// suspended. Lifetime: `idle` must outlive the await (keep it in the caller's frame).
template <class T>
Task<Result<T>> WithIdleDeadline(Task<Result<T>> task, IdleDeadline& idle) {
  auto raced = co_await asio::experimental::awaitable_operators::operator||(
      internal::Guarded(std::move(task)), internal::IdleWatchdog<T>(idle));
  co_return internal::Winner<T>(std::move(raced));
}

}  // namespace cistern::net
