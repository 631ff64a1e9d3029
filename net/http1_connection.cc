#include "net/http1_connection.h"

#include <optional>
#include <string>

#define ZLIB_CONST
#include <zlib.h>

namespace cistern::net {
namespace {

constexpr size_t kInflateBufferSize = 64 * 1024;

// A gzip decoder (RFC 1952) over zlib. Concatenated members are decoded one after another.
class GzipInflater {
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

Http1Connection::Http1Connection(Stream stream, TransportStats& stats, size_t read_buffer_size,
                                 std::chrono::steady_clock::duration idle_timeout)
    : stream_(std::move(stream)),
      stats_(stats),
      idle_timeout_(idle_timeout),
      read_buffer_(read_buffer_size) {}

Task<Result<ResponseHead>> Http1Connection::RoundTrip(const Request& request,
                                                      std::string_view user_agent, BodySink& sink) {
  reusable_ = false;
  received_bytes_ = false;
  auto request_bytes = Http1Codec::SerializeRequest(request, user_agent);
  if (!request_bytes) {
    co_return tl::unexpected(request_bytes.error());
  }
  codec_.BeginResponse(request.method);
  IdleDeadline idle(idle_timeout_);
  auto result = co_await WithIdleDeadline(Exchange(request, *request_bytes, sink, idle), idle);
  if (!result) {
    reusable_ = false;
    stream_.Close();
  }
  co_return result;
}

Task<Result<ResponseHead>> Http1Connection::Exchange(const Request& request,
                                                     std::string_view request_bytes, BodySink& sink,
                                                     IdleDeadline& idle) {
  idle.Touch();
  IoResult written = co_await stream_.Write(std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(request_bytes.data()), request_bytes.size()));
  if (written.ec) {
    co_return Fail(written.ec, "write request");
  }
  std::optional<ResponseHead> head;
  std::optional<GzipInflater> inflater;
  for (;;) {
    idle.Touch();
    IoResult read = co_await stream_.ReadSome(read_buffer_);
    bool stray_bytes = false;
    bool at_eof = false;
    if (read.ec == asio::error::eof) {
      at_eof = true;
      auto finished = codec_.FeedEof();
      if (!finished) {
        co_return tl::unexpected(finished.error());
      }
    } else if (read.ec) {
      co_return Fail(read.ec, head ? "read response body" : "read response head");
    } else {
      received_bytes_ = true;
      stats_.bytes_received += read.bytes;
      auto consumed = codec_.Feed(std::span<const uint8_t>(read_buffer_.data(), read.bytes));
      if (!consumed) {
        co_return tl::unexpected(consumed.error());
      }
      stray_bytes = *consumed < read.bytes;
    }
    // Events borrow read_buffer_, which is not touched again until they are all handled.
    for (size_t i = 0; i < codec_.events().size(); ++i) {
      Http1Event event = codec_.events()[i];
      switch (event.kind) {
        case Http1Event::Kind::kHead: {
          const Http1Head& parsed = codec_.head();
          head.emplace();
          head->status = parsed.status;
          head->reason = parsed.reason;
          head->headers = parsed.headers;
          head->url = request.url;
          head->protocol = "http/1.1";
          head->content_length = parsed.content_length;
          if (auto coding = parsed.headers.Get("Content-Encoding"); coding && request.accept_gzip) {
            std::string name = TrimLower(*coding);
            if (name == "gzip" || name == "x-gzip") {
              inflater.emplace();
              auto init = inflater->Init();
              if (!init) {
                co_return tl::unexpected(init.error());
              }
              head->content_length.reset();
              if (inflate_buffer_.empty()) {
                inflate_buffer_.resize(kInflateBufferSize);
              }
            } else if (name != "identity") {
              co_return Fail(Errc::kDecompress, "unsupported Content-Encoding \"" + name + "\"");
            }
          }
          auto accepted = sink.OnHead(*head);
          if (!accepted) {
            co_return tl::unexpected(accepted.error());
          }
          break;
        }
        case Http1Event::Kind::kBody: {
          // Waiting for the sink is backpressure, not a stalled peer.
          idle.Suspend();
          if (!inflater) {
            auto delivered = co_await sink.OnData(event.data);
            if (!delivered) {
              co_return tl::unexpected(delivered.error());
            }
            break;
          }
          inflater->SetInput(event.data);
          for (;;) {
            auto chunk = inflater->Next(inflate_buffer_);
            if (!chunk) {
              co_return tl::unexpected(chunk.error());
            }
            if (chunk->empty()) {
              break;
            }
            auto delivered = co_await sink.OnData(*chunk);
            if (!delivered) {
              co_return tl::unexpected(delivered.error());
            }
          }
          break;
        }
        case Http1Event::Kind::kComplete: {
          if (inflater && !inflater->complete()) {
            co_return Fail(Errc::kDecompress, "gzip body ended before the gzip stream did");
          }
          reusable_ = codec_.keep_alive() && !stray_bytes && !at_eof;
          codec_.ClearEvents();
          co_return std::move(*head);
        }
      }
    }
    codec_.ClearEvents();
    if (at_eof) {
      co_return Fail(Errc::kConnectionClosed, "connection closed before the response was complete");
    }
  }
}

}  // namespace cistern::net
