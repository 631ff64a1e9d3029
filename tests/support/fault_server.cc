// FaultServer: the listener, TLS and ALPN, connection faults, protocol choice and Stop().
// The answers are decided in fault_server_state.cc; the protocols live in
// fault_server_http1.cc and fault_server_h2.cc.
#include "tests/support/fault_server.h"

#include <condition_variable>
#include <linux/sockios.h>
#include <map>
#include <mutex>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <thread>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <openssl/ssl.h>

#include "tests/support/fault_server_internal.h"

namespace cistern::testing {

using fault_internal::Connection;
using fault_internal::ServerState;
using fault_internal::SleepFor;
using fault_internal::Spawn;
using fault_internal::Task;
using fault_internal::Transport;

namespace fault_internal {

void Spawn(const asio::any_io_executor& ex, Task<void> task, std::function<void()> on_done) {
  asio::co_spawn(ex, std::move(task), [on_done = std::move(on_done)](std::exception_ptr error) {
    if (error) {
      std::rethrow_exception(error);  // a bug in the server: fail loudly
    }
    if (on_done) {
      on_done();
    }
  });
}

Task<void> SleepFor(std::chrono::steady_clock::duration d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  std::error_code ignored;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
}

Transport::Transport(asio::ip::tcp::socket socket) : plain_(std::move(socket)) {}

Transport::Transport(asio::ip::tcp::socket socket, asio::ssl::context& tls)
    : tls_(std::in_place, std::move(socket), tls) {}

asio::ip::tcp::socket& Transport::tcp() { return tls_ ? tls_->next_layer() : *plain_; }

std::string Transport::alpn() {
  if (!tls_) {
    return {};
  }
  const unsigned char* data = nullptr;
  unsigned int size = 0;
  SSL_get0_alpn_selected(tls_->native_handle(), &data, &size);
  return std::string(reinterpret_cast<const char*>(data), size);
}

Task<std::error_code> Transport::Handshake() {
  if (!tls_) {
    co_return std::error_code();
  }
  std::error_code ec;
  co_await tls_->async_handshake(asio::ssl::stream_base::server,
                                 asio::redirect_error(asio::use_awaitable, ec));
  co_return ec;
}

Task<std::tuple<std::error_code, size_t>> Transport::ReadSome(asio::mutable_buffer buffer) {
  std::error_code ec;
  size_t n =
      tls_
          ? co_await tls_->async_read_some(buffer, asio::redirect_error(asio::use_awaitable, ec))
          : co_await plain_->async_read_some(buffer, asio::redirect_error(asio::use_awaitable, ec));
  co_return std::tuple(ec, n);
}

Task<std::error_code> Transport::Write(asio::const_buffer buffer) {
  std::error_code ec;
  if (tls_) {
    co_await asio::async_write(*tls_, buffer, asio::redirect_error(asio::use_awaitable, ec));
  } else {
    co_await asio::async_write(*plain_, buffer, asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return ec;
}

Task<void> Transport::Reset() {
  asio::ip::tcp::socket& socket = tcp();
  if (!socket.is_open()) {
    co_return;
  }
  // SO_LINGER 0 drops whatever the kernel still holds: wait until the peer has it all.
  for (int i = 0; i < 1000; ++i) {
    int queued = 0;
    if (::ioctl(socket.native_handle(), SIOCOUTQ, &queued) != 0 || queued == 0) {
      break;
    }
    co_await SleepFor(std::chrono::milliseconds(2));
    if (!socket.is_open()) {
      co_return;
    }
  }
  std::error_code ignored;
  socket.set_option(asio::socket_base::linger(true, 0), ignored);
  socket.close(ignored);
}

Task<void> Transport::CloseCleanly() {
  asio::ip::tcp::socket& socket = tcp();
  if (!socket.is_open()) {
    co_return;
  }
  if (tls_) {
    // close_notify; the peer's reply is not awaited for long.
    asio::steady_timer limit(co_await asio::this_coro::executor, std::chrono::milliseconds(500));
    limit.async_wait([&socket](std::error_code ec) {
      if (!ec) {
        std::error_code ignored;
        socket.cancel(ignored);
      }
    });
    std::error_code ec;
    co_await tls_->async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
    limit.cancel();
  }
  std::error_code ignored;
  socket.shutdown(asio::socket_base::shutdown_send, ignored);
  socket.close(ignored);
}

void Transport::Abort() {
  std::error_code ignored;
  tcp().close(ignored);
}

Task<bool> Pause(Connection& connection, std::chrono::milliseconds d) {
  if (connection.stopping) {
    co_return false;
  }
  if (d.count() > 0) {
    connection.timer.expires_after(d);
  } else {
    connection.timer.expires_at(asio::steady_timer::time_point::max());
  }
  std::error_code ec;  // operation_aborted when Stop() or the test cut the pause short
  co_await connection.timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  co_return !connection.stopping;
}

}  // namespace fault_internal

namespace {

constexpr std::string_view kH2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// ALPN wire lists: length-prefixed names, in the server's order of preference.
constexpr unsigned char kAlpnBoth[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
constexpr unsigned char kAlpnH2[] = {2, 'h', '2'};
constexpr unsigned char kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

int SelectAlpn(SSL*, const unsigned char** out, unsigned char* out_length, const unsigned char* in,
               unsigned int in_length, void* arg) {
  const auto alpn = *static_cast<const FaultServerOptions::Alpn*>(arg);
  const unsigned char* ours = kAlpnBoth;
  unsigned int ours_length = sizeof(kAlpnBoth);
  if (alpn == FaultServerOptions::Alpn::kH2Only) {
    ours = kAlpnH2;
    ours_length = sizeof(kAlpnH2);
  } else if (alpn == FaultServerOptions::Alpn::kHttp11Only) {
    ours = kAlpnHttp11;
    ours_length = sizeof(kAlpnHttp11);
  }
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_length, ours, ours_length, in, in_length) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;  // no_application_protocol
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

struct FaultServer::Impl {
  explicit Impl(const FaultServerOptions& options) : state(options) {}

  ServerState state;
  std::optional<asio::ssl::context> tls;
  std::string scheme = "http";
  uint16_t port = 0;
  // Server thread only.
  std::map<uint64_t, Connection*> live;
  bool stopping = false;
  // Guards `stopped` and `thread_done`.
  std::mutex stop_mutex;
  std::condition_variable thread_finished;
  bool stopped = false;
  bool thread_done = false;
  std::thread thread;
  // Destroyed first: frames left after a forced stop may still use the members above.
  asio::io_context io{1};
  asio::ip::tcp::acceptor acceptor{io};

  static Task<void> Accept(Impl* impl);
  static Task<void> Serve(Impl* impl, asio::ip::tcp::socket socket);
  void CloseEverything();
};

Task<void> FaultServer::Impl::Accept(Impl* impl) {
  for (;;) {
    std::error_code ec;
    asio::ip::tcp::socket socket =
        co_await impl->acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (impl->stopping || !impl->acceptor.is_open()) {
      co_return;
    }
    if (ec) {
      co_await SleepFor(std::chrono::milliseconds(10));  // EMFILE and friends
      continue;
    }
    Spawn(impl->io.get_executor(), Serve(impl, std::move(socket)));
  }
}

Task<void> FaultServer::Impl::Serve(Impl* impl, asio::ip::tcp::socket socket) {
  auto [id, fault] = impl->state.Accept();
  std::error_code ignored;
  socket.set_option(asio::ip::tcp::no_delay(true), ignored);
  auto transport = impl->tls ? std::make_unique<Transport>(std::move(socket), *impl->tls)
                             : std::make_unique<Transport>(std::move(socket));
  Connection connection(id, std::move(transport), impl->io.get_executor());
  if (impl->stopping) {
    co_return;
  }
  impl->live[id] = &connection;
  Transport& stream = *connection.transport;

  if (fault && fault->reset_on_accept) {
    co_await stream.Reset();
  } else if (fault && fault->stall_handshake) {
    co_await fault_internal::Pause(connection, fault->stall_for);
  } else {
    bool h2 = false;
    std::string initial;
    std::error_code ec = co_await stream.Handshake();
    if (!ec && stream.is_tls()) {
      std::string alpn = stream.alpn();
      h2 = alpn == "h2" ||
           (alpn.empty() && impl->state.options().alpn == FaultServerOptions::Alpn::kH2Only);
    } else if (!ec) {
      // Plain: HTTP/2 with prior knowledge starts with the preface.
      while (!ec && initial.size() < kH2Preface.size() && kH2Preface.starts_with(initial)) {
        char buffer[64];
        size_t want = kH2Preface.size() - initial.size();
        auto [read_ec, n] = co_await stream.ReadSome(asio::buffer(buffer, want));
        ec = read_ec;
        initial.append(buffer, n);
      }
      h2 = initial == kH2Preface;
    }
    if (!ec && !connection.stopping) {
      if (h2) {
        co_await fault_internal::ServeH2(impl->state, connection, std::move(initial));
      } else {
        co_await fault_internal::ServeHttp1(impl->state, connection, std::move(initial));
      }
    }
  }
  stream.Abort();
  impl->live.erase(id);
}

void FaultServer::Impl::CloseEverything() {
  stopping = true;
  std::error_code ignored;
  acceptor.close(ignored);
  for (auto& [id, connection] : live) {
    connection->stopping = true;
    connection->timer.cancel();
    if (connection->on_stop) {
      connection->on_stop();
    }
    connection->transport->Abort();
  }
}

tl::expected<std::unique_ptr<FaultServer>, std::string> FaultServer::Start(
    const FaultServerOptions& options) {
  auto impl = std::make_unique<Impl>(options);
  std::error_code ec;
  if (!options.tls_cert_file.empty() || !options.tls_key_file.empty()) {
    impl->tls.emplace(asio::ssl::context::tls_server);
    impl->tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                               asio::ssl::context::no_sslv3,
                           ec);
    impl->tls->use_certificate_chain_file(options.tls_cert_file.string(), ec);
    if (ec) {
      return tl::make_unexpected("certificate " + options.tls_cert_file.string() + ": " +
                                 ec.message());
    }
    impl->tls->use_private_key_file(options.tls_key_file.string(), asio::ssl::context::pem, ec);
    if (ec) {
      return tl::make_unexpected("key " + options.tls_key_file.string() + ": " + ec.message());
    }
    SSL_CTX_set_alpn_select_cb(impl->tls->native_handle(), SelectAlpn,
                               const_cast<FaultServerOptions::Alpn*>(&impl->state.options().alpn));
    impl->scheme = "https";
  }
  asio::ip::tcp::endpoint endpoint(asio::ip::make_address_v4("127.0.0.1"), options.port);
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) {
    impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  }
  if (!ec) {
    impl->acceptor.bind(endpoint, ec);
  }
  if (!ec) {
    impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    return tl::make_unexpected("listen on 127.0.0.1:" + std::to_string(options.port) + ": " +
                               ec.message());
  }
  impl->port = impl->acceptor.local_endpoint(ec).port();
  Spawn(impl->io.get_executor(), Impl::Accept(impl.get()));
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] {
    raw->io.run();
    std::lock_guard lock(raw->stop_mutex);
    raw->thread_done = true;
    raw->thread_finished.notify_all();
  });
  return std::unique_ptr<FaultServer>(new FaultServer(std::move(impl)));
}

FaultServer::FaultServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

FaultServer::~FaultServer() { Stop(); }

void FaultServer::Stop() {
  {
    std::lock_guard lock(impl_->stop_mutex);
    if (impl_->stopped) {
      return;
    }
    impl_->stopped = true;
  }
  Impl* impl = impl_.get();
  asio::post(impl->io, [impl] { impl->CloseEverything(); });
  std::unique_lock lock(impl->stop_mutex);
  if (!impl->thread_finished.wait_for(lock, std::chrono::seconds(10),
                                      [impl] { return impl->thread_done; })) {
    impl->io.stop();  // a loop did not end: abandon its frame with the io_context
  }
  lock.unlock();
  impl->thread.join();
}

uint16_t FaultServer::port() const { return impl_->port; }

std::string FaultServer::url(std::string_view path) const {
  return impl_->scheme + "://127.0.0.1:" + std::to_string(impl_->port) + std::string(path);
}

void FaultServer::SetResource(const std::string& path, Resource resource) {
  impl_->state.SetResource(path, std::move(resource));
}

void FaultServer::RemoveResource(const std::string& path) { impl_->state.RemoveResource(path); }

void FaultServer::AddFault(const std::string& path, Fault fault) {
  impl_->state.AddFault(path, std::move(fault));
}

void FaultServer::AddConnectionFault(ConnectionFault fault) {
  impl_->state.AddConnectionFault(fault);
}

void FaultServer::ClearFaults() { impl_->state.ClearFaults(); }

std::vector<RequestRecord> FaultServer::Requests() const { return impl_->state.Requests(); }

std::vector<RequestRecord> FaultServer::RequestsFor(std::string_view path) const {
  std::vector<RequestRecord> all = impl_->state.Requests();
  std::vector<RequestRecord> matching;
  for (RequestRecord& record : all) {
    if (record.path == path) {
      matching.push_back(std::move(record));
    }
  }
  return matching;
}

uint64_t FaultServer::connections_accepted() const { return impl_->state.connections_accepted(); }

uint64_t FaultServer::requests() const { return impl_->state.requests(); }

bool FaultServer::WaitForFinishedRequests(size_t count, std::chrono::milliseconds timeout) const {
  return impl_->state.WaitForFinished(count, timeout);
}

}  // namespace cistern::testing
