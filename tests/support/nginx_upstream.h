// Test fixtures for integration tests: a real nginx serving a generated fake PyPI
// (`NginxUpstream`), temporary directories kept on failure (`TempDir`), and a bounded
// subprocess runner (`RunCommand`). See style.md §12 "Real servers".
//
// `NginxUpstream` drives tools/test_upstream/serve.py, which generates the tree with
// generate.py, makes a throw-away CA and starts nginx with an HTTPS + HTTP/2 listener and a
// plain HTTP/1.1 listener on free loopback ports. Nothing here throws; failures are reported
// through GoogleTest (`ADD_FAILURE`) and a null or empty result.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace cistern::testing {

// Root of the source tree: $CISTERN_SOURCE_DIR (ctest sets it), else the directory the
// test binary was configured from.
std::string SourceDir();

// Root of the build tree: $CISTERN_BINARY_DIR, else the build directory configured.
std::string BinaryDir();

// The built `cistern` executable.
std::string CisternBinary();

// A fresh directory under $TMPDIR (default /tmp). The destructor removes it if the current
// test (or, outside a test, the run) has not failed; otherwise it keeps it and prints its
// path, so logs and trees can be inspected.
class TempDir {
 public:
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  TempDir();
  // A fresh directory under `base` instead of $TMPDIR (e.g. /dev/shm for many small files).
  explicit TempDir(const std::filesystem::path& base);
  ~TempDir();

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// The bytes of the file at `path`; empty when it cannot be read.
std::string ReadFile(const std::filesystem::path& path);

struct CommandResult {
  int exit_code = -1;  // exit status; 128 + signal if killed; -1 if it could not run
  std::string out;     // everything written to stdout
  std::string err;     // everything written to stderr (plus a note on timeout or exec failure)
};

// Runs `argv` (argv[0] looked up in PATH) with the current environment plus `extra_env`
// (which overrides), stdin from /dev/null, and captures stdout and stderr.
// The child runs in its own process group; after `timeout` the group is killed with SIGKILL
// and the result notes "timed out". Never throws.
// Requires: `argv` is not empty.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& extra_env = {},
                         std::chrono::seconds timeout = std::chrono::seconds(300));

// How to start an `NginxUpstream`.
struct NginxUpstreamOptions {
  // Generator profile: "small" (CI, ~30 projects, ~10 MiB), "default" or "large".
  std::string profile = "small";
  // Generator seed; the same seed always gives byte-identical trees.
  int seed = 1;
  // Add the fault-* projects a mirror must reject or defer (see manifest["faults"]).
  bool faults = false;
  // Number of regular projects; 0 = the profile's default.
  int projects = 0;
  // Serve this existing generate.py output (its --out dir or the tree/ in it) instead of
  // generating one. Its file URLs are whatever it was generated with.
  std::string tree;
  // nginx directives included in both server blocks before the standard locations, e.g.
  // `location = /simple/x/ { return 503; }` or `limit_rate 64k;`.
  std::string extra_conf;
  // Serve this cistern mirror web root with the shipped site (config/nginx/) instead of a
  // fake PyPI.
  std::string mirror_web;
};

// A running nginx. Its file URLs are absolute `https_url()/packages/...` when the tree was
// generated here. Stopped (by its PID) in the destructor.
// Thread safety: const methods may be called from any thread.
class NginxUpstream {
 public:
  NginxUpstream(const NginxUpstream&) = delete;
  NginxUpstream& operator=(const NginxUpstream&) = delete;

  // Generates (or takes) a tree and starts nginx in a fresh temporary work directory.
  // Errors: on failure calls ADD_FAILURE() with serve.py's stderr (naming the Debian
  // package nginx-light if nginx is missing) and returns nullptr.
  static std::unique_ptr<NginxUpstream> Start(const NginxUpstreamOptions& options = {});

  ~NginxUpstream();

  // "https://127.0.0.1:<port>" (HTTP/2 via ALPN, certificate for 127.0.0.1 and localhost).
  const std::string& https_url() const { return https_url_; }
  // "http://127.0.0.1:<port>" (HTTP/1.1).
  const std::string& http_url() const { return http_url_; }
  // PEM file of the test CA that signed the server certificate.
  const std::string& ca_file() const { return ca_file_; }
  // The directory nginx serves (simple/, packages/, pypi/).
  const std::string& tree_dir() const { return tree_dir_; }
  // generate.py's manifest.json; empty if the served tree has none (mirror mode).
  const std::string& manifest_path() const { return manifest_path_; }
  // nginx access log, one line per request (format in tools/test_upstream/README.md).
  const std::string& access_log() const { return access_log_; }
  const std::string& workdir() const { return workdir_; }

  // After a test changed files under tree_dir(): refreshes the X-PyPI-Last-Serial values and
  // the display-name redirects from the tree's root index, and reloads nginx. Returns once the
  // root is served with the new serial.
  ::testing::AssertionResult Reload() const;

  // The access log's lines so far. nginx writes each line just after the response, so this first
  // waits until the log has not grown for 200 ms (at most 5 s): a line is never missed because
  // the client got its answer a moment before nginx logged it.
  std::vector<std::string> AccessLogLines() const;

 private:
  NginxUpstream() = default;

  std::unique_ptr<TempDir> temp_dir_;
  std::string workdir_;
  std::string https_url_;
  std::string http_url_;
  std::string ca_file_;
  std::string tree_dir_;
  std::string manifest_path_;
  std::string access_log_;
};

}  // namespace cistern::testing
