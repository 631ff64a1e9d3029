#include "net/dialer.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

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

}  // namespace

Task<Result<Stream>> DirectDialer::Dial(Url origin) {
  auto endpoints = co_await Resolve(origin.host(), origin.port(), options_.resolve_timeout);
  if (!endpoints) {
    co_return tl::unexpected(endpoints.error());
  }
  std::string where = origin.authority();
  auto stream =
      co_await WithDeadline(Stream::ConnectTcp(std::move(*endpoints)), options_.connect_timeout);
  if (!stream) {
    co_return tl::unexpected(WithContext(stream.error(), "connect " + where));
  }
  if (origin.is_https()) {
    auto handshake = co_await WithDeadline(stream->StartTls(tls_, origin.host()),
                                           options_.tls_handshake_timeout);
    if (!handshake) {
      stream->Close();
      Error error = std::move(handshake.error());
      if (error.code == Errc::kTimeout) {
        error = WithContext(std::move(error), "TLS handshake with " + where);
      }
      co_return tl::unexpected(std::move(error));
    }
  }
  co_return std::move(*stream);
}

}  // namespace cistern::net
