// Assertion helpers for store::Result in tests: `ASSERT_TRUE(IsOk(expr))` evaluates `expr` once and
// prints the error's code and detail on failure instead of raw bytes.
#pragma once

#include <ostream>

#include <gtest/gtest.h>

#include "store/error.h"

namespace cistern::store {

inline void PrintTo(const Error& error, std::ostream* os) {
  *os << error.code.category().name() << ":" << error.code.value() << " (" << error.code.message()
      << ") " << error.detail;
}

namespace testing {

template <class T>
::testing::AssertionResult IsOk(const Result<T>& result) {
  if (result.has_value()) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "error: " << Describe(result.error()) << " [" << result.error().code.category().name()
         << ":" << result.error().code.value() << "]";
}

}  // namespace testing
}  // namespace cistern::store
