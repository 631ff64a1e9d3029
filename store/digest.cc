#include "store/digest.h"

#include <cstdio>
#include <cstdlib>
#include <utility>

#include <openssl/evp.h>
#include <xxhash.h>

namespace cistern::store {
namespace {

// Failures here mean OpenSSL could not allocate or is broken; there is nothing to recover
// (style §7: cannot fail after start-up with valid arguments).
[[noreturn]] void Fatal(const char* what) {
  std::fprintf(stderr, "cistern: fatal: %s\n", what);
  std::abort();
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

struct EvpMdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
};
using EvpMdCtxPtr = std::unique_ptr<EVP_MD_CTX, EvpMdCtxFree>;

struct Xxh3StateFree {
  void operator()(XXH3_state_t* state) const noexcept { XXH3_freeState(state); }
};
using Xxh3StatePtr = std::unique_ptr<XXH3_state_t, Xxh3StateFree>;

}  // namespace

std::optional<Sha256Digest> Sha256Digest::FromHex(std::string_view hex) {
  if (hex.size() != 2 * kSize) {
    return std::nullopt;
  }
  Bytes bytes{};
  for (size_t i = 0; i < kSize; ++i) {
    const int high = HexValue(hex[2 * i]);
    const int low = HexValue(hex[2 * i + 1]);
    if (high < 0 || low < 0) {
      return std::nullopt;
    }
    bytes[i] = static_cast<uint8_t>(high * 16 + low);
  }
  return Sha256Digest(bytes);
}

std::string Sha256Digest::Hex() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * kSize, '\0');
  for (size_t i = 0; i < kSize; ++i) {
    out[2 * i] = kDigits[bytes_[i] >> 4];
    out[2 * i + 1] = kDigits[bytes_[i] & 0x0f];
  }
  return out;
}

struct Sha256Hasher::Impl {
  EvpMdCtxPtr ctx{EVP_MD_CTX_new()};

  void Init() {
    if (ctx == nullptr || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
      Fatal("EVP_DigestInit_ex(sha256) failed");
    }
  }
};

Sha256Hasher::Sha256Hasher() : impl_(std::make_unique<Impl>()) { impl_->Init(); }
Sha256Hasher::~Sha256Hasher() = default;
Sha256Hasher::Sha256Hasher(Sha256Hasher&&) noexcept = default;
Sha256Hasher& Sha256Hasher::operator=(Sha256Hasher&&) noexcept = default;

void Sha256Hasher::Update(std::span<const uint8_t> bytes) {
  if (bytes.empty()) {
    return;
  }
  if (EVP_DigestUpdate(impl_->ctx.get(), bytes.data(), bytes.size()) != 1) {
    Fatal("EVP_DigestUpdate(sha256) failed");
  }
}

Sha256Digest Sha256Hasher::Finish() {
  Sha256Digest::Bytes out{};
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(impl_->ctx.get(), out.data(), &length) != 1 ||
      length != Sha256Digest::kSize) {
    Fatal("EVP_DigestFinal_ex(sha256) failed");
  }
  impl_->Init();
  return Sha256Digest(out);
}

Sha256Digest Sha256Of(std::span<const uint8_t> bytes) {
  Sha256Digest::Bytes out{};
  unsigned int length = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), out.data(), &length, EVP_sha256(), nullptr) != 1 ||
      length != Sha256Digest::kSize) {
    Fatal("EVP_Digest(sha256) failed");
  }
  return Sha256Digest(out);
}

uint64_t Xxh3Of(std::span<const uint8_t> bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

struct Xxh3Hasher::Impl {
  Xxh3StatePtr state{XXH3_createState()};

  void Init() {
    if (state == nullptr || XXH3_64bits_reset(state.get()) != XXH_OK) {
      Fatal("XXH3_64bits_reset failed");
    }
  }
};

Xxh3Hasher::Xxh3Hasher() : impl_(std::make_unique<Impl>()) { impl_->Init(); }
Xxh3Hasher::~Xxh3Hasher() = default;
Xxh3Hasher::Xxh3Hasher(Xxh3Hasher&&) noexcept = default;
Xxh3Hasher& Xxh3Hasher::operator=(Xxh3Hasher&&) noexcept = default;

void Xxh3Hasher::Update(std::span<const uint8_t> bytes) {
  if (bytes.empty()) {
    return;
  }
  if (XXH3_64bits_update(impl_->state.get(), bytes.data(), bytes.size()) != XXH_OK) {
    Fatal("XXH3_64bits_update failed");
  }
}

uint64_t Xxh3Hasher::Finish() {
  const uint64_t value = XXH3_64bits_digest(impl_->state.get());
  impl_->Init();
  return value;
}

}  // namespace cistern::store
