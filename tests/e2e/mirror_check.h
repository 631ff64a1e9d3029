// What the e2e tests that interrupt the real `cistern sync` (signals, crash points, random kills,
// disk full) share: the upstream generations they sync, a child process they can kill, and the
// checks they make on the tree left behind.
//
// The checks read only the tree (and `cistern log` / `cistern status`), as a web server, pip or
// an administrator would; they know nothing of the engine's internals.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <sys/types.h>
#include <vector>

#include "tests/support/nginx_upstream.h"

namespace cistern::testing {

// A fresh temporary directory under $CISTERN_SCRATCH_DIR when set (e.g. a disk filesystem, to run
// the kill loop over O_DIRECT writes), else on /dev/shm (a tmpfs) when writable, else $TMPDIR.
// For tests that create and delete thousands of files: on a busy disk that costs more than the
// syncs under test, and a process kill cannot tell the two apart.
std::unique_ptr<TempDir> ScratchDir();

// Every regular file under `root`: relative path -> SHA-256 (hex) of its bytes. Empty when
// `root` does not exist. Symlinks and other non-regular files are listed as "<not a file>".
std::map<std::string, std::string> HashTree(const std::filesystem::path& root);

// The paths that differ between two HashTree results (missing, extra, different bytes), at most
// 20 of them, for a failure message; empty when equal.
std::string DescribeTreeDifferences(const std::map<std::string, std::string>& expected,
                                    const std::map<std::string, std::string>& actual);

// Every link a reader of `web` could follow, checked against the disk:
// - each project page (simple/<name>/index.v1_json, index.html, index.v1_html that exists):
//   every file URL resolves to a file under web/, and so does `<url>.metadata` where the page
//   advertises core metadata (PEP 658/714);
// - the root (simple/index.v1_json, index.html, index.v1_html that exists): every project it
//   lists has all three pages.
// A page that cannot be parsed is a problem too. `projects` counts the project directories that
// hold an index.v1_json.
struct LinkCheck {
  size_t projects = 0;
  size_t links = 0;                   // file links checked
  std::vector<std::string> problems;  // "<page>: <what>"
};
LinkCheck CheckLinks(const std::filesystem::path& web);

// Names in `incoming` starting with ".tmp-" (store's temporary files).
std::vector<std::string> TempFiles(const std::filesystem::path& incoming);

// The tree `cistern log --json` describes, replayed in order: path -> SHA-256 (hex) of every path
// whose last entry is added or replaced. nullopt (and a test failure) if the command fails.
std::optional<std::map<std::string, std::string>> JournalTree(const std::filesystem::path& mirror);

// `cistern status --json`: the keys a comparison between two mirrors needs.
struct MirrorStatus {
  uint64_t generation = 0;
  int64_t serial = -1;  // -1: null (no complete run yet)
  uint64_t projects = 0;
  uint64_t files = 0;
  uint64_t bytes = 0;
  bool operator==(const MirrorStatus&) const = default;
};
void PrintTo(const MirrorStatus& status, std::ostream* os);
std::optional<MirrorStatus> Status(const std::filesystem::path& mirror);

// Copies the mirror directory `from` (not in use) to `to`, which must not exist. Files under web/
// are hard links to the originals when both are on one file system (cistern replaces them by
// rename and never writes in place); the rest is copied.
::testing::AssertionResult CopyMirror(const std::filesystem::path& from,
                                      const std::filesystem::path& to);

// Two generations of the small test upstream (generate.py, seed 1; then --evolve-from, which
// adds and removes files, deletes and quarantines projects), each served by its own nginx.
// `extra_conf` goes into both servers (e.g. "limit_rate 1m;").
class Generations {
 public:
  // Generates generation 0 (and 1 when `evolve`) and starts the servers; nullptr and a test
  // failure when something fails.
  static std::unique_ptr<Generations> Start(bool evolve, const std::string& extra_conf = "");

  const NginxUpstream& gen0() const { return *gen0_; }
  const NginxUpstream& gen1() const { return *gen1_; }  // Requires: started with `evolve`.

 private:
  Generations() = default;

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<NginxUpstream> gen0_;
  std::unique_ptr<NginxUpstream> gen1_;
};

// `cistern --config <config> -q sync --mirror <mirror> --upstream <https> --ca-file <ca>`.
std::vector<std::string> SyncCommand(const std::filesystem::path& config,
                                     const std::filesystem::path& mirror,
                                     const NginxUpstream& upstream);

// Writes a cistern.toml at `path` with `[mirror] fsync = <fsync>`; returns `path`.
std::filesystem::path WriteConfig(const std::filesystem::path& path, bool fsync);

// A child process (argv[0] is a path) with stdout and stderr sent to files and `extra_env` added
// to the environment. Killed with SIGKILL and reaped in the destructor if still running.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::filesystem::path& out,
        const std::filesystem::path& err, const std::map<std::string, std::string>& extra_env = {});
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  bool running() const { return pid_ > 0; }
  void Signal(int number) const;

  // The exit status (128 + signal when killed by one), or -1 if the child is still running after
  // `limit` (it is left running).
  int Wait(std::chrono::milliseconds limit);

 private:
  pid_t pid_ = -1;
};

}  // namespace cistern::testing
