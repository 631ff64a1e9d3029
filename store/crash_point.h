// Named crash points for crash-consistency tests (style §12, "Storage and crash safety").
//
// `CISTERN_CRASH_POINT("tree.before_rename")` compiles to nothing unless `CISTERN_CRASH_POINTS`
// is defined (the build option of the same name: on when tests are built, off in a build with
// CISTERN_BUILD_TESTS=OFF, which is what ships). When compiled in, the process kills itself with
// SIGKILL at that point if the environment variable `CISTERN_CRASH_AT` names it:
//   CISTERN_CRASH_AT=tree.before_rename      the first time the point is reached
//   CISTERN_CRASH_AT=tree.before_rename:3    the third time (N >= 1; counted per process)
// A value that is not a name, or `name:N` with N not a positive decimal, never matches. The
// variable is read once, on the first point reached, and cached for the life of the process: set
// it before starting the process under test.
// Names are "<module-or-file>.<moment>", e.g. "tree.after_rename"; the list lives in
// store/format.md ("Crash points").
// Thread safety: any thread may pass a crash point; with `:N` the N-th pass in time order kills.
#pragma once

#if defined(CISTERN_CRASH_POINTS)

#include <string_view>

namespace cistern::store {

// Kills the process with SIGKILL if `CISTERN_CRASH_AT` names `name` (and this is the N-th pass).
// Use the macro instead.
void CrashPoint(std::string_view name) noexcept;

}  // namespace cistern::store

#define CISTERN_CRASH_POINT(name) ::cistern::store::CrashPoint(name)

#else

#define CISTERN_CRASH_POINT(name) static_cast<void>(0)

#endif
