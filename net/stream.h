// Stream: a connected byte stream over TCP, optionally upgraded to TLS. Connections read and
// write through it without knowing which.
//
// Executor: the executor of the coroutine that connected it; all calls are made there.
// Thread safety: none. At most one read and one write in flight at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "net/asio.h"
#include "net/error.h"

namespace cistern::net {

class TlsContext;

struct IoResult {
  std::error_code ec;  // system or Asio code; an end of stream is asio::error::eof
  size_t bytes = 0;
};

class Stream {
 public:
  Stream();  // closed
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  Stream(Stream&&) noexcept;
  Stream& operator=(Stream&&) noexcept;
  ~Stream();

  // Connects to the first of `endpoints` that accepts, in order, on the caller's executor.
  // Errors: Errc::kConnect naming the last endpoint's failure; operation_aborted if cancelled.
  // Cancellation: supported (terminal and partial).
  static Task<Result<Stream>> ConnectTcp(std::vector<asio::ip::tcp::endpoint> endpoints);

  // Performs the TLS client handshake over this TCP stream: SNI (for names), certificate and
  // host name (or IP address) verification, ALPN.
  // Errors: "x509" category codes for verification failures ("certificate verify failed:
  // ..."), "openssl" codes for other handshake failures, system codes for resets and EOF.
  // Cancellation: supported. Lifetime: `tls` must outlive this stream.
  Task<Result<void>> StartTls(TlsContext& tls, std::string host);

  // Reads at least one byte into `buffer`. A TLS stream truncated without close_notify reports
  // asio::error::eof like TCP; the HTTP framing decides whether the response was complete.
  Task<IoResult> ReadSome(std::span<uint8_t> buffer);

  // Writes all of `bytes`.
  Task<IoResult> Write(std::span<const uint8_t> bytes);

  // Closes the socket at once (no TLS close_notify); pending operations complete with
  // operation_aborted.
  void Close();

  bool is_open() const;
  bool is_tls() const;
  // The ALPN protocol the server selected ("h2" or "http/1.1"), or empty (plain TCP, or no
  // ALPN answer: HTTP/1.1).
  std::string alpn_protocol() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cistern::net
