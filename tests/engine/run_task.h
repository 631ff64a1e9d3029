// RunTask(): runs one coroutine to completion on a fresh io_context, for engine tests that drive
// the net/ sink interfaces. The limit only turns a hang into a failure; it is not a timing check.
#pragma once

#include <chrono>
#include <exception>
#include <optional>
#include <utility>

#include <gtest/gtest.h>

#include "net/asio.h"

namespace cistern::engine::testing {

// Returns the task's value, or nullopt (and a test failure) when it did not finish within `limit`.
// An exception from the task is a bug and is rethrown.
template <class T>
std::optional<T> RunTask(net::Task<T> task, std::chrono::seconds limit = std::chrono::seconds(30)) {
  asio::io_context io(1);
  std::optional<T> result;
  std::exception_ptr error;
  net::Spawn(io.get_executor(), std::move(task), [&](std::exception_ptr e, T value) {
    error = e;
    result.emplace(std::move(value));
  });
  io.run_for(limit);
  if (error) {
    std::rethrow_exception(error);
  }
  if (!result) {
    ADD_FAILURE() << "task did not finish within " << limit.count() << " s";
  }
  return result;
}

}  // namespace cistern::engine::testing
