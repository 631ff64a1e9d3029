// FaultServer: an HTTP/1.1 and HTTP/2 server on 127.0.0.1 that misbehaves on request, for the
// client behaviours nginx cannot produce (issue 4): a connection reset after N body bytes, a body
// shorter than its Content-Length, a TLS handshake that never completes, a body that stalls,
// GOAWAY and RST_STREAM at chosen points, flipped bytes, a changed validator, 429/503 with
// Retry-After, a slow body.
//
// It shares no code with cistern's client: HTTP/1.1 requests are parsed with llhttp directly,
// HTTP/2 is an nghttp2 *server* session, TLS is Asio SSL over OpenSSL. A bug in net/ cannot
// cancel out against the same bug here. (It does use net/asio.h's coroutine vocabulary.)
//
// Protocols: with TLS, ALPN offers h2 and http/1.1 (or only one, see FaultServerOptions::alpn);
// a client that sends no ALPN gets HTTP/1.1 (HTTP/2 if only h2 is offered). Without TLS the server
// speaks HTTP/1.1, and HTTP/2 to a client that starts with the HTTP/2 preface (prior knowledge,
// `curl --http2-prior-knowledge`).
//
// Resources: GET and HEAD of an in-memory map (path -> bytes, ETag, Last-Modified) and then of
// `root` on disk (the path percent-decoded; ETag and Last-Modified from size and mtime, as nginx
// makes them). Paths are
// matched without the query string. `Range: bytes=N-`, `bytes=N-M` and `bytes=-N` give 206 with
// Content-Range; `If-Range` (an ETag, or a date compared as text with Last-Modified) that does
// not match gives 200 with the whole body; an unsatisfiable range gives 416 with
// `Content-Range: bytes */size`. Content-Length is always sent unless a fault says otherwise.
// Anything else gets 404 (405 for methods other than GET and HEAD).
//
// Threading: the server runs on its own thread with its own io_context. Every public method may
// be called from any thread, before and between requests; a change applies to requests whose
// head arrives after it. Stop() (also run by the destructor) closes every connection, ends
// every stall and joins the thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <tl/expected.hpp>

namespace cistern::testing {

// HTTP/2 error codes (RFC 9113 §7), for RST_STREAM and GOAWAY faults.
enum class H2Error : uint32_t {
  kNoError = 0x0,
  kProtocolError = 0x1,
  kInternalError = 0x2,
  kFlowControlError = 0x3,
  kStreamClosed = 0x5,
  kRefusedStream = 0x7,
  kCancel = 0x8,
  kEnhanceYourCalm = 0xb,
};

// The structs below are meant for designated initializers (`Fault{.request = 2, .status = 503}`);
// every field has an initializer, so GCC 12's -Wmissing-field-initializers stays quiet.

// Header names as sent; HTTP/2 needs lower case, so use lower case.
using FaultHeaders = std::vector<std::pair<std::string, std::string>>;

// One served resource.
struct Resource {
  std::string body{};
  std::string etag{};           // the ETag header value, quotes included ("\"v1\""); none if empty
  std::string last_modified{};  // an HTTP date for Last-Modified; none if empty
  std::string content_type = "application/octet-stream";
};

// An HTTP/2 GOAWAY sent while answering a request. Over HTTP/1.1 it becomes
// `Connection: close` on that response.
struct GoAway {
  // Last-Stream-ID: nullopt means the triggering stream itself (it is still answered, later
  // streams are refused). A smaller id refuses the triggering stream too: it is not answered.
  std::optional<int32_t> last_stream_id{};
  H2Error error_code = H2Error::kNoError;
  // When: nullopt = as soon as the request's headers arrived (before the response); otherwise
  // once this many body bytes of the response were handed to the socket.
  std::optional<uint64_t> after_bytes{};
  // true: close the connection right after the GOAWAY, finishing no stream
  // (nghttp2_session_terminate_session2). false: finish streams up to last_stream_id, then close.
  bool terminate = false;
};

// What to do wrong when answering a request. Fields combine; unset fields change nothing.
// Byte counts are body bytes of *this response* (after any range), counted from 0.
struct Fault {
  // The k-th request of the path (from 1, counted per path since Start(), every method), or
  // every request when nullopt.
  std::optional<int> request{};

  // --- the response head ---
  // Answer with this status, `headers` and `status_body` instead of the resource.
  std::optional<int> status{};
  std::string status_body{};
  // Headers added to the response (e.g. {"retry-after", "2"}), whatever its status.
  FaultHeaders headers{};
  // Wait this long before sending the response head.
  std::chrono::milliseconds delay_headers{0};
  // Reset the connection (TCP RST) instead of answering.
  bool reset_before_response = false;
  // Answer 200 with the whole body whatever Range says.
  bool ignore_range = false;
  // Replace the resource's ETag / Last-Modified (a validator change); If-Range is compared with
  // the replacement. An empty string removes the header.
  std::optional<std::string> etag{};
  std::optional<std::string> last_modified{};
  // Send no Content-Length: over HTTP/1.1 the body is then delimited by closing the connection.
  bool omit_content_length = false;

