// TlsContext: the client TLS configuration every HTTPS connection uses. The system trust store
// (and /etc/ssl/certs) is always on; extra PEM CA files are added to it, never replace it.
// TLS 1.2 or newer; ALPN offers "h2" then "http/1.1" (or only "http/1.1"), and the server picks
// (Stream::alpn_protocol()). Peer verification, including the host name or IP address, is always
// on: there is no way to turn it off.
//
// Thread safety: immutable after Create(); may be shared by connections on any thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "net/error.h"

namespace asio::ssl {
class context;
}  // namespace asio::ssl

namespace cistern::net {

struct TlsOptions {
  // PEM files of extra trust anchors, added to the system store. Default: none.
  std::vector<std::string> ca_files;
  // Offer "h2" before "http/1.1" in ALPN (RFC 7301). Default true; false keeps every HTTPS
  // connection on HTTP/1.1.
  bool offer_h2 = true;
};

class TlsContext {
 public:
  // Errors: Errc::kTlsConfig when the context cannot be built or a CA file cannot be loaded
  // (the detail names the file and OpenSSL's reason).
  [[nodiscard]] static Result<std::unique_ptr<TlsContext>> Create(const TlsOptions& options);

  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;
  ~TlsContext();

  // The Asio context for streams (used by net/stream.cc only).
  asio::ssl::context& native();

 private:
  struct Impl;
  explicit TlsContext(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cistern::net
