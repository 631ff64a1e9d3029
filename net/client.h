// Client: fetches HTTP(S) resources for the rest of cistern. Fetch() picks a pooled connection,
// follows redirects, retries a stale keep-alive connection or a refused HTTP/2 stream once, and
// streams the body into a BodySink. HTTPS speaks HTTP/2 when the server selects it in ALPN (many
// requests share one connection) and HTTP/1.1 otherwise; plain http:// is HTTP/1.1. An HTTP
// proxy, when configured, carries connections in CONNECT tunnels (net/proxy.h).
//
// Executor: every method is called on the executor given to Create() (one network thread);
// connections and timers live there. Thread safety: none beyond that.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "net/asio.h"
#include "net/body_sink.h"
#include "net/error.h"
#include "net/http_message.h"
#include "net/proxy.h"

namespace cistern::net {

struct ClientOptions {
  // Sent as User-Agent on every request unless the request sets its own. PyPI asks mirrors for a
  // descriptive one naming the tool and version.
  std::string user_agent = "cistern/0.1.0";

  // Extra trust anchors: paths of PEM files with CA certificates, added to the system trust store
  // (which stays on). Default: none. Use it for a private index or a test CA.
  std::vector<std::string> ca_files;

  // Most connections open at once to one origin (scheme, host, port), busy or idle. Requests
  // beyond it wait for a connection. Default 4. Higher fetches more in parallel over HTTP/1.1 but
  // costs the server more; PyPI's CDN is fine with a handful. Over HTTP/2 a further connection
  // is opened only when every open one carries max_streams_per_connection requests.
  size_t max_connections_per_origin = 4;

  // Offer HTTP/2 to https:// origins (ALPN "h2", then "http/1.1"). Default true. False keeps
  // every connection on HTTP/1.1, one request per connection at a time.
  bool http2 = true;
  // Most requests in flight at once on one HTTP/2 connection; the server's
  // SETTINGS_MAX_CONCURRENT_STREAMS lowers it further (nginx: 128). Default 100. Higher means
  // fewer connections; each stream may buffer up to http2_stream_window bytes.
  size_t max_streams_per_connection = 100;
  // HTTP/2 receive window per stream: body bytes the server may send ahead of the BodySink.
  // Default 1 MiB. Larger helps one big download over a long, fast link; it is also what one
  // stream may hold in memory while its sink is slow. At most 2^31 - 1.
  uint32_t http2_stream_window = 1 << 20;
  // HTTP/2 receive window per connection, over all its streams: the bound on the body bytes a
  // connection holds in memory. Default 8 MiB. At most 2^31 - 1.
  uint32_t http2_connection_window = 8 << 20;

  // Limit for establishing TCP (over all resolved addresses; also the limit for name
  // resolution). Default 10 s.
  std::chrono::milliseconds connect_timeout{10'000};
  // Limit for the TLS handshake. Default 10 s.
  std::chrono::milliseconds tls_handshake_timeout{10'000};
  // Longest silence from the server while a request waits for bytes (time spent waiting for the
  // BodySink does not count), and how long an unused keep-alive connection stays open.
  // Default 30 s. Lower detects a stalled server sooner but may cut off a slow one.
  std::chrono::milliseconds idle_timeout{30'000};
  // Limit for a whole Fetch, redirects, retry and body included. Default 10 min. It bounds a
  // large download too: raise it for slow links and big files.
  std::chrono::milliseconds request_timeout{600'000};

  // HTTP proxies and the hosts that bypass them (net/proxy.h). Default: none, every
  // connection is direct. The client never reads the environment itself; pass
  // ProxyOptionsFromEnvironment(std::getenv) to follow https_proxy, http_proxy and no_proxy.
  ProxyOptions proxy;

  // Redirects followed per Fetch before Errc::kTooManyRedirects. Default 5; 0 refuses redirects.
  int max_redirects = 5;

  // Bytes read from a socket at a time, per connection. Default 64 KiB. Larger means fewer
  // reads for big files and more memory per connection.
  size_t read_buffer_size = 64 * 1024;

  // Bandwidth cap: bytes per second read from sockets, over all of this client's connections
  // (HTTP/1.1 and HTTP/2, every origin) together. Default 0: unlimited. One token bucket
  // (net/rate_limiter.h) with a burst of max(max_rate / 10, 64 KiB); a connection whose read
  // finds it empty waits on a timer, and TCP flow control then slows the server. What is
  // counted is what Stats::bytes_received counts (after TLS, before inflating). Time spent
  // waiting for the cap does not count as idle.
  uint64_t max_rate = 0;
};

class Client {
 public:
  // Errors: Errc::kTlsConfig if a CA file can't be loaded (the detail names the file);
  // kInvalidUrl or kUnsupportedScheme for a proxy URL that cannot be used.
  [[nodiscard]] static Result<std::unique_ptr<Client>> Create(Executor executor,
                                                              ClientOptions options);

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  // Requires: no Fetch in flight.
  ~Client();

  // Fetches `request` and streams its body into `sink`.
  //
  // Returns the final response's head once its body is complete. Any complete response,
  // 404 and 503 included, is a value. Follows 301, 302, 303, 307 and 308 up to max_redirects
  // (the redirect's body is drained and discarded; a relative Location is resolved; a redirect
  // from https to http is refused with Errc::kUnsupportedScheme). Retried once, and nothing else
  // is retried here: a request on a reused HTTP/1.1 keep-alive connection that fails before any
  // response byte (the server closed it while idle), on a new connection; and an HTTP/2 stream
  // the server did not process (REFUSED_STREAM, or above a GOAWAY's last-stream-id), on a
  // connection that still takes streams, or a new one.
  // Errors: Errc::kTimeout, kProtocol, kConnectionClosed, kStreamReset, kRefusedStream,
  // kTooManyRedirects, kInvalidUrl, kUnsupportedScheme, kResolve, kConnect, kDecompress,
  // kProxyRefused, kProxyAuthRequired; "x509" and "openssl" TLS errors; the sink's errors;
  // system codes. The detail starts with the method
  // and URL. After an error the sink may hold part of a body.
  // Cancellation: terminal; an HTTP/1.1 connection is closed, an HTTP/2 stream is reset (the
  // connection's other requests go on), and operation_aborted is returned, never retried.
  // Lifetime: `sink` and the client must outlive the returned task.
  // Executor: must be awaited on this client's executor.
  Task<Result<ResponseHead>> Fetch(Request request, BodySink& sink);

  // Closes idle connections. In-flight requests complete; their connections are then closed
  // rather than kept. A later Fetch still works, on a new connection that is not kept.
  void Shutdown();

  struct Stats {
    uint64_t connections_opened = 0;  // TCP connections established (TLS included, either protocol)
    uint64_t requests = 0;            // requests written, redirects and retries included
    uint64_t bytes_received = 0;      // raw bytes read from sockets (heads, compressed bodies)
  };
  Stats stats() const;

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cistern::net
