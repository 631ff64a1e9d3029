#pragma once

// cistern's exit statuses: the contract cron wrappers act on (architecture.md, "Exit statuses").
// `--help` prints the same table; change both together, with the docs and the tests.

namespace cistern::cli {

enum ExitCode : int {
  kExitOk = 0,           // done; the mirror is complete for the upstream serial it reports
  kExitDeferred = 1,     // done, some projects deferred; consistent; the next run retries them
  kExitUsage = 2,        // usage or configuration error; nothing was changed
  kExitLocked = 3,       // another cistern process holds the mirror's lock; nothing was changed
  kExitUpstream = 4,     // upstream unreachable or garbage for the index; nothing was changed
  kExitLocalIo = 5,      // local I/O failure (disk full, permissions); committed state stays valid
  kExitVerify = 6,       // verification failed: verify found damage, or import rejected a bundle
  kExitInternal = 70,    // internal error (a bug); please report it
  kExitInterrupted = 130,  // interrupted by SIGINT/SIGTERM; committed state stays valid
};

inline constexpr const char* kExitStatusHelp =
    "Exit status:\n"
    "  0    done; the mirror is complete for the upstream serial it reports\n"
    "  1    done, but some projects were deferred (stale page, failed files); the mirror is\n"
    "       consistent and the next run retries them\n"
    "  2    usage or configuration error; nothing was changed\n"
    "  3    another cistern process holds the mirror's lock; nothing was changed\n"
    "  4    the upstream could not be reached or answered garbage for the index; nothing changed\n"
    "  5    local I/O failure (disk full, permissions); what was committed stays valid\n"
    "  6    verification failed\n"
    "  70   internal error (a bug); please report it\n"
    "  130  interrupted by SIGINT/SIGTERM; what was committed stays valid\n";

}  // namespace cistern::cli
