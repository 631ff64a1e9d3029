#include "store/crash_point.h"

#if defined(CISTERN_CRASH_POINTS)

#include <cstdlib>
#include <signal.h>
#include <string>
#include <unistd.h>

namespace cistern::store {
namespace {

const std::string& CrashAt() {
  // Read once: the test harness sets the variable before starting the process.
  static const std::string value = [] {
    const char* env = std::getenv("CISTERN_CRASH_AT");
    return env == nullptr ? std::string() : std::string(env);
  }();
  return value;
}

}  // namespace

void CrashPoint(std::string_view name) noexcept {
  const std::string& target = CrashAt();
  if (!target.empty() && target == name) {
    ::kill(::getpid(), SIGKILL);
    std::abort();  // not reached: SIGKILL cannot be caught
  }
}

}  // namespace cistern::store

#endif
