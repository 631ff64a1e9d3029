#include "net/client.h"

#include <optional>
#include <string>
#include <utility>

#include <spdlog/logger.h>
#include <spdlog/spdlog.h>

#include "net/dialer.h"
#include "net/pool.h"
#include "net/rate_limiter.h"
#include "net/tls.h"

namespace cistern::net {
namespace {

// Hands the final response to the caller's sink and swallows the redirects Fetch follows.
class RedirectFilter final : public BodySink {
 public:
  explicit RedirectFilter(BodySink& target) : target_(target) {}

  Result<void> OnHead(const ResponseHead& head) override {
    if (IsRedirectStatus(head.status)) {
      if (auto location = head.headers.Get("Location")) {
        location_ = std::string(*location);
        status_ = head.status;
        return {};
      }
    }
    return target_.OnHead(head);
  }

  Task<Result<void>> OnData(std::span<const uint8_t> bytes) override {
    if (location_) {
      co_return Result<void>{};
    }
    co_return co_await target_.OnData(bytes);
  }

  const std::optional<std::string>& location() const { return location_; }
  int status() const { return status_; }

 private:
  BodySink& target_;
  std::optional<std::string> location_;
  int status_ = 0;
};

// The failures of a keep-alive connection the server closed while it sat idle.
bool IsStaleConnectionError(const Error& error) {
  return error.code == Errc::kConnectionClosed || error.code == asio::error::eof ||
         error.code == asio::error::connection_reset || error.code == asio::error::broken_pipe ||
         error.code == asio::error::connection_aborted;
}

std::shared_ptr<spdlog::logger> NetLogger() {
  // The tool registers "net" with its sinks; without it the library stays silent.
  auto logger = spdlog::get("net");
  return logger ? logger : std::make_shared<spdlog::logger>("net");
}

}  // namespace

struct Client::Impl {
  static std::unique_ptr<RateLimiter> MakeRateLimiter(const ClientOptions& options) {
    return options.max_rate == 0 ? nullptr : std::make_unique<RateLimiter>(options.max_rate);
  }
  static PoolOptions MakePoolOptions(const ClientOptions& options, RateLimiter* rate_limiter) {
    PoolOptions pool_options;
    pool_options.max_connections_per_origin = options.max_connections_per_origin;
    pool_options.idle_timeout = options.idle_timeout;
    pool_options.read_buffer_size = options.read_buffer_size;
    pool_options.http2 = options.http2;
    pool_options.max_streams_per_connection = options.max_streams_per_connection;
    pool_options.h2.stream_window = options.http2_stream_window;
    pool_options.h2.connection_window = options.http2_connection_window;
    pool_options.rate_limiter = rate_limiter;
    return pool_options;
  }

  static std::unique_ptr<Dialer> MakeDialer(TlsContext& tls, const ClientOptions& options,
                                            ProxyRules rules) {
    DirectDialerOptions dial_options{.resolve_timeout = options.connect_timeout,
                                     .connect_timeout = options.connect_timeout,
                                     .tls_handshake_timeout = options.tls_handshake_timeout};
    if (rules.empty()) {
      return std::make_unique<DirectDialer>(tls, dial_options);
    }
    return std::make_unique<ProxyDialer>(tls, dial_options, std::move(rules), options.user_agent);
  }

  Impl(Executor ex, ClientOptions opts, std::unique_ptr<TlsContext> tls_context, ProxyRules rules)
      : executor(ex),
        options(std::move(opts)),
        tls(std::move(tls_context)),
        dialer(MakeDialer(*tls, options, std::move(rules))),
        rate_limiter(MakeRateLimiter(options)),
        pool(ex, *dialer, MakePoolOptions(options, rate_limiter.get())),
        logger(NetLogger()) {}

  Task<Result<ResponseHead>> FollowRedirects(Request request, BodySink& sink);
  Task<Result<ResponseHead>> FetchOnce(const Request& request, BodySink& sink);

