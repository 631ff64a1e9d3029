// Dialer: opens a Stream to an origin (resolve, connect, proxy CONNECT, TLS handshake), each
// step with its own deadline. DirectDialer connects to the origin itself; ProxyDialer tunnels
// through an HTTP proxy where its ProxyRules say so (net/proxy.h).
#pragma once

#include <chrono>
#include <string>

#include "net/asio.h"
#include "net/error.h"
#include "net/proxy.h"
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

// Dials through an HTTP proxy for the origins `rules` send there, and directly for the others.
// Through a proxy: resolve and connect to the proxy (resolve_timeout, connect_timeout), send
// "CONNECT host:port" (with Proxy-Authorization when the proxy URL has credentials) and read the
// answer within connect_timeout, then, for https, the TLS handshake with the origin inside the
// tunnel (tls_handshake_timeout): certificate and host verification and ALPN as when direct.
// The origin's name is resolved by the proxy, not here.
// Errors, in addition to DirectDialer's, each detail naming the proxy without credentials:
// kConnect, kResolve or kTimeout for the proxy itself ("connect to proxy http://host:port");
// Errc::kProxyAuthRequired for a 407 (or 401, which some proxies send for wrong credentials),
// kProxyRefused for another 4xx (or 1xx, 3xx), kConnect
// for a 5xx (the proxy could not reach the origin: transient), kProtocol for a malformed answer
// or bytes after a 2xx answer.
// Lifetime: `tls` must outlive the dialer and every stream it made.
class ProxyDialer final : public Dialer {
 public:
  ProxyDialer(TlsContext& tls, DirectDialerOptions options, ProxyRules rules,
              std::string user_agent)
      : tls_(tls),
        options_(options),
        rules_(std::move(rules)),
        user_agent_(std::move(user_agent)) {}

  Task<Result<Stream>> Dial(Url origin) override;

 private:
  TlsContext& tls_;
  DirectDialerOptions options_;
  ProxyRules rules_;
  std::string user_agent_;  // sent with CONNECT
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
