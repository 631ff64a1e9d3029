#pragma once

// RunTask: runs a coroutine to completion on a fresh io_context, for tests (style.md §12). The
// limit only turns a hang into a test failure; it is never a performance assertion.
// Header-only: the cistern_test_support library itself does not depend on net/.

#include <chrono>
#include <exception>
#include <memory>
#include <optional>

#include <gtest/gtest.h>

#include "net/asio.h"

namespace cistern::testing {

template <class T>
std::optional<T> RunTask(net::Task<T> task,
                         std::chrono::steady_clock::duration limit = std::chrono::minutes(5)) {
  asio::io_context context(1);
  std::optional<T> result;
  std::exception_ptr failure;
  net::Spawn(context.get_executor(), std::move(task), [&](std::exception_ptr e, T value) {
    failure = e;
    result.emplace(std::move(value));
  });
  context.run_for(limit);
  if (failure) {
    ADD_FAILURE() << "the task threw (a bug: cistern code throws nothing)";
    return std::nullopt;
  }
  if (!result) {
    ADD_FAILURE() << "the task did not finish within "
                  << std::chrono::duration_cast<std::chrono::seconds>(limit).count() << " s";
  }
  return result;
}

// Destroys `owner` (a Client or anything whose destructor closes its connections) and runs `io`
// until the tasks those connections left behind have ended. Without it the io_context's
// destructor would destroy their coroutine frames mid-flight, which a Debug build's TaskGroup
// invariant rightly refuses. Returns when `io` runs out of work or after `limit`.
template <class T>
void CloseAndDrain(asio::io_context& io, std::unique_ptr<T>& owner,
                   std::chrono::seconds limit = std::chrono::seconds(10)) {
  owner.reset();
  io.restart();
  io.run_for(limit);
}

}  // namespace cistern::testing
