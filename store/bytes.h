// Small helpers for passing text where the store API takes bytes (`std::span<const uint8_t>`).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace cistern::store {

// Views the bytes of `text` without copying. Lifetime: the span borrows `text`'s storage.
inline std::span<const uint8_t> AsBytes(std::string_view text) {
  return {static_cast<const uint8_t*>(static_cast<const void*>(text.data())), text.size()};
}

// Views `bytes` as text without copying. Lifetime: the view borrows `bytes`' storage.
inline std::string_view AsText(std::span<const uint8_t> bytes) {
  return {static_cast<const char*>(static_cast<const void*>(bytes.data())), bytes.size()};
}

}  // namespace cistern::store