  // --- the body ---
  // TCP RST (SO_LINGER 0, after the bytes already written reached the peer) once this many body
  // bytes were sent, or at this fraction (0..1) of the body. Over HTTP/2 the whole connection
  // is reset.
  std::optional<uint64_t> reset_after_bytes{};
  std::optional<double> reset_at_fraction{};
  // Send only this many body bytes, then end cleanly: HTTP/1.1 closes the connection (FIN,
  // after a TLS close_notify); HTTP/2 ends the stream (END_STREAM) short of its content-length.
  std::optional<uint64_t> close_after_bytes{};
  // Pause after this many body bytes for `stall_for`; zero means until Stop(). HTTP/2 defers the
  // stream's data (NGHTTP2_ERR_DEFERRED) while other streams go on.
  std::optional<uint64_t> stall_after_bytes{};
  std::chrono::milliseconds stall_for{0};
  // HTTP/2: RST_STREAM with `rst_stream_code` after this many body bytes (0: right after the
  // response head). HTTP/1.1 resets the connection instead.
  std::optional<uint64_t> rst_stream_after_bytes{};
  H2Error rst_stream_code = H2Error::kInternalError;
  std::optional<GoAway> goaway{};
  // Body offsets whose byte is flipped (xor 0xff).
  std::vector<uint64_t> corrupt_offsets{};
  // Send the body at about this many bytes per second.
  std::optional<uint64_t> bytes_per_second{};
};

// What to do wrong with a connection before any HTTP.
struct ConnectionFault {
  // The k-th accepted connection (from 1, counted since Start()), or every one when nullopt.
  std::optional<int> connection{};
  // Accept TCP and never read: with TLS, the handshake never completes.
  bool stall_handshake = false;
  std::chrono::milliseconds stall_for{0};  // zero: until Stop(); then the connection is closed
  // Reset (TCP RST) as soon as accepted.
  bool reset_on_accept = false;
};

// One request as the server saw it.
struct RequestRecord {
  std::chrono::system_clock::time_point time{};  // when its head was complete
  std::string protocol{};                        // "h2" or "http/1.1"
  uint64_t connection_id = 0;                    // from 1, in accept order
  int32_t stream_id = 0;                         // HTTP/2 stream id; 0 for HTTP/1.1
  std::string method{};
  std::string target{};    // as sent, query included
  std::string path{};      // without the query
  FaultHeaders headers{};  // names in lower case, in arrival order (HTTP/2 pseudo-headers left out)
  std::string range{};     // the Range header, "" if absent
  std::string if_range{};  // the If-Range header, "" if absent
  std::string user_agent{};      // the User-Agent header, "" if absent
  bool fault_applied = false;    // a Fault rule matched
  int status = 0;                // the status sent; 0 if no response head was sent
  uint64_t content_length = 0;   // body bytes the response announced (or would have)
  uint64_t body_bytes_sent = 0;  // body bytes handed to the socket
  // How it ended: "" while in progress; "complete", "reset", "closed", "rst_stream",
  // "refused" (above a GOAWAY's last stream id), "peer_closed" (the client went away or reset
  // the stream), "stopped" (Stop() came first, e.g. during an endless stall).
  std::string outcome{};

  // The value of header `name` (lower case), "" if absent.
  std::string Header(std::string_view name) const;
};

struct FaultServerOptions {
  // Server certificate chain and key (PEM files). Both empty: plain HTTP.
  std::filesystem::path tls_cert_file{};
  std::filesystem::path tls_key_file{};
  enum class Alpn { kH2AndHttp11, kH2Only, kHttp11Only };
  Alpn alpn = Alpn::kH2AndHttp11;
  // Served after the in-memory resources; empty: none.
  std::filesystem::path root{};
  // 0: an ephemeral port.
  uint16_t port = 0;
  // HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS.
  uint32_t max_concurrent_streams = 100;
};

class FaultServer {
 public:
  FaultServer(const FaultServer&) = delete;
  FaultServer& operator=(const FaultServer&) = delete;

  // Binds 127.0.0.1:<port>, loads the TLS files and starts the server thread.
  // Errors: a message naming what failed (bind, certificate, key).
  static tl::expected<std::unique_ptr<FaultServer>, std::string> Start(
      const FaultServerOptions& options = {});

  ~FaultServer();

  uint16_t port() const;
  // "https://127.0.0.1:<port><path>" with TLS, else "http://...".
  std::string url(std::string_view path) const;

  void SetResource(const std::string& path, Resource resource);
  void RemoveResource(const std::string& path);
  // Adds a rule for `path` ("*" matches every path, after the path's own rules). The first
  // matching rule (in the order added) applies; the request counter is the path's own.
  void AddFault(const std::string& path, Fault fault);
  void AddConnectionFault(ConnectionFault fault);
  // Removes every request and connection rule; counters are kept.
  void ClearFaults();

  // Copies of the records so far, in order of arrival.
  std::vector<RequestRecord> Requests() const;
  std::vector<RequestRecord> RequestsFor(std::string_view path) const;
  uint64_t connections_accepted() const;
  uint64_t requests() const;
  // Waits until at least `count` requests have an outcome (finished one way or another).
  // Returns false if `timeout` passed first.
  bool WaitForFinishedRequests(size_t count, std::chrono::milliseconds timeout) const;

  // Closes the listener and every connection, ends stalls, joins the thread. Idempotent.
  void Stop();

  struct Impl;

 private:
  explicit FaultServer(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace cistern::testing
