// TinyProxy: a real HTTP proxy (Debian's tinyproxy) on 127.0.0.1 for the proxy tests. Each
// instance writes its own config into a TempDir (Listen and Allow 127.0.0.1, a free port, the
// ConnectPort and BasicAuth lines asked for, a log at LogLevel Connect), runs `tinyproxy -d` as
// a child, and stops it by its PID in the destructor.
//
// Tests skip when tinyproxy is not installed (Installed(); tools/install_deps.sh installs it).
// Nothing here throws; failures are reported through GoogleTest and a null result.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <sys/types.h>
#include <vector>

#include "tests/support/nginx_upstream.h"

namespace cistern::testing {

struct TinyProxyOptions {
  // Ports CONNECT may reach (one ConnectPort line each). Empty: tinyproxy allows every port.
  std::vector<uint16_t> connect_ports;
  // "user password" for a BasicAuth line: CONNECT without these credentials gets 407.
  std::string basic_auth;
};

class TinyProxy {
 public:
  TinyProxy(const TinyProxy&) = delete;
  TinyProxy& operator=(const TinyProxy&) = delete;

  // Whether the tinyproxy executable is on PATH (or in /usr/bin, /usr/sbin).
  static bool Installed();

  // Starts tinyproxy and returns once it accepts connections (a few tries on other free ports
  // if one was taken meanwhile). Errors: ADD_FAILURE() with its log, and nullptr.
  static std::unique_ptr<TinyProxy> Start(const TinyProxyOptions& options = {});

  // Sends SIGTERM to the PID, waits (bounded), then SIGKILL if it is still there.
  ~TinyProxy();

  uint16_t port() const { return port_; }
  // "http://127.0.0.1:<port>".
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // The log so far.
  std::string Log() const;
  // The targets of the CONNECT requests logged so far, in order ("127.0.0.1:8443").
  std::vector<std::string> ConnectTargets() const;

 private:
  TinyProxy() = default;

  std::unique_ptr<TempDir> temp_dir_;
  std::string log_path_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

}  // namespace cistern::testing
