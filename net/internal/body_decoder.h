// BodyDecoder: what HTTP/1.1 and HTTP/2 connections share between the bytes of a response body
// and a BodySink: Content-Encoding handling (gzip inflated with zlib, identity passed through,
// anything else refused) and delivery in bounded pieces. Internal to net/.
//
// Thread safety: none; one response at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "net/asio.h"
#include "net/body_sink.h"
#include "net/error.h"
#include "net/http_message.h"

namespace cistern::net::internal {

class BodyDecoder {
 public:
  BodyDecoder();
  BodyDecoder(const BodyDecoder&) = delete;
  BodyDecoder& operator=(const BodyDecoder&) = delete;
  ~BodyDecoder();

  // Prepares for the body of `head`: when `accept_gzip` and the head's Content-Encoding is gzip
  // (or x-gzip), the body is inflated and `head.content_length` is cleared (the sink's length is
  // unknown). Call before handing `head` to the sink.
  // Errors: Errc::kDecompress for a Content-Encoding other than gzip or identity (only when
  // `accept_gzip`), or when zlib cannot be initialised.
  [[nodiscard]] Result<void> Begin(ResponseHead& head, bool accept_gzip);

  // Hands `raw` body bytes to `sink`, inflated if the body is gzip, one OnData at a time.
  // Errors: Errc::kDecompress for a corrupt gzip stream; the sink's errors unchanged.
  // Lifetime: `raw` and `sink` must outlive the await (await in the same statement).
  Task<Result<void>> Deliver(std::span<const uint8_t> raw, BodySink& sink);

  // The body ended. Errors: Errc::kDecompress when a gzip body ended inside a gzip member.
  [[nodiscard]] Result<void> Finish() const;

 private:
  class GzipInflater;
  std::unique_ptr<GzipInflater> inflater_;  // set by Begin for a gzip body
  std::vector<uint8_t> inflate_buffer_;
};

}  // namespace cistern::net::internal
