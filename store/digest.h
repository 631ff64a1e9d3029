// Content hashes: `Sha256Digest` (integrity, as the index declares it) and XXH3-64 (change
// detection only, e.g. "did this page's bytes change").
//
// SHA-256 is the only hash that verifies bytes that came over the network. XXH3 is never used to
// verify anything; it is a plain `uint64_t` so it cannot be mistaken for a `Sha256Digest`.
// Thread safety: the free functions are thread-safe; a hasher object is used by one thread at a
// time.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace cistern::store {

// A SHA-256 digest: 32 bytes. Value type; the default value is all zeros.
class Sha256Digest {
 public:
  static constexpr size_t kSize = 32;
  using Bytes = std::array<uint8_t, kSize>;

  Sha256Digest() = default;
  explicit Sha256Digest(const Bytes& bytes) : bytes_(bytes) {}

  // Parses exactly 64 hex digits, upper or lower case. Returns nullopt for any other input
  // (wrong length, a non-hex character, surrounding whitespace).
  static std::optional<Sha256Digest> FromHex(std::string_view hex);

  // 64 lowercase hex digits.
  std::string Hex() const;

  const Bytes& bytes() const { return bytes_; }

  friend bool operator==(const Sha256Digest&, const Sha256Digest&) = default;
  friend auto operator<=>(const Sha256Digest&, const Sha256Digest&) = default;

 private:
  Bytes bytes_{};
};

// Streaming SHA-256 (OpenSSL EVP behind a private implementation).
//
// Feed bytes with `Update`, any number of times and in any chunking; `Finish` returns the digest
// of everything fed since construction or the previous `Finish`, and resets the hasher so it can
// be reused. A moved-from hasher may only be destroyed or assigned to.
// Thread safety: one thread at a time.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;
  Sha256Hasher(Sha256Hasher&&) noexcept;
  Sha256Hasher& operator=(Sha256Hasher&&) noexcept;

  void Update(std::span<const uint8_t> bytes);
  Sha256Digest Finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// SHA-256 of `bytes` in one call.
Sha256Digest Sha256Of(std::span<const uint8_t> bytes);

// XXH3-64 (xxHash `XXH3_64bits`, seed 0) of `bytes`. For change detection only.
uint64_t Xxh3Of(std::span<const uint8_t> bytes);

// Streaming XXH3-64; same result as `Xxh3Of` over the concatenation of every `Update`.
// `Finish` resets the hasher for reuse. A moved-from hasher may only be destroyed or assigned to.
// Thread safety: one thread at a time.
class Xxh3Hasher {
 public:
  Xxh3Hasher();
  ~Xxh3Hasher();
  Xxh3Hasher(const Xxh3Hasher&) = delete;
  Xxh3Hasher& operator=(const Xxh3Hasher&) = delete;
  Xxh3Hasher(Xxh3Hasher&&) noexcept;
  Xxh3Hasher& operator=(Xxh3Hasher&&) noexcept;

  void Update(std::span<const uint8_t> bytes);
  uint64_t Finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cistern::store
