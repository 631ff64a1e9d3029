#include "net/http1_connection.h"

#include <optional>
#include <string>

#include "net/internal/body_decoder.h"

namespace cistern::net {

Http1Connection::Http1Connection(Stream stream, TransportStats& stats, size_t read_buffer_size,
                                 std::chrono::steady_clock::duration idle_timeout,
                                 RateLimiter* rate_limiter)
    : stream_(std::move(stream)),
      stats_(stats),
      rate_limiter_(rate_limiter),
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
  internal::BodyDecoder decoder;
  std::optional<asio::steady_timer> throttle;
  for (;;) {
    if (rate_limiter_ != nullptr) {
      // Waiting for our own rate limit is not a stalled peer.
      idle.Suspend();
      if (!throttle) {
        throttle.emplace(co_await asio::this_coro::executor);
      }
      std::error_code waited = co_await rate_limiter_->WaitToRead(*throttle);
      if (waited) {
        co_return Fail(waited, "wait for the rate limit");
      }
    }
    idle.Touch();
    IoResult read = co_await stream_.ReadSome(read_buffer_);
    if (rate_limiter_ != nullptr && !read.ec) {
      rate_limiter_->Consumed(read.bytes);
    }
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
          auto begun = decoder.Begin(*head, request.accept_gzip);
          if (!begun) {
            co_return tl::unexpected(begun.error());
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
          auto delivered = co_await decoder.Deliver(event.data, sink);
          if (!delivered) {
            co_return tl::unexpected(delivered.error());
          }
          break;
        }
        case Http1Event::Kind::kComplete: {
          auto finished = decoder.Finish();
          if (!finished) {
            co_return tl::unexpected(finished.error());
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
