// H2Connection: one HTTP/2 connection shared by many concurrent requests, and the coroutines
// that drive it: a reader that feeds every received byte to the H2Codec and hands the events to
// the streams, a writer that keeps one write in flight carrying everything the codec has queued,
// and an idle watchdog that PINGs a silent peer. Each RoundTrip() is one stream; its body waits
// in a per-stream buffer until its BodySink took the previous bytes, and only then are those
// bytes consumed, so the peer's windows (H2CodecOptions) bound what the connection buffers.
//
// Lifetime: shared (style §8 allows it here): the pool and every lease in use hold a
// std::shared_ptr, and so does the task running Run(). Executor: the executor its Stream
// belongs to; every method is called there. Thread safety: none beyond that.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "net/asio.h"
#include "net/body_sink.h"
#include "net/error.h"
#include "net/h2_codec.h"
#include "net/http1_connection.h"
#include "net/http_message.h"
#include "net/rate_limiter.h"
#include "net/stream.h"

namespace cistern::net {

struct H2ConnectionOptions {
  H2CodecOptions codec;     // windows and head limit
  size_t max_streams = 100;  // our own cap on concurrent streams; the peer's may be lower; >= 1
  // Silence from the peer while a stream waits for it before a PING is sent, and again before
  // the connection fails with Errc::kTimeout when the PING is not answered. Default 30 s.
  // Also the per-stream idle timeout: a stream that receives nothing for this long while the
  // connection is alive (other streams flow, PINGs are answered) is reset (RST_STREAM CANCEL)
  // and fails with Errc::kTimeout; the other streams go on. Silence that is not the peer's doing
  // (the rate limiter, or the sinks of other streams holding the connection window shut) does
  // not count. A stalled stream thus fails after between one and two idle timeouts.
  std::chrono::steady_clock::duration idle_timeout = std::chrono::seconds(30);
  size_t read_buffer_size = 64 * 1024;  // bytes read from the socket at a time
  // Asked before every socket read when not null; while the reader waits for it, the peer's
  // silence is not held against it. Lifetime: must stay alive until the connection is closed
  // (Close() or a failure); it is not touched after that.
  RateLimiter* rate_limiter = nullptr;
};

class H2Connection {
 public:
  // `executor` is the one `stream` belongs to.
  // Lifetime: `stats` must outlive the connection and its Run() task.
  H2Connection(Executor executor, Stream stream, TransportStats& stats,
               H2ConnectionOptions options);
  H2Connection(const H2Connection&) = delete;
  H2Connection& operator=(const H2Connection&) = delete;
  ~H2Connection();

  // Drives the connection until it closes: the peer closed it, an I/O or protocol error, the
  // idle watchdog, Close(), or a GOAWAY after which no stream is left. Every stream still open
  // then fails with the connection's error. Start it once, right after construction.
  // Cancellation: not needed; Close() ends it. Lifetime: the connection must outlive the task.
  Task<void> Run();

  // Sends `request` on a new stream and streams the response body into `sink` (OnHead once,
  // then OnData, never overlapping). Returns the head once the body is complete; any
  // well-formed response (404, 503) is a value. `request.url` becomes the head's url.
  // Errors: Errc::kRefusedStream (the connection takes no new streams, or the peer refused the
  // stream or excluded it by GOAWAY before sending a head: safe to retry elsewhere),
  // kStreamReset (reset by the peer), kProtocol, kDecompress, kTimeout (the connection's
  // watchdog, or this stream idle for `idle_timeout`), kConnectionClosed (also: the stream ended
  // short of its content-length), the sink's errors; system codes. Only this stream fails,
  // unless the error is the connection's.
  // Cancellation: terminal or partial; this stream alone is reset (RST_STREAM CANCEL) and
  // operation_aborted returned; the other streams continue.
  // Lifetime: `request`, `user_agent` and `sink` must outlive the await (await in the same
  // statement); the connection must outlive it too.
  Task<Result<ResponseHead>> RoundTrip(const Request& request, std::string_view user_agent,
                                       BodySink& sink);

  // Closes the socket at once; open streams fail with Errc::kConnectionClosed and Run() ends.
  void Close();

  // Called (on the connection's executor, never from inside a stream's await) when the number
  // of streams the connection can take may have changed: SETTINGS, GOAWAY, close.
  void set_on_capacity_change(std::function<void()> callback) {
    on_capacity_change_ = std::move(callback);
  }

  // Open, and no GOAWAY sent or received: RoundTrip() may start a stream.
  bool accepting() const { return !closed_ && !goaway_ && codec_.can_submit(); }
  bool is_open() const { return !closed_; }
  // Streams in progress (RoundTrips that have not returned).
  size_t active_streams() const { return slots_.size(); }
  // How many streams may be in progress at once: min(options.max_streams, the peer's
  // SETTINGS_MAX_CONCURRENT_STREAMS).
  size_t stream_limit() const;
  const H2Codec::Stats& codec_stats() const { return codec_.stats(); }

 private:
  struct Slot;
  class SlotGuard;

  Task<void> ReadLoop();
  Task<void> WriteLoop();
  Task<void> Watchdog();
  void HandleEvents();
  void FailConnection(Error error);
  void Notify(Slot& slot);
  // The wait of `slot` expired: true when its silence is the peer's and lasted idle_timeout;
  // otherwise restarts its idle clock.
  bool StreamIdleTimedOut(Slot& slot);
  void WakeWriter() { writer_wake_.cancel(); }
  void Forget(StreamId id, Slot& slot);
  void CapacityChanged();

  Stream stream_;
  TransportStats& stats_;
  H2ConnectionOptions options_;
  H2Codec codec_;
  std::unordered_map<int32_t, Slot*> slots_;  // streams in progress; each Slot lives in its
                                              // RoundTrip's frame
  std::vector<H2Event> events_;               // being handled
  std::vector<uint8_t> read_buffer_;
  asio::steady_timer writer_wake_;  // cancelled when the codec has output
  asio::steady_timer watchdog_;
  asio::steady_timer throttle_;  // the reader's wait for the rate limiter; cancelled on close
  // Below this connection window the peer may not be able to send a useful frame: the streams'
  // silence is then ours (one default-size DATA frame, RFC 9113 §4.2).
  static constexpr size_t kMinUsableWindow = 16'384;
  std::chrono::steady_clock::time_point last_read_;  // the watchdog moves it when it PINGs
  std::chrono::steady_clock::time_point last_received_;  // the last byte read from the peer
  size_t waiting_ = 0;  // RoundTrips waiting for the peer (not for their sink)
  bool ping_outstanding_ = false;
  bool throttled_ = false;  // the reader waits for the rate limiter, not for the peer
  bool goaway_ = false;
  bool closed_ = false;
  std::optional<Error> close_error_;
  std::function<void()> on_capacity_change_;
};

}  // namespace cistern::net
