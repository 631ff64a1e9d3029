// H2Codec: an HTTP/2 client session without I/O. Requests go in as values and come out as frame
// bytes; response bytes go in and come out as events (head, data, end, reset, GOAWAY, SETTINGS,
// PING ack). nghttp2 does the framing, HPACK and flow control; this is the only file pair that
// knows it.
//
// Flow control is explicit: the codec never opens a receive window by itself. Body bytes count
// against the stream's window (H2CodecOptions::stream_window) and the connection's
// (connection_window) until the owner calls Consume(); WINDOW_UPDATE frames follow only then, so
// the peer can never have more than a window of unconsumed body bytes in flight.
//
// Output accumulates: every call that produces frames appends them to output(), so one write
// can carry everything pending. Thread safety: none; one owner.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "net/error.h"
#include "net/http_message.h"

namespace cistern::net {

// An HTTP/2 stream identifier (RFC 9113 §5.1.1); client streams are odd.
enum class StreamId : int32_t {};

// RFC 9113 §7 error codes the driver uses by name.
inline constexpr uint32_t kH2NoError = 0x0;
inline constexpr uint32_t kH2ProtocolError = 0x1;
inline constexpr uint32_t kH2RefusedStream = 0x7;
inline constexpr uint32_t kH2Cancel = 0x8;

struct H2CodecOptions {
  // SETTINGS_INITIAL_WINDOW_SIZE: body bytes the server may send on one stream beyond what was
  // consumed. Default 1 MiB. Larger lets one download go faster on a long link; it is also the
  // most one stream can buffer. At most 2^31 - 1.
  uint32_t stream_window = 1 << 20;
  // The connection's receive window: body bytes over all streams beyond what was consumed.
  // Default 8 MiB; the bound on a connection's buffered body bytes. At most 2^31 - 1.
  uint32_t connection_window = 8 << 20;
  // Upper bound on a response head's bytes (names and values of its fields), also announced as
  // SETTINGS_MAX_HEADER_LIST_SIZE. A larger head resets the stream. Default 256 KiB.
  uint32_t max_head_bytes = 256 * 1024;
};

struct H2Event {
  enum class Kind {
    kHead,      // the final response head of `stream` (1xx heads are skipped)
    kData,      // body bytes of `stream`
    kEnd,       // `stream` ended normally (END_STREAM); trailers, if any, are dropped
    kReset,     // `stream` ended without completing; `error` says why
    kGoaway,    // the peer sent GOAWAY: no new streams; streams above `last_stream` are refused
    kSettings,  // the peer's SETTINGS arrived; `max_concurrent_streams` is its current limit
    kPingAck,   // the peer acknowledged our PING
  };
  Kind kind = Kind::kHead;
  StreamId stream{0};
  int status = 0;      // kHead: the :status
  HeaderList headers;  // kHead: the fields, without pseudo-headers, names in lower case
  // kData: borrowed from the buffer given to Feed(); valid until the next Feed() and only while
  // that buffer is unchanged.
  std::span<const uint8_t> data;
  // kReset: Errc::kStreamReset (the peer reset it), kRefusedStream (the peer refused it or a
  // GOAWAY excluded it: not processed, safe to retry), kConnectionClosed (END_STREAM arrived
  // before the body reached the head's content-length: transient, like an HTTP/1.1 connection
  // closed in the body; the codec reset it), kProtocol (a malformed response, or a body longer
  // than its content-length; the codec reset it). The detail names the stream and the RFC 9113 error code.
  Error error;
  uint32_t error_code = 0;              // kReset, kGoaway: the RFC 9113 §7 error code
  StreamId last_stream{0};              // kGoaway: the highest stream the peer may process
  uint32_t max_concurrent_streams = 0;  // kSettings: 0xffffffff when the peer sets no limit
};

class H2Codec {
 public:
  struct Stats {
    uint64_t data_bytes_received = 0;  // body bytes reported in kData events
    uint64_t data_bytes_consumed = 0;  // body bytes passed to Consume()
    uint64_t window_updates_sent = 0;  // WINDOW_UPDATE frames put into output()
  };

