#include "net/tls.h"

#include <string>

#include <asio/ssl/context.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

namespace cistern::net {
namespace {

constexpr const char* kSystemCertDir = "/etc/ssl/certs";
// ALPN wire format (RFC 7301 §3.1): length-prefixed protocol names, most preferred first.
constexpr unsigned char kAlpnH2AndHttp11[] = {2,   'h', '2', 8,   'h', 't', 't',
                                              'p', '/', '1', '.', '1'};
constexpr unsigned char kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

std::string OpenSslReason() {
  unsigned long err = ERR_get_error();
  std::string reason = err != 0 && ERR_reason_error_string(err) != nullptr
                           ? ERR_reason_error_string(err)
                           : "unknown OpenSSL error";
  ERR_clear_error();
  return reason;
}

}  // namespace

struct TlsContext::Impl {
  asio::ssl::context context{asio::ssl::context::tls_client};
};

TlsContext::TlsContext(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TlsContext::~TlsContext() = default;

asio::ssl::context& TlsContext::native() { return impl_->context; }

Result<std::unique_ptr<TlsContext>> TlsContext::Create(const TlsOptions& options) {
  auto impl = std::make_unique<Impl>();
  SSL_CTX* ctx = impl->context.native_handle();
  ERR_clear_error();
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    return Fail(Errc::kTlsConfig, "set minimum TLS version: " + OpenSslReason());
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
    return Fail(Errc::kTlsConfig, "load the system trust store: " + OpenSslReason());
  }
  // Debian's OPENSSLDIR/certs already points here; loading it explicitly keeps the trust store
  // the same when OpenSSL was built with another OPENSSLDIR. A missing directory is not fatal.
  if (SSL_CTX_load_verify_dir(ctx, kSystemCertDir) != 1) {
    ERR_clear_error();
  }
  for (const std::string& file : options.ca_files) {
    if (SSL_CTX_load_verify_file(ctx, file.c_str()) != 1) {
      return Fail(Errc::kTlsConfig, "load CA file " + file + ": " + OpenSslReason());
    }
  }
  // SSL_CTX_set_alpn_protos returns 0 on success (the opposite of most of OpenSSL).
  int alpn = options.offer_h2
                 ? SSL_CTX_set_alpn_protos(ctx, kAlpnH2AndHttp11, sizeof(kAlpnH2AndHttp11))
                 : SSL_CTX_set_alpn_protos(ctx, kAlpnHttp11, sizeof(kAlpnHttp11));
  if (alpn != 0) {
    return Fail(Errc::kTlsConfig, "set ALPN protocols: " + OpenSslReason());
  }
  return std::unique_ptr<TlsContext>(new TlsContext(std::move(impl)));
}

}  // namespace cistern::net
