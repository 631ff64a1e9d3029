#include "store/crash_point.h"

#if defined(CISTERN_CRASH_POINTS)

#include <atomic>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <signal.h>
#include <string>
#include <unistd.h>

namespace cistern::store {
namespace {

// `CISTERN_CRASH_AT` parsed: the point's name and which pass of it kills (1 = the first).
struct Target {
  std::string name;
  uint64_t pass = 1;
};

Target Parse(const char* env) {
  Target target;
  if (env == nullptr) {
    return target;
  }
  const std::string_view value(env);
  const size_t colon = value.rfind(':');
  if (colon == std::string_view::npos) {
    target.name = value;
    return target;
  }
  const std::string_view count = value.substr(colon + 1);
  uint64_t pass = 0;
  const auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), pass);
  if (ec != std::errc() || end != count.data() + count.size() || pass == 0) {
    return target;  // malformed: an empty name never matches
  }
  target.name = value.substr(0, colon);
  target.pass = pass;
  return target;
}

const Target& CrashAt() {
  // Read once: the test harness sets the variable before starting the process.
  static const Target target = Parse(std::getenv("CISTERN_CRASH_AT"));
  return target;
}

}  // namespace

void CrashPoint(std::string_view name) noexcept {
  const Target& target = CrashAt();
  if (target.name.empty() || target.name != name) {
    return;
  }
  static std::atomic<uint64_t> passes{0};
  if (passes.fetch_add(1, std::memory_order_relaxed) + 1 == target.pass) {
    ::kill(::getpid(), SIGKILL);
    std::abort();  // not reached: SIGKILL cannot be caught
  }
}

}  // namespace cistern::store

#endif
