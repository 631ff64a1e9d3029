#include "net/dialer.h"

#include <array>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "net/proxy_connect.h"
#include "net/tls.h"

namespace cistern::net {
namespace {

using Endpoints = std::vector<asio::ip::tcp::endpoint>;

// Shared between the resolve coroutine and the resolver's completion handler: Asio 1.22's
// resolver ignores per-operation cancellation and completes only when getaddrinfo returns, so
// the coroutine stops waiting at the deadline and the handler, which owns this state, finishes
// alone later.
struct ResolveState {
  explicit ResolveState(const Executor& ex) : resolver(ex), wake(ex) {}
  asio::ip::tcp::resolver resolver;
  asio::steady_timer wake;
  bool done = false;
  std::error_code ec;
  Endpoints endpoints;
};

Task<Result<Endpoints>> Resolve(std::string host, uint16_t port,
                                std::chrono::milliseconds timeout) {
  std::error_code address_ec;
  asio::ip::address address = asio::ip::make_address(host, address_ec);
  if (!address_ec) {
    co_return Endpoints{asio::ip::tcp::endpoint(address, port)};
  }
  auto state = std::make_shared<ResolveState>(co_await asio::this_coro::executor);
  state->resolver.async_resolve(
      host, std::to_string(port),
      [state](std::error_code ec, asio::ip::tcp::resolver::results_type results) {
        state->done = true;
        state->ec = ec;
        for (const auto& entry : results) {
          state->endpoints.push_back(entry.endpoint());
        }
        state->wake.cancel();
      });
  state->wake.expires_after(timeout);
  auto [ec] = co_await state->wake.async_wait(use_task);
  if (state->done) {
    if (state->ec) {
      co_return Fail(Errc::kResolve, "resolve " + host + ": " + state->ec.message());
    }
    if (state->endpoints.empty()) {
      co_return Fail(Errc::kResolve, "resolve " + host + ": no addresses");
    }
    co_return std::move(state->endpoints);
  }
  state->resolver.cancel();
  if (ec) {
    co_return Fail(ec, "resolve " + host);
  }
  co_return Fail(Errc::kTimeout, "resolve " + host + ": no answer within " +
                                     std::to_string(timeout.count()) + " ms");
}

// Resolves `host` and connects to it; `where` names it in errors ("connect <where>").
Task<Result<Stream>> Connect(std::string host, uint16_t port, std::string where,
                             DirectDialerOptions options) {
  auto endpoints = co_await Resolve(host, port, options.resolve_timeout);
  if (!endpoints) {
    co_return tl::unexpected(endpoints.error());
  }
  auto stream =
      co_await WithDeadline(Stream::ConnectTcp(std::move(*endpoints)), options.connect_timeout);
  if (!stream) {
    co_return tl::unexpected(WithContext(stream.error(), "connect " + where));
  }
  co_return std::move(*stream);
}

// The TLS handshake with `origin` over `stream`, closing it on failure.
// Lifetime: `stream` and `tls` outlive the await (await in the same statement).
Task<Result<void>> Handshake(Stream& stream, TlsContext& tls, Url origin,
                             std::chrono::milliseconds timeout) {
  auto handshake = co_await WithDeadline(stream.StartTls(tls, origin.host()), timeout);
  if (!handshake) {
    stream.Close();
    Error error = std::move(handshake.error());
    if (error.code == Errc::kTimeout) {
      error = WithContext(std::move(error), "TLS handshake with " + origin.authority());
    }
    co_return tl::unexpected(std::move(error));
  }
  co_return Result<void>{};
}

// "host:port" with an IPv6 host in brackets: the CONNECT request target (RFC 9110 §9.3.6).
std::string ConnectTarget(const Url& origin) {
  bool is_v6 = origin.host().find(':') != std::string::npos;
  return (is_v6 ? "[" + origin.host() + "]" : origin.host()) + ":" + std::to_string(origin.port());
}

// Sends CONNECT over `stream` (connected to the proxy) and reads the answer; on success the
// stream is a tunnel to `target`.
// Lifetime: `stream` outlives the await (await in the same statement).
Task<Result<void>> OpenTunnel(Stream& stream, std::string request, std::string proxy,
                              std::string target, bool sent_credentials) {
  IoResult written = co_await stream.Write(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(request.data()), request.size()));
  if (written.ec) {
    co_return Fail(written.ec, "send CONNECT " + target + " to proxy " + proxy);
  }
  ConnectResponseReader reader;
  std::array<uint8_t, 4096> buffer{};
  while (!reader.done()) {
    IoResult read = co_await stream.ReadSome(buffer);
    if (read.ec == asio::error::eof) {
      co_return Fail(
          Errc::kConnectionClosed,
          "proxy " + proxy + " closed the connection before answering CONNECT " + target);
    }
    if (read.ec) {
      co_return Fail(read.ec, "read the answer to CONNECT " + target + " from proxy " + proxy);
    }
    auto used = reader.Feed(std::span<const uint8_t>(buffer.data(), read.bytes));
    if (!used) {
      co_return tl::unexpected(WithContext(std::move(used.error()), "proxy " + proxy));
    }
    if (reader.done() && *used < read.bytes && reader.status() / 100 == 2) {
      // Neither TLS nor HTTP/1.1 lets the origin speak first: these bytes are the proxy's.
      co_return Fail(Errc::kProtocol, "proxy " + proxy + " sent bytes after its " +
                                          std::to_string(reader.status()) + " answer to CONNECT " +
                                          target);
    }
  }
  int status = reader.status();
  if (status / 100 == 2) {
    co_return Result<void>{};
  }
  std::string answer =
      std::to_string(status) + (reader.reason().empty() ? "" : " ") + reader.reason();
  // 407 is the standard answer; some proxies (tinyproxy) answer wrong credentials with 401.
  if (status == 407 || status == 401) {
    co_return Fail(Errc::kProxyAuthRequired,
                   "proxy " + proxy + " answered CONNECT " + target + " with " + answer +
                       (sent_credentials ? " (it did not accept the credentials in the proxy URL)"
                                         : " (give them in the proxy URL: "
                                           "http://user:password@host:port)"));
  }
  if (status / 100 == 5) {
    co_return Fail(Errc::kConnect, "proxy " + proxy + " could not reach " + target +
                                       ": it answered CONNECT with " + answer);
  }
  co_return Fail(Errc::kProxyRefused,
                 "proxy " + proxy + " answered CONNECT " + target + " with " + answer);
}

}  // namespace

