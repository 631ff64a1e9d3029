// H2ServerSession: the server side of HTTP/2 for tests, over nghttp2's *server* session (a
// different code path from the client codec under test, so a shared bug cannot cancel out).
// Without I/O: bytes in with Feed(), bytes out with TakeOutput(). H2LoopbackServer runs it on
// 127.0.0.1 over plain TCP (prior knowledge, RFC 9113 §3.3) with a scripted reply per request.
//
// Thread safety: none; tests run everything on one io_context.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <nghttp2/nghttp2.h>

#include "net/asio.h"

namespace cistern::net::testing {

struct ServerRequest {
  int32_t stream = 0;
  std::map<std::string, std::string> fields;  // pseudo-headers included (":path")
  std::vector<std::pair<std::string, std::string>> ordered;  // as received
};

class H2ServerSession {
 public:
  // `settings` go in the server's first SETTINGS frame.
  explicit H2ServerSession(std::vector<nghttp2_settings_entry> settings = {});
  H2ServerSession(const H2ServerSession&) = delete;
  H2ServerSession& operator=(const H2ServerSession&) = delete;
  ~H2ServerSession();

  // False when nghttp2 rejected the bytes.
  bool Feed(std::span<const uint8_t> bytes);
  bool Feed(const std::string& bytes);
  // Everything nghttp2 wants to send now (flow control permitting).
  std::string TakeOutput();

  // Answers `stream` with `status`, `headers` and `body` (END_STREAM after the body).
  void Respond(int32_t stream, int status, std::vector<std::pair<std::string, std::string>> headers,
               std::string body);
  void Reset(int32_t stream, uint32_t error_code);
  void Goaway(int32_t last_stream, uint32_t error_code);
  void SubmitSettings(std::vector<nghttp2_settings_entry> settings);

  const std::vector<ServerRequest>& requests() const { return requests_; }
  int window_updates_received() const { return window_updates_; }
  int pings_received() const { return pings_; }
  int rst_streams_received() const { return rst_streams_; }
  std::vector<uint32_t> rst_codes() const { return rst_codes_; }
  bool want_read() const { return nghttp2_session_want_read(session_) != 0; }
  // Bytes of DATA the server has put into output so far.
  uint64_t data_bytes_sent() const { return data_bytes_sent_; }

  // Called when a request's headers are complete (END_HEADERS with END_STREAM).
  std::function<void(const ServerRequest&)> on_request;

  struct Body {
    std::string bytes;
    size_t offset = 0;
  };

 private:
  static int OnBeginHeaders(nghttp2_session*, const nghttp2_frame*, void*);
  static int OnHeader(nghttp2_session*, const nghttp2_frame*, const uint8_t*, size_t,
                      const uint8_t*, size_t, uint8_t, void*);
  static int OnFrameRecv(nghttp2_session*, const nghttp2_frame*, void*);
  static ssize_t ReadBody(nghttp2_session*, int32_t, uint8_t*, size_t, uint32_t*,
                          nghttp2_data_source*, void*);

  nghttp2_session* session_ = nullptr;
  std::map<int32_t, ServerRequest> partial_;
  std::vector<ServerRequest> requests_;
  std::map<int32_t, std::unique_ptr<Body>> bodies_;
  int window_updates_ = 0;
  int pings_ = 0;
  int rst_streams_ = 0;
  std::vector<uint32_t> rst_codes_;
  uint64_t data_bytes_sent_ = 0;
};

// What the loopback server does with one request.
struct H2Reply {
  enum class Kind { kRespond, kReset, kGoaway, kHang, kCloseConnection };
  Kind kind = Kind::kRespond;
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  uint32_t error_code = 0;     // kReset, kGoaway
  int32_t last_stream = 0;     // kGoaway
};

// Decides the reply to `request` on the `connection`-th connection (from 0). Replies are sent
// in the order requests arrive; kHang leaves the stream unanswered.
using H2Script = std::function<H2Reply(const ServerRequest& request, int connection)>;

class H2LoopbackServer {
 public:
  H2LoopbackServer(asio::io_context& io, H2Script script,
                   std::vector<nghttp2_settings_entry> settings = {});
  H2LoopbackServer(const H2LoopbackServer&) = delete;
  H2LoopbackServer& operator=(const H2LoopbackServer&) = delete;
  ~H2LoopbackServer();

  uint16_t port() const { return port_; }
  int connections() const { return connections_; }
  int requests() const { return requests_; }
  int pings() const { return pings_; }
  int rst_streams() const { return rst_streams_; }
  // When true, the server reads but ignores everything (no PING ack, no replies).
  void set_deaf(bool deaf) { deaf_ = deaf; }

 private:
  static Task<void> Accept(H2LoopbackServer* server);
  static Task<void> Serve(H2LoopbackServer* server, asio::ip::tcp::socket socket, int connection);

  asio::io_context& io_;
  H2Script script_;
  std::vector<nghttp2_settings_entry> settings_;
  asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  int connections_ = 0;
  int requests_ = 0;
  int pings_ = 0;
  int rst_streams_ = 0;
  bool deaf_ = false;
  std::shared_ptr<bool> alive_;
};

}  // namespace cistern::net::testing
