// net::Errc, its error category, net::Error and net::Result<T>: how every fallible call in
// net/ reports failure, plus the classifiers retry decisions ask (IsTransient, IsCancelled).
//
// System and Asio codes pass through unchanged; OpenSSL failures use the "openssl" category and
// certificate verification failures the "x509" category, whose messages read like
// "certificate verify failed: self-signed certificate in certificate chain".
#pragma once

#include <string>
#include <system_error>
#include <type_traits>

#include <tl/expected.hpp>

namespace cistern::net {

enum class Errc {
  kProtocol = 1,       // the peer broke HTTP (bad status line, bad chunk size, oversized head)
  kTlsHandshake,       // the TLS handshake failed for a reason other than a system error
  kTlsConfig,          // the TLS context could not be set up (unreadable CA file)
  kTimeout,            // a deadline (connect, handshake, idle, request) passed
  kTooManyRedirects,   // more than ClientOptions::max_redirects redirects
  kBodyTooLarge,       // a sink's size limit was exceeded
  kInvalidUrl,         // a URL or Location header could not be parsed
  kUnsupportedScheme,  // not http or https, or an https -> http redirect
  kConnect,            // no address of the host accepted a connection
  kResolve,            // the host name did not resolve
  kSinkAborted,        // the BodySink refused the response
  kDecompress,         // a gzip body was corrupt or truncated, or used an unsupported coding
  kConnectionClosed,   // the peer closed the connection before the response was complete, or
                       // (HTTP/2) ended the stream short of its content-length
  kStreamReset,        // HTTP/2: the peer reset the stream (RST_STREAM) before it was complete
  kRefusedStream,      // HTTP/2: the peer did not process the stream (REFUSED_STREAM, or a GOAWAY
                       // whose last-stream-id is below it); safe to retry on another connection
  kProxyRefused,       // the HTTP proxy answered CONNECT with a 4xx other than 407 (or 1xx, 3xx)
  kProxyAuthRequired,  // the HTTP proxy answered CONNECT with 407 (or 401): credentials missing
                       // or wrong
};

const std::error_category& NetCategory() noexcept;
std::error_code make_error_code(Errc e) noexcept;

// OpenSSL error-queue codes (ERR_get_error values); message() is OpenSSL's reason string.
const std::error_category& OpenSslCategory() noexcept;
// X509 verification results (X509_V_ERR_*); message() is
// "certificate verify failed: <X509_verify_cert_error_string>".
const std::error_category& X509Category() noexcept;

struct Error {
  std::error_code code;  // Errc, std/system, Asio, "openssl" or "x509" category
  std::string detail;    // where: "GET https://host/simple/numpy/: read response body"

  // "<detail>: <code.message()>", or just the code's message when there is no detail.
  std::string message() const;
};

template <class T>
using Result = tl::expected<T, Error>;

// Builds an unexpected Error, for `return Fail(...)` in functions returning Result<T>.
[[nodiscard]] inline tl::unexpected<Error> Fail(std::error_code code, std::string detail) {
  return tl::unexpected<Error>(Error{code, std::move(detail)});
}
[[nodiscard]] inline tl::unexpected<Error> Fail(Errc code, std::string detail) {
  return Fail(make_error_code(code), std::move(detail));
}

// Returns `error` with `context + ": "` prepended to its detail (each layer adds what it knows).
[[nodiscard]] Error WithContext(Error error, std::string_view context);

// True for failures worth retrying later: connection resets and refusals, EOF before the response
// was complete, timeouts, resolver failures, HTTP/2 streams reset by the peer (kStreamReset) or
// refused before processing (kRefusedStream). False for TLS verification and configuration
// failures, protocol violations, redirects, invalid URLs, sink refusals, a proxy's refusal
// (kProxyRefused, kProxyAuthRequired) and cancellation.
bool IsTransient(const Error& error);

// True when the operation was cancelled (operation_aborted). A cancelled operation is never
// retried.
bool IsCancelled(const Error& error);

}  // namespace cistern::net

template <>
struct std::is_error_code_enum<cistern::net::Errc> : std::true_type {};
