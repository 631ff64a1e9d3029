#include "net/internal/body_decoder.h"

#include <string>
#include <string_view>

#define ZLIB_CONST
#include <zlib.h>

namespace cistern::net::internal {
namespace {

constexpr size_t kInflateBufferSize = 64 * 1024;

std::string TrimLower(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

}  // namespace

// A gzip decoder (RFC 1952) over zlib. Concatenated members are decoded one after another.
class BodyDecoder::GzipInflater {
 public:
  GzipInflater() = default;
  GzipInflater(const GzipInflater&) = delete;
  GzipInflater& operator=(const GzipInflater&) = delete;
  ~GzipInflater() {
    if (initialised_) {
      inflateEnd(&z_);
    }
  }

  [[nodiscard]] Result<void> Init() {
    // 16 + MAX_WBITS: expect a gzip header and trailer, not a zlib one.
    int rc = inflateInit2(&z_, 16 + MAX_WBITS);
    if (rc != Z_OK) {
      return Fail(Errc::kDecompress, "inflateInit2 failed with " + std::to_string(rc));
    }
    initialised_ = true;
    return {};
  }

  void SetInput(std::span<const uint8_t> input) {
    z_.next_in = input.data();
    z_.avail_in = static_cast<uInt>(input.size());
    fed_any_ = fed_any_ || !input.empty();
  }

  // Inflates pending input into `out`. Returns the bytes produced; empty once the input is used.
  [[nodiscard]] Result<std::span<const uint8_t>> Next(std::span<uint8_t> out) {
    while (z_.avail_in > 0) {
      if (finished_) {
        // Another gzip member follows the one that ended.
        if (inflateReset(&z_) != Z_OK) {
          return Fail(Errc::kDecompress, "inflateReset failed");
        }
        finished_ = false;
      }
      z_.next_out = out.data();
      z_.avail_out = static_cast<uInt>(out.size());
      int rc = inflate(&z_, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {
        finished_ = true;
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        return Fail(Errc::kDecompress,
                    std::string("corrupt gzip body: ") + (z_.msg != nullptr ? z_.msg : "error"));
      }
      size_t produced = out.size() - z_.avail_out;
      if (produced > 0) {
        return out.first(produced);
      }
      if (rc == Z_BUF_ERROR) {
        break;
      }
    }
    return std::span<const uint8_t>();
  }

  // Whether the body ended where a gzip member ended (or carried no bytes at all).
  bool complete() const { return finished_ || !fed_any_; }

 private:
  z_stream z_{};
  bool initialised_ = false;
  bool finished_ = false;
  bool fed_any_ = false;
};

BodyDecoder::BodyDecoder() = default;
BodyDecoder::~BodyDecoder() = default;

Result<void> BodyDecoder::Begin(ResponseHead& head, bool accept_gzip) {
  inflater_.reset();
  if (!accept_gzip) {
    return {};
  }
  auto coding = head.headers.Get("Content-Encoding");
  if (!coding) {
    return {};
  }
  std::string name = TrimLower(*coding);
  if (name == "identity") {
    return {};
  }
  if (name != "gzip" && name != "x-gzip") {
    return Fail(Errc::kDecompress, "unsupported Content-Encoding \"" + name + "\"");
  }
  auto inflater = std::make_unique<GzipInflater>();
  auto init = inflater->Init();
  if (!init) {
    return init;
  }
  inflater_ = std::move(inflater);
  head.content_length.reset();
  if (inflate_buffer_.empty()) {
    inflate_buffer_.resize(kInflateBufferSize);
  }
  return {};
}

Task<Result<void>> BodyDecoder::Deliver(std::span<const uint8_t> raw, BodySink& sink) {
  if (!inflater_) {
    co_return co_await sink.OnData(raw);
  }
  inflater_->SetInput(raw);
  for (;;) {
    auto chunk = inflater_->Next(inflate_buffer_);
    if (!chunk) {
      co_return tl::unexpected(chunk.error());
    }
    if (chunk->empty()) {
      co_return Result<void>{};
    }
    auto delivered = co_await sink.OnData(*chunk);
    if (!delivered) {
      co_return delivered;
    }
  }
}

Result<void> BodyDecoder::Finish() const {
  if (inflater_ && !inflater_->complete()) {
    return Fail(Errc::kDecompress, "gzip body ended before the gzip stream did");
  }
  return {};
}

}  // namespace cistern::net::internal
