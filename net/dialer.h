// Dialer: opens a Stream to an origin (resolve, connect, TLS handshake), each step with its own
// deadline. An interface because proxies (CONNECT) will be another implementation.
#pragma once

#include <chrono>

#include "net/asio.h"
#include "net/error.h"
#include "net/stream.h"
#include "net/url.h"

namespace cistern::net {

class TlsContext;

class Dialer {
 public:
  virtual ~Dialer() = default;

  // Opens a stream to `origin`'s host and port; for https, TLS is established and verified.
  // Errors: Errc::kResolve, kConnect, kTimeout; TLS errors as Stream::StartTls; system codes.
  // Cancellation: supported; returns operation_aborted.
  // Executor: the stream belongs to the caller's executor.
  virtual Task<Result<Stream>> Dial(Url origin) = 0;
};

struct DirectDialerOptions {
  // Limit for resolving the host name. Default 10 s.
  std::chrono::milliseconds resolve_timeout{10'000};
  // Limit for the TCP connect, over all resolved addresses. Default 10 s.
  std::chrono::milliseconds connect_timeout{10'000};
  // Limit for the TLS handshake. Default 10 s.
  std::chrono::milliseconds tls_handshake_timeout{10'000};
};

// Dials directly, without a proxy.
// Lifetime: `tls` must outlive the dialer and every stream it made.
class DirectDialer final : public Dialer {
 public:
  DirectDialer(TlsContext& tls, DirectDialerOptions options) : tls_(tls), options_(options) {}

  Task<Result<Stream>> Dial(Url origin) override;

 private:
  TlsContext& tls_;
  DirectDialerOptions options_;
};

}  // namespace cistern::net
