// Helpers shared by the engine unit tests: readable failures for engine::Result and byte strings
// built from escapes.
#pragma once

#include <ostream>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "engine/error.h"

namespace cistern::engine {

// Prints the code and detail instead of the struct's bytes when an assertion fails.
inline void PrintTo(const Error& error, std::ostream* os) {
  *os << error.code.category().name() << ":" << error.code.value() << " \"" << error.Message()
      << "\"";
}

namespace testing {

// Success, or a failure that shows the error's code and message.
template <class T>
::testing::AssertionResult IsOk(const Result<T>& result) {
  if (result.has_value()) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "error " << result.error().code.category().name() << ":" << result.error().code.value()
         << " \"" << result.error().Message() << "\"";
}

// A failure with `code`, or a failure that says what came back instead.
template <class T>
::testing::AssertionResult IsError(const Result<T>& result, Errc code) {
  if (result.has_value()) {
    return ::testing::AssertionFailure()
           << "succeeded, expected " << make_error_code(code).message();
  }
  if (result.error().code != code) {
    return ::testing::AssertionFailure()
           << "error " << result.error().code.message() << " \"" << result.error().Message()
           << "\", expected " << make_error_code(code).message();
  }
  return ::testing::AssertionSuccess();
}

}  // namespace testing
}  // namespace cistern::engine