  Executor executor;
  ClientOptions options;
  std::unique_ptr<TlsContext> tls;
  std::unique_ptr<Dialer> dialer;
  std::unique_ptr<RateLimiter> rate_limiter;  // null when options.max_rate is 0
  Pool pool;
  std::shared_ptr<spdlog::logger> logger;
  uint64_t requests = 0;
};

Result<std::unique_ptr<Client>> Client::Create(Executor executor, ClientOptions options) {
  auto tls = TlsContext::Create(TlsOptions{.ca_files = options.ca_files, .offer_h2 = options.http2});
  if (!tls) {
    return tl::unexpected(tls.error());
  }
  auto rules = ProxyRules::Create(options.proxy);
  if (!rules) {
    return tl::unexpected(rules.error());
  }
  auto impl =
      std::make_unique<Impl>(executor, std::move(options), std::move(*tls), std::move(*rules));
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

Task<Result<ResponseHead>> Client::Fetch(Request request, BodySink& sink) {
  std::string what = request.method + " " + request.url.str();
  if (request.url.is_file()) {
    // Only a file:// upstream holds file: URLs, and it reads them itself.
    co_return Fail(Errc::kUnsupportedScheme, what + ": the HTTP client does not read file: URLs");
  }
  auto head = co_await WithDeadline(impl_->FollowRedirects(std::move(request), sink),
                                    impl_->options.request_timeout);
  if (!head) {
    Error error = WithContext(std::move(head.error()), what);
    SPDLOG_LOGGER_DEBUG(impl_->logger, "request failed request=\"{}\" error=\"{}\"", what,
                        error.message());
    co_return tl::unexpected(std::move(error));
  }
  SPDLOG_LOGGER_DEBUG(impl_->logger, "request done request=\"{}\" status={} final_url={}", what,
                      head->status, head->url.str());
  co_return head;
}

Task<Result<ResponseHead>> Client::Impl::FollowRedirects(Request request, BodySink& sink) {
  for (int redirects = 0;; ++redirects) {
    RedirectFilter filter(sink);
    auto head = co_await FetchOnce(request, filter);
    if (!head) {
      if (redirects > 0) {
        co_return tl::unexpected(
            WithContext(std::move(head.error()), "after redirect to " + request.url.str()));
      }
      co_return head;
    }
    if (!filter.location()) {
      co_return head;
    }
    if (redirects >= options.max_redirects) {
      co_return Fail(Errc::kTooManyRedirects,
                     "more than " + std::to_string(options.max_redirects) + " redirects, last " +
                         std::to_string(filter.status()) + " from " + request.url.str());
    }
    auto next = request.url.Resolve(*filter.location());
    if (!next) {
      co_return tl::unexpected(WithContext(std::move(next.error()), "redirect Location"));
    }
    if (request.url.is_https() && !next->is_https()) {
      co_return Fail(Errc::kUnsupportedScheme, "refused redirect from https to " + next->str());
    }
    if (next->origin() != request.url.origin()) {
      // Credentials meant for one origin are not sent to another.
      request.headers.Remove("Authorization");
      request.headers.Remove("Cookie");
    }
    // RFC 9110 §15.4.4: after 303 the target is fetched with GET (HEAD stays HEAD).
    if (filter.status() == 303 && request.method != "HEAD") {
      request.method = "GET";
    }
    SPDLOG_LOGGER_DEBUG(logger, "redirect status={} from={} to={}", filter.status(),
                        request.url.str(), next->str());
    request.url = std::move(*next);
  }
}

Task<Result<ResponseHead>> Client::Impl::FetchOnce(const Request& request, BodySink& sink) {
  bool fresh = false;
  for (int attempt = 0;; ++attempt) {
    auto lease = co_await pool.Acquire(request.url, fresh, request.urgent);
    if (!lease) {
      co_return tl::unexpected(lease.error());
    }
    ++requests;
    bool retry = false;
    Result<ResponseHead> head;
    if (lease->is_h2()) {
      head = co_await lease->h2().RoundTrip(request, options.user_agent, sink);
      // RFC 9113 §8.7: a refused stream was not processed; the connection that refused it no
      // longer takes streams after GOAWAY, so the pool picks another or dials.
      retry = !head && attempt == 0 && head.error().code == Errc::kRefusedStream;
    } else {
      Http1Connection& connection = lease->connection();
      head = co_await connection.RoundTrip(request, options.user_agent, sink);
      retry = !head && attempt == 0 && lease->reused() && !connection.received_response_bytes() &&
              IsStaleConnectionError(head.error());
      fresh = retry;
    }
    pool.Release(std::move(*lease));
    if (!retry) {
      co_return head;
    }
    asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none) {
      co_return head;
    }
    SPDLOG_LOGGER_DEBUG(logger, "retrying on a new connection url={} error=\"{}\"",
                        request.url.str(), head.error().message());
  }
}

void Client::Shutdown() { impl_->pool.Shutdown(); }

Client::Stats Client::stats() const {
  const TransportStats& transport = impl_->pool.stats();
  return Stats{.connections_opened = transport.connections_opened,
               .requests = impl_->requests,
               .bytes_received = transport.bytes_received};
}

}  // namespace cistern::net
