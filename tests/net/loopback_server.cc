#include "tests/net/loopback_server.h"

#include <algorithm>
#include <chrono>

namespace cistern::net::testing {

LoopbackServer::LoopbackServer(asio::io_context& io, Script script)
    : io_(io),
      script_(std::move(script)),
      acceptor_(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
  Spawn(io_.get_executor(), Accept(this), [](std::exception_ptr) {});
}

LoopbackServer::~LoopbackServer() {
  std::error_code ec;
  acceptor_.close(ec);
}

std::string LoopbackServer::url(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) +
         std::string(path);
}

Task<void> LoopbackServer::Accept(LoopbackServer* server) {
  for (;;) {
    auto [ec, socket] = co_await server->acceptor_.async_accept(use_task);
    if (ec) {
      co_return;
    }
    int connection = server->connections_++;
    Spawn(server->io_.get_executor(), Serve(server, std::move(socket), connection),
          [](std::exception_ptr) {});
  }
}

Task<void> LoopbackServer::Serve(LoopbackServer* server, asio::ip::tcp::socket socket,
                                 int connection) {
  ++server->open_;
  server->max_concurrent_ = std::max(server->max_concurrent_, server->open_);
  std::string buffer;
  for (int request = 0;; ++request) {
    size_t end = std::string::npos;
    while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
      char chunk[4096];
      auto [ec, n] = co_await socket.async_read_some(asio::buffer(chunk), use_task);
      if (ec) {
        --server->open_;
        co_return;
      }
      buffer.append(chunk, n);
    }
    std::string head = buffer.substr(0, end + 4);
    buffer.erase(0, end + 4);
    server->heads_.push_back(head);
    Reply reply = server->script_(head, connection, request);
    if (reply.delay.count() > 0) {
      co_await SleepFor(reply.delay);
    }
    auto [ec, n] = co_await asio::async_write(socket, asio::buffer(reply.bytes), use_task);
    if (ec || reply.after == Reply::After::kClose) {
      std::error_code ignored;
      socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
      --server->open_;
      co_return;
    }
    if (reply.after == Reply::After::kHang) {
      asio::steady_timer forever(co_await asio::this_coro::executor, std::chrono::hours(1));
      std::ignore = co_await forever.async_wait(use_task);
      --server->open_;
      co_return;
    }
  }
}

std::string Response(int status, std::string_view body, std::string_view extra_headers) {
  return "HTTP/1.1 " + std::to_string(status) +
         " X\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         std::string(extra_headers) + "\r\n" + std::string(body);
}

}  // namespace cistern::net::testing
