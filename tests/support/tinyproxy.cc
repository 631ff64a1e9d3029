#include "tests/support/tinyproxy.h"

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <netinet/in.h>
#include <signal.h>
#include <sstream>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <gtest/gtest.h>

namespace cistern::testing {
namespace {

using Clock = std::chrono::steady_clock;

// A port on 127.0.0.1 nobody listens on right now (the kernel's pick for port 0).
uint16_t FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return 0;
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  ::close(fd);
  return port;
}

bool Accepts(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  bool connected = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return connected;
}

// Waits up to `limit` for `pid` to exit; true if it did (and was reaped).
bool WaitForExit(pid_t pid, std::chrono::milliseconds limit) {
  auto deadline = Clock::now() + limit;
  for (int i = 0; i < 1000 && Clock::now() < deadline; ++i) {
    int status = 0;
    pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid || (done < 0 && errno == ECHILD)) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace

bool TinyProxy::Installed() {
  CommandResult which = RunCommand(
      {"sh", "-c",
       "command -v tinyproxy || test -x /usr/bin/tinyproxy || test -x /usr/sbin/tinyproxy"},
      {}, std::chrono::seconds(10));
  return which.exit_code == 0;
}

std::unique_ptr<TinyProxy> TinyProxy::Start(const TinyProxyOptions& options) {
  std::unique_ptr<TinyProxy> proxy(new TinyProxy());
  proxy->temp_dir_ = std::make_unique<TempDir>();
  const std::string dir = proxy->temp_dir_->path().string();
  proxy->log_path_ = dir + "/tinyproxy.log";
  const std::string config_path = dir + "/tinyproxy.conf";
  const std::string output_path = dir + "/tinyproxy.out";

  for (int attempt = 0; attempt < 5; ++attempt) {
    uint16_t port = FreePort();
    if (port == 0) {
      continue;
    }
    {
      std::ofstream config(config_path, std::ios::trunc);
      config << "Port " << port << "\n"
             << "Listen 127.0.0.1\n"
             << "Timeout 60\n"
             << "LogFile \"" << proxy->log_path_ << "\"\n"
             << "LogLevel Connect\n"
             << "MaxClients 50\n"
             << "Allow 127.0.0.1\n"
             << "DisableViaHeader Yes\n";
      for (uint16_t allowed : options.connect_ports) {
        config << "ConnectPort " << allowed << "\n";
      }
      if (!options.basic_auth.empty()) {
        config << "BasicAuth " << options.basic_auth << "\n";
      }
    }
    // Everything exec needs is built before fork.
    std::vector<std::string> args = {"tinyproxy", "-d", "-c", config_path};
    std::vector<char*> c_args;
    for (std::string& arg : args) {
      c_args.push_back(arg.data());
    }
    c_args.push_back(nullptr);
    int out = ::open(output_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int null_in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t pid = ::fork();
    if (pid == 0) {
      // Dies with the test process, even one that aborts before its TearDown.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::dup2(null_in, STDIN_FILENO);
      ::dup2(out, STDOUT_FILENO);
      ::dup2(out, STDERR_FILENO);
      ::execvp("tinyproxy", c_args.data());
      ::execv("/usr/bin/tinyproxy", c_args.data());
      ::execv("/usr/sbin/tinyproxy", c_args.data());
      ::_exit(127);
    }
    ::close(out);
    ::close(null_in);
    if (pid < 0) {
      ADD_FAILURE() << "fork: " << std::strerror(errno);
      return nullptr;
    }
    proxy->pid_ = pid;
    proxy->port_ = port;
    auto deadline = Clock::now() + std::chrono::seconds(10);
    bool exited = false;
    for (int i = 0; i < 1000 && Clock::now() < deadline; ++i) {
      if (Accepts(port)) {
        return proxy;
      }
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        exited = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!exited) {
      break;  // running but not listening: report it below (the destructor stops it)
    }
    proxy->pid_ = -1;  // reaped; perhaps the port was taken meanwhile: try another
  }
  ADD_FAILURE() << "tinyproxy did not start listening; its output:\n"
                << ReadFile(output_path) << "\nits log:\n"
                << ReadFile(proxy->log_path_);
  return nullptr;
}

TinyProxy::~TinyProxy() {
  if (pid_ <= 0) {
    return;
  }
  ::kill(pid_, SIGTERM);
  if (!WaitForExit(pid_, std::chrono::seconds(5))) {
    ::kill(pid_, SIGKILL);
    WaitForExit(pid_, std::chrono::seconds(5));
  }
}

std::string TinyProxy::Log() const { return ReadFile(log_path_); }

std::vector<std::string> TinyProxy::ConnectTargets() const {
  // "CONNECT   Nov 24 18:05:42.725 [7491]: Request (file descriptor 5): CONNECT 127.0.0.1:1234
  // HTTP/1.1"
  std::vector<std::string> targets;
  std::istringstream log(Log());
  constexpr std::string_view kMarker = "): CONNECT ";
  for (std::string line; std::getline(log, line);) {
    size_t at = line.find(kMarker);
    if (at == std::string::npos) {
      continue;
    }
    std::string rest = line.substr(at + kMarker.size());
    targets.push_back(rest.substr(0, rest.find(' ')));
  }
  return targets;
}

}  // namespace cistern::testing
