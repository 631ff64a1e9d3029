// BodySink: the interface through which Client::Fetch hands a response to its caller, with
// backpressure; and StringSink, which keeps a bounded body in memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "net/asio.h"
#include "net/error.h"
#include "net/http_message.h"

namespace cistern::net {

// Receives one response. Executor: called on the client's executor.
class BodySink {
 public:
  virtual ~BodySink() = default;

  // Called once, for the final response (never for a followed redirect), before any body byte.
  // An error aborts the request, and Fetch returns it.
  virtual Result<void> OnHead(const ResponseHead& head) = 0;

  // Body bytes in order, already inflated if gzip. The client reads nothing more from the socket
  // until this completes: backpressure. `bytes` is valid only until the returned task completes.
  // An error aborts the request (the connection is closed), and Fetch returns it.
  virtual Task<Result<void>> OnData(std::span<const uint8_t> bytes) = 0;
};

// Keeps the body in a std::string of at most `max_bytes`.
// body()'s capacity always exceeds its size by at least kPadding bytes, so the engine can hand
// the buffer to simdjson as a padded view without copying.
class StringSink final : public BodySink {
 public:
  static constexpr size_t kPadding = 64;

  explicit StringSink(size_t max_bytes) : max_bytes_(max_bytes) {}

  // Errors: Errc::kBodyTooLarge when Content-Length already exceeds `max_bytes`.
  Result<void> OnHead(const ResponseHead& head) override;
  // Errors: Errc::kBodyTooLarge once the body would exceed `max_bytes`.
  Task<Result<void>> OnData(std::span<const uint8_t> bytes) override;

  const std::optional<ResponseHead>& head() const { return head_; }
  const std::string& body() const { return body_; }
  // Moves the body out (capacity, and so the padding, moves with it).
  std::string TakeBody() { return std::move(body_); }

 private:
  size_t max_bytes_;
  std::optional<ResponseHead> head_;
  std::string body_;
};

}  // namespace cistern::net