Task<Result<Stream>> DirectDialer::Dial(Url origin) {
  auto stream = co_await Connect(origin.host(), origin.port(), origin.authority(), options_);
  if (!stream) {
    co_return tl::unexpected(stream.error());
  }
  if (origin.is_https()) {
    auto handshake = co_await Handshake(*stream, tls_, origin, options_.tls_handshake_timeout);
    if (!handshake) {
      co_return tl::unexpected(std::move(handshake.error()));
    }
  }
  co_return std::move(*stream);
}

Task<Result<Stream>> ProxyDialer::Dial(Url origin) {
  const ProxyEndpoint* proxy = rules_.For(origin);
  if (proxy == nullptr) {
    DirectDialer direct(tls_, options_);
    co_return co_await direct.Dial(std::move(origin));
  }
  std::string name = proxy->str();
  auto stream = co_await Connect(proxy->host(), proxy->port(), "to proxy " + name, options_);
  if (!stream) {
    Error error = std::move(stream.error());
    if (error.code == Errc::kResolve) {
      error = WithContext(std::move(error), "proxy " + name);
    }
    co_return tl::unexpected(std::move(error));
  }
  std::string target = ConnectTarget(origin);
  std::string request = SerializeConnectRequest(target, user_agent_, proxy->authorization());
  auto tunnel = co_await WithDeadline(
      OpenTunnel(*stream, std::move(request), name, target, !proxy->authorization().empty()),
      options_.connect_timeout);
  if (!tunnel) {
    stream->Close();
    Error error = std::move(tunnel.error());
    if (error.code == Errc::kTimeout) {
      error = WithContext(std::move(error), "CONNECT " + target + " through proxy " + name);
    }
    co_return tl::unexpected(std::move(error));
  }
  if (origin.is_https()) {
    auto handshake = co_await Handshake(*stream, tls_, origin, options_.tls_handshake_timeout);
    if (!handshake) {
      co_return tl::unexpected(std::move(handshake.error()));
    }
  }
  co_return std::move(*stream);
}

}  // namespace cistern::net
