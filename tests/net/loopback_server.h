// LoopbackServer: a scripted HTTP/1.1 server on 127.0.0.1 for the client behaviours nginx cannot
// produce (a server that never answers, closes mid-body, or closes a keep-alive connection).
// It reads request heads by looking for the blank line and answers with canned bytes; it does
// not use cistern's codec, so a shared bug cannot cancel out.
//
// Executor: the io_context given to the constructor; runs only while the test runs it.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "net/asio.h"

namespace cistern::net::testing {

struct Reply {
  enum class After { kKeepOpen, kClose, kHang };
  std::string bytes;
  After after = After::kKeepOpen;
  std::chrono::milliseconds delay{0};  // waited before writing `bytes`
};

// Decides the reply to the `request`-th request head (from 0) on the `connection`-th
// connection (from 0).
using Script = std::function<Reply(const std::string& head, int connection, int request)>;

class LoopbackServer {
 public:
  LoopbackServer(asio::io_context& io, Script script);
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;
  ~LoopbackServer();

  std::string url(std::string_view path) const;  // "http://127.0.0.1:<port><path>"
  int connections() const { return connections_; }
  int max_concurrent_connections() const { return max_concurrent_; }
  const std::vector<std::string>& request_heads() const { return heads_; }

 private:
  static Task<void> Accept(LoopbackServer* server);
  static Task<void> Serve(LoopbackServer* server, asio::ip::tcp::socket socket, int connection);

  asio::io_context& io_;
  Script script_;
  asio::ip::tcp::acceptor acceptor_;
  int connections_ = 0;
  int open_ = 0;
  int max_concurrent_ = 0;
  std::vector<std::string> heads_;
};

// A complete response with Content-Length.
std::string Response(int status, std::string_view body, std::string_view extra_headers = "");

}  // namespace cistern::net::testing
