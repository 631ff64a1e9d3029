#include "net/body_sink.h"

#include <algorithm>

namespace cistern::net {

Result<void> StringSink::OnHead(const ResponseHead& head) {
  if (head.content_length && *head.content_length > max_bytes_) {
    return Fail(Errc::kBodyTooLarge, "Content-Length " + std::to_string(*head.content_length) +
                                         " exceeds the limit of " + std::to_string(max_bytes_) +
                                         " bytes");
  }
  head_ = head;
  body_.clear();
  body_.reserve(static_cast<size_t>(head.content_length.value_or(0)) + kPadding);
  return {};
}

Task<Result<void>> StringSink::OnData(std::span<const uint8_t> bytes) {
  if (bytes.size() > max_bytes_ - body_.size()) {
    co_return Fail(Errc::kBodyTooLarge,
                   "body exceeds the limit of " + std::to_string(max_bytes_) + " bytes");
  }
  size_t needed = body_.size() + bytes.size() + kPadding;
  if (body_.capacity() < needed) {
    body_.reserve(std::max(needed, body_.capacity() * 2));
  }
  body_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  co_return Result<void>{};
}

}  // namespace cistern::net