  // Starts a session: output() holds the connection preface, our SETTINGS (push disabled,
  // windows, header list size) and the WINDOW_UPDATE that opens the connection window.
  explicit H2Codec(H2CodecOptions options = {});
  H2Codec(const H2Codec&) = delete;
  H2Codec& operator=(const H2Codec&) = delete;
  ~H2Codec();

  // Queues `request` (no body) on a new stream: :method, :scheme, :authority, :path from
  // request.url, then user-agent (`user_agent` unless the request has one), accept-encoding:
  // gzip (when request.accept_gzip), then the request's other headers in lower case.
  // Connection-specific fields (Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding,
  // Upgrade) are dropped and Host becomes :authority (RFC 9113 §8.2.2, §8.3.1).
  // Errors: Errc::kProtocol when the method is not a token or a header contains CR, LF or NUL;
  // Errc::kRefusedStream when the session takes no new streams (GOAWAY, ids exhausted, failed).
  [[nodiscard]] Result<StreamId> Submit(const Request& request, std::string_view user_agent);

  // Processes `bytes` from the peer and appends events; frames in reply (SETTINGS and PING
  // acknowledgements) go to output().
  // Errors: Errc::kProtocol naming nghttp2's reason when the peer broke HTTP/2 (the codec then
  // queues GOAWAY in output() and fails every later call the same way).
  [[nodiscard]] Result<void> Feed(std::span<const uint8_t> bytes);

  // The owner is done with `bytes` body bytes of `stream` (reported by kData): they leave both
  // windows, and WINDOW_UPDATE frames are queued once half a window was consumed. Consuming
  // bytes of a stream that has ended or was reset still reopens the connection window.
  void Consume(StreamId stream, size_t bytes);

  // Resets `stream` with `error_code` (RST_STREAM) and forgets it: no more events for it. Body
  // bytes already reported for it must still be consumed. Does nothing for an unknown stream.
  void Reset(StreamId stream, uint32_t error_code);

  // Queues a PING; a kPingAck event follows when the peer answers.
  void Ping();

  const std::vector<H2Event>& events() const { return events_; }
  void ClearEvents() { events_.clear(); }
  // Moves the pending events into `out` (whose old contents are discarded). Calls made while
  // handling them (Consume, Reset, Submit) may queue new ones.
  void TakeEvents(std::vector<H2Event>& out) {
    out.clear();
    out.swap(events_);
  }

  // Frame bytes waiting to be written, in order.
  std::span<const uint8_t> output() const { return output_; }
  bool has_output() const { return !output_.empty(); }
  // Moves the pending output into `out` (whose old contents are discarded), leaving output()
  // empty. Swapping buffers keeps their capacity: no allocation in the steady state.
  void TakeOutput(std::vector<uint8_t>& out);

  // Whether Submit() may succeed: no GOAWAY sent or received, stream ids left, no failure.
  bool can_submit() const;
  // The peer's SETTINGS_MAX_CONCURRENT_STREAMS; 100 until its SETTINGS arrive (nghttp2's
  // conservative default), 0xffffffff when it sets none.
  uint32_t peer_max_concurrent_streams() const;
  // Streams submitted and neither ended, reset nor forgotten.
  size_t open_streams() const;
  // Body bytes the peer may still send on the connection as a whole before the owner consumes
  // some (connection-level flow control, RFC 9113 §6.9): near 0 while the sinks of some streams
  // lag behind, so that no stream can receive anything.
  size_t connection_receive_window() const;
  // Whether a connection error ended the session (Feed failed).
  bool failed() const;

  const Stats& stats() const;

  struct Impl;  // opaque: the nghttp2 session and the per-stream state (h2_codec.cc)

 private:
  std::vector<H2Event> events_;
  std::vector<uint8_t> output_;
  std::unique_ptr<Impl> impl_;  // last: its callbacks append to events_ and output_
};

// The name of an RFC 9113 §7 error code ("REFUSED_STREAM"), or "0x<hex>" for an unknown one.
std::string H2ErrorName(uint32_t error_code);

}  // namespace cistern::net
