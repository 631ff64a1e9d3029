// Http1Connection: one HTTP/1.1 connection, and the coroutine that runs one request/response
// exchange on it: write the request, read and feed the codec, inflate gzip, hand the response to
// a BodySink with backpressure, and report whether the connection can carry another request.
//
// Executor: the executor its Stream belongs to. Thread safety: none; one exchange at a time.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "net/asio.h"
#include "net/body_sink.h"
#include "net/error.h"
#include "net/http1_codec.h"
#include "net/http_message.h"
#include "net/rate_limiter.h"
#include "net/stream.h"

namespace cistern::net {

// Counters shared by a pool's connections.
struct TransportStats {
  uint64_t connections_opened = 0;
  uint64_t bytes_received = 0;  // raw bytes read from sockets (after TLS, before inflating)
};

class Http1Connection {
 public:
  // `rate_limiter`, when not null, is asked before every socket read (time spent waiting for it
  // does not count as idle).
  // Lifetime: `stats` and `rate_limiter` must outlive the connection.
  Http1Connection(Stream stream, TransportStats& stats, size_t read_buffer_size,
                  std::chrono::steady_clock::duration idle_timeout,
                  RateLimiter* rate_limiter = nullptr);
  Http1Connection(const Http1Connection&) = delete;
  Http1Connection& operator=(const Http1Connection&) = delete;

  // Sends `request` and streams the response body into `sink` (sink.OnHead once, then OnData).
  // Returns the head once the response is complete. Any well-formed response (404, 503) is a
  // value. `request.url` becomes the head's url.
  // Errors: Errc::kProtocol, kConnectionClosed (EOF before the response was complete), kTimeout
  // (no byte for `idle_timeout` while not waiting for the sink), kDecompress; the sink's own
  // errors unchanged; system codes. On any error the connection is closed.
  // Cancellation: terminal; the connection is closed and operation_aborted returned.
  // Lifetime: `request`, `user_agent` and `sink` must outlive the await (await in the same
  // statement).
  Task<Result<ResponseHead>> RoundTrip(const Request& request, std::string_view user_agent,
                                       BodySink& sink);

  // After RoundTrip: true when the response was complete, the server allows keep-alive and no
  // stray bytes followed it.
  bool reusable() const { return reusable_ && stream_.is_open(); }
  // During or after RoundTrip: whether any byte of the response arrived. A reused connection
  // that failed before any byte may have been closed by the server while idle.
  bool received_response_bytes() const { return received_bytes_; }
  bool is_open() const { return stream_.is_open(); }
  void Close() { stream_.Close(); }

 private:
  Task<Result<ResponseHead>> Exchange(const Request& request, std::string_view request_bytes,
                                      BodySink& sink, IdleDeadline& idle);

  Stream stream_;
  TransportStats& stats_;
  RateLimiter* rate_limiter_;  // null: unlimited
  std::chrono::steady_clock::duration idle_timeout_;
  Http1Codec codec_;
  std::vector<uint8_t> read_buffer_;
  bool reusable_ = false;
  bool received_bytes_ = false;
};

}  // namespace cistern::net
