// Http1Codec: HTTP/1.1 without I/O. Serialises requests to bytes and turns response bytes into
// events (head, body chunks, message complete). llhttp does the parsing; this is the only file
// pair that knows it.
//
// One codec parses the responses of one connection, one at a time: BeginResponse() before each.
// Body events point into the buffer given to Feed(), so they are valid until that buffer is
// reused. Thread safety: none; one owner.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "net/error.h"
#include "net/http_message.h"

namespace cistern::net {

struct Http1Head {
  int status = 0;
  std::string reason;
  HeaderList headers;
  int version_minor = 1;  // HTTP/1.<minor>
  // The Content-Length header's value, when the body is delimited by it.
  std::optional<uint64_t> content_length;
};

struct Http1Event {
  enum class Kind { kHead, kBody, kComplete };
  Kind kind;
  std::span<const uint8_t> data;  // kBody only: borrowed from the buffer given to Feed()
};

class Http1Codec {
 public:
  // Upper bound on the bytes of a response head (status line and header fields), against a
  // peer that never ends its head.
  static constexpr size_t kMaxHeadBytes = 256 * 1024;

  Http1Codec();
  Http1Codec(const Http1Codec&) = delete;
  Http1Codec& operator=(const Http1Codec&) = delete;
  ~Http1Codec();

  // Serialises the head of `request` (which has no body): request line with url.target(),
  // then Host, User-Agent (`user_agent` unless the request has one), Accept-Encoding: gzip (when
  // request.accept_gzip), Connection: keep-alive, then the request's other headers. A request
  // header named Host, User-Agent, Accept-Encoding or Connection replaces the default.
  // Errors: Errc::kProtocol when the method is not a token or a header contains CR, LF or NUL.
  [[nodiscard]] static Result<std::string> SerializeRequest(const Request& request,
                                                            std::string_view user_agent);

  // Prepares for the response to a request with `method`: a HEAD response has no body.
  void BeginResponse(std::string_view method);

  // Parses `bytes` and appends events. Returns how many bytes were consumed: fewer than given
  // only when the response completed before their end (the rest belongs to nothing; a caller
  // should not reuse the connection). Interim 1xx responses are skipped.
  // Errors: Errc::kProtocol naming llhttp's error and reason ("HPE_INVALID_CHUNK_SIZE: ...").
  [[nodiscard]] Result<size_t> Feed(std::span<const uint8_t> bytes);

  // The peer closed the connection. Completes a close-delimited body.
  // Errors: Errc::kConnectionClosed when the response was not complete.
  [[nodiscard]] Result<void> FeedEof();

  const std::vector<Http1Event>& events() const;
  void ClearEvents();

  const Http1Head& head() const;  // valid once a kHead event was produced
  bool has_head() const;
  bool is_complete() const;
  // Whether the connection may carry another request after this complete response (llhttp's
  // verdict from the version and Connection header). False until complete.
  bool keep_alive() const;
  // Whether any byte of this response was fed.
  bool started() const;

  struct Impl;  // opaque: the llhttp parser and its recorded state (http1_codec.cc)

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace cistern::net
