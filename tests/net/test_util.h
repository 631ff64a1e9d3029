// Helpers for net tests that run coroutines: RunOn() drives an io_context until a task finishes.
#pragma once

#include <chrono>
#include <exception>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "net/asio.h"
#include "net/error.h"
#include "tests/support/run_task.h"

namespace cistern::net::testing {

// Runs `task` on `io` until it finishes (or `limit` passes, which fails the test). Servers on
// the same io_context keep running meanwhile. The limit only turns a hang into a failure.
template <class T>
Result<T> RunOn(asio::io_context& io, Task<Result<T>> task,
                std::chrono::seconds limit = std::chrono::seconds(30)) {
  std::optional<Result<T>> result;
  std::exception_ptr error;
  io.restart();
  Spawn(io.get_executor(), std::move(task), [&](std::exception_ptr e, Result<T> r) {
    error = e;
    result.emplace(std::move(r));
    io.stop();
  });
  io.run_for(limit);
  if (error) {
    std::rethrow_exception(error);
  }
  if (!result) {
    ADD_FAILURE() << "task did not finish within " << limit.count() << " s";
    return Fail(Errc::kTimeout, "test limit");
  }
  return std::move(*result);
}

using cistern::testing::CloseAndDrain;

inline std::string Describe(const Error& error) {
  return error.code.category().name() + std::string(":") + std::to_string(error.code.value()) +
         " " + error.message();
}

}  // namespace cistern::net::testing
