// Named crash points for crash-consistency tests (style §12, "Storage and crash safety").
//
// `CISTERN_CRASH_POINT("tree.before_rename")` compiles to nothing unless `CISTERN_CRASH_POINTS`
// is defined (the build option of the same name, on for test builds). When compiled in, the
// process kills itself with SIGKILL at that point if the environment variable `CISTERN_CRASH_AT`
// equals the point's name. The variable is read once, on the first point reached, and cached for
// the life of the process: set it before starting the process under test.
// Names are "<module-or-file>.<moment>", e.g. "tree.after_rename"; the list lives in format.md.
// Thread safety: any thread may pass a crash point.
#pragma once

#if defined(CISTERN_CRASH_POINTS)

#include <string_view>

namespace cistern::store {

// Kills the process with SIGKILL if `CISTERN_CRASH_AT` equals `name`. Use the macro instead.
void CrashPoint(std::string_view name) noexcept;

}  // namespace cistern::store

#define CISTERN_CRASH_POINT(name) ::cistern::store::CrashPoint(name)

#else

#define CISTERN_CRASH_POINT(name) static_cast<void>(0)

#endif
