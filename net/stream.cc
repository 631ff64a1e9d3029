#include "net/stream.h"

#include <optional>
#include <utility>

#include <asio/ssl/error.hpp>
#include <asio/ssl/stream.hpp>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "net/tls.h"

namespace cistern::net {

struct Stream::Impl {
  explicit Impl(asio::ip::tcp::socket s) : tcp(std::move(s)) {}

  asio::ip::tcp::socket& socket() { return tls ? tls->next_layer() : tcp; }

  asio::ip::tcp::socket tcp;  // moved into `tls` by StartTls
  std::optional<asio::ssl::stream<asio::ip::tcp::socket>> tls;
};

Stream::Stream() = default;
Stream::Stream(Stream&&) noexcept = default;
Stream& Stream::operator=(Stream&&) noexcept = default;
Stream::~Stream() = default;

Task<Result<Stream>> Stream::ConnectTcp(std::vector<asio::ip::tcp::endpoint> endpoints) {
  asio::ip::tcp::socket socket(co_await asio::this_coro::executor);
  auto [ec, endpoint] = co_await asio::async_connect(socket, endpoints, use_task);
  if (ec == asio::error::operation_aborted) {
    co_return Fail(ec, "connect");
  }
  if (ec) {
    co_return Fail(Errc::kConnect, ec.message());
  }
  std::error_code option_ec;
  // Requests are written whole; Nagle would only delay them.
  socket.set_option(asio::ip::tcp::no_delay(true), option_ec);
  Stream stream;
  stream.impl_ = std::make_unique<Impl>(std::move(socket));
  co_return stream;
}

Task<Result<void>> Stream::StartTls(TlsContext& tls, std::string host) {
  impl_->tls.emplace(std::move(impl_->tcp), tls.native());
  SSL* ssl = impl_->tls->native_handle();
  std::error_code address_ec;
  asio::ip::make_address(host, address_ec);
  bool is_ip_literal = !address_ec;
  if (is_ip_literal) {
    // RFC 6066 §3: no SNI for IP literals; verify the address against the certificate's SANs.
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) != 1) {
      co_return Fail(Errc::kTlsConfig, "set the IP address to verify: " + host);
    }
  } else {
    // SSL_set_tlsext_host_name() spelled out: the macro casts in C style.
    long sni = SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                        const_cast<char*>(host.c_str()));
    if (sni != 1 || SSL_set1_host(ssl, host.c_str()) != 1) {
      co_return Fail(Errc::kTlsConfig, "set the host name to verify: " + host);
    }
  }
  impl_->tls->set_verify_mode(asio::ssl::verify_peer);
  auto [ec] = co_await impl_->tls->async_handshake(asio::ssl::stream_base::client, use_task);
  if (!ec) {
    co_return Result<void>{};
  }
  if (ec.category() == asio::error::get_ssl_category()) {
    long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
      co_return Fail(std::error_code(static_cast<int>(verify), X509Category()),
                     "TLS handshake with " + host);
    }
    co_return Fail(std::error_code(ec.value(), OpenSslCategory()), "TLS handshake with " + host);
  }
  co_return Fail(ec, "TLS handshake with " + host);
}

Task<IoResult> Stream::ReadSome(std::span<uint8_t> buffer) {
  auto target = asio::buffer(buffer.data(), buffer.size());
  if (impl_->tls) {
    auto [ec, n] = co_await impl_->tls->async_read_some(target, use_task);
    if (ec == asio::ssl::error::stream_truncated) {
      ec = asio::error::eof;
    }
    co_return IoResult{ec, n};
  }
  auto [ec, n] = co_await impl_->tcp.async_read_some(target, use_task);
  co_return IoResult{ec, n};
}

Task<IoResult> Stream::Write(std::span<const uint8_t> bytes) {
  auto source = asio::buffer(bytes.data(), bytes.size());
  if (impl_->tls) {
    auto [ec, n] = co_await asio::async_write(*impl_->tls, source, use_task);
    co_return IoResult{ec, n};
  }
  auto [ec, n] = co_await asio::async_write(impl_->tcp, source, use_task);
  co_return IoResult{ec, n};
}

void Stream::Close() {
  if (!impl_) {
    return;
  }
  std::error_code ec;
  impl_->socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  impl_->socket().close(ec);
}

bool Stream::is_open() const { return impl_ && impl_->socket().is_open(); }

bool Stream::is_tls() const { return impl_ && impl_->tls.has_value(); }

std::string Stream::alpn_protocol() const {
  if (!is_tls()) {
    return {};
  }
  const unsigned char* data = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(impl_->tls->native_handle(), &data, &length);
  return data == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(data), length);
}

}  // namespace cistern::net
