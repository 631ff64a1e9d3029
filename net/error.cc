#include "net/error.h"

#include <string>

#include <climits>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "net/asio.h"

namespace cistern::net {
namespace {

class NetCategoryImpl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "cistern.net"; }
  std::string message(int value) const override {
    switch (static_cast<Errc>(value)) {
      case Errc::kProtocol:
        return "HTTP protocol error";
      case Errc::kTlsHandshake:
        return "TLS handshake failed";
      case Errc::kTlsConfig:
        return "TLS configuration error";
      case Errc::kTimeout:
        return "timed out";
      case Errc::kTooManyRedirects:
        return "too many redirects";
      case Errc::kBodyTooLarge:
        return "response body too large";
      case Errc::kInvalidUrl:
        return "invalid URL";
      case Errc::kUnsupportedScheme:
        return "unsupported URL scheme";
      case Errc::kConnect:
        return "could not connect";
      case Errc::kResolve:
        return "could not resolve host";
      case Errc::kSinkAborted:
        return "body sink aborted the response";
      case Errc::kDecompress:
        return "could not decompress the response body";
      case Errc::kConnectionClosed:
        return "connection closed before the response was complete";
      case Errc::kStreamReset:
        return "HTTP/2 stream reset by the peer";
      case Errc::kRefusedStream:
        return "HTTP/2 stream refused by the peer before processing";
      case Errc::kProxyRefused:
        return "the proxy refused the tunnel";
      case Errc::kProxyAuthRequired:
        return "the proxy requires authentication";
    }
    return "unknown cistern.net error " + std::to_string(value);
  }
};

class OpenSslCategoryImpl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "openssl"; }
  std::string message(int value) const override {
    const char* reason = ERR_reason_error_string(static_cast<unsigned long>(value));
    return reason != nullptr ? reason : "OpenSSL error " + std::to_string(value);
  }
};

class X509CategoryImpl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "x509"; }
  std::string message(int value) const override {
    return std::string("certificate verify failed: ") + X509_verify_cert_error_string(value);
  }
};

}  // namespace

const std::error_category& NetCategory() noexcept {
  static const NetCategoryImpl category;
  return category;
}

std::error_code make_error_code(Errc e) noexcept { return {static_cast<int>(e), NetCategory()}; }

const std::error_category& OpenSslCategory() noexcept {
  static const OpenSslCategoryImpl category;
  return category;
}

const std::error_category& X509Category() noexcept {
  static const X509CategoryImpl category;
  return category;
}

std::string Error::message() const {
  if (detail.empty()) {
    return code.message();
  }
  return detail + ": " + code.message();
}

Error WithContext(Error error, std::string_view context) {
  std::string detail(context);
  if (!error.detail.empty()) {
    detail += ": ";
    detail += error.detail;
  }
  error.detail = std::move(detail);
  return error;
}

bool IsTransient(const Error& error) {
  const std::error_code& ec = error.code;
  if (ec.category() == NetCategory()) {
    switch (static_cast<Errc>(ec.value())) {
      case Errc::kTimeout:
      case Errc::kConnect:
      case Errc::kResolve:
      case Errc::kConnectionClosed:
      case Errc::kStreamReset:
      case Errc::kRefusedStream:
        return true;
      default:
        return false;
    }
  }
  if (ec.category() == X509Category() || ec.category() == OpenSslCategory()) {
    return false;
  }
  if (ec == asio::error::eof || ec == asio::error::connection_reset ||
      ec == asio::error::connection_aborted || ec == asio::error::connection_refused ||
      ec == asio::error::broken_pipe || ec == asio::error::timed_out ||
      ec == asio::error::network_unreachable || ec == asio::error::network_down ||
      ec == asio::error::network_reset || ec == asio::error::host_unreachable ||
      ec == asio::error::host_not_found_try_again) {
    return true;
  }
  return false;
}

bool IsCancelled(const Error& error) { return error.code == asio::error::operation_aborted; }

}  // namespace cistern::net
