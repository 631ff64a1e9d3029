#include "net/h2_connection.h"

#include <algorithm>
#include <string>
#include <utility>

#include "net/internal/body_decoder.h"

namespace cistern::net {

// What the reader hands one stream: the head, raw body bytes not yet delivered, the end or the
// failure. The RoundTrip owning it waits on `wake`.
struct H2Connection::Slot {
  explicit Slot(const Executor& ex)
      : wake(ex, asio::steady_timer::time_point::max()),
        last_activity(std::chrono::steady_clock::now()) {}

  asio::steady_timer wake;  // cancelled (with `notified`) when something arrived
  bool notified = false;
  bool has_head = false;
  int status = 0;
  HeaderList headers;
  std::vector<uint8_t> pending;  // raw body bytes for the sink, in order
  size_t unconsumed = 0;         // body bytes received and not yet given back to the codec
  bool ended = false;
  std::optional<Error> error;
  // When the stream last received something (its head, body bytes) or its sink last took
  // bytes: the per-stream idle timeout counts from here.
  std::chrono::steady_clock::time_point last_activity;
  // Silent for idle_timeout, but so was the connection: look again then.
  std::chrono::steady_clock::time_point recheck_at;
};

// Unregisters a stream however its RoundTrip ends (return, error, cancellation, destruction):
// an unfinished stream is reset, and its undelivered bytes are consumed so the connection
// window does not shrink for the others.
class H2Connection::SlotGuard {
 public:
  SlotGuard(H2Connection& connection, StreamId id, Slot& slot)
      : connection_(connection), id_(id), slot_(slot) {}
  SlotGuard(const SlotGuard&) = delete;
  SlotGuard& operator=(const SlotGuard&) = delete;
  ~SlotGuard() { connection_.Forget(id_, slot_); }

 private:
  H2Connection& connection_;
  StreamId id_;
  Slot& slot_;
};

H2Connection::H2Connection(Executor executor, Stream stream, TransportStats& stats,
                           H2ConnectionOptions options)
    : stream_(std::move(stream)),
      stats_(stats),
      options_(options),
      codec_(options.codec),
      read_buffer_(options.read_buffer_size),
      writer_wake_(executor, asio::steady_timer::time_point::max()),
      watchdog_(executor),
      throttle_(executor),
      last_read_(std::chrono::steady_clock::now()),
      last_received_(last_read_) {
  options_.max_streams = std::max<size_t>(options_.max_streams, 1);
}

H2Connection::~H2Connection() = default;

size_t H2Connection::stream_limit() const {
  return std::min<size_t>(options_.max_streams, codec_.peer_max_concurrent_streams());
}

Task<void> H2Connection::Run() {
  TaskGroup group(co_await asio::this_coro::executor);
  group.Spawn(WriteLoop());
  group.Spawn(Watchdog());
  co_await ReadLoop();
  FailConnection(Error{make_error_code(Errc::kConnectionClosed), "HTTP/2 connection closed"});
  co_await group.Wait();
}

Task<void> H2Connection::ReadLoop() {
  RateLimiter* rate_limiter = options_.rate_limiter;
  while (!closed_) {
    // The limiter belongs to the client, which may be gone once the connection is closed:
    // closed_ is checked after every wait, before the limiter is asked again.
    bool waited = false;
    while (rate_limiter != nullptr) {
      auto delay = rate_limiter->Delay();
      if (delay == std::chrono::steady_clock::duration::zero()) {
        break;
      }
      throttled_ = true;
      throttle_.expires_after(delay);
      // Cancelled only by FailConnection(), which the check below sees.
      std::ignore = co_await throttle_.async_wait(use_task);
      throttled_ = false;
      waited = true;
      if (closed_) {
        co_return;
      }
    }
    if (waited) {
      last_read_ = std::chrono::steady_clock::now();  // the peer's silence counts from here
    }
    IoResult read = co_await stream_.ReadSome(read_buffer_);
    if (closed_) {
      co_return;  // Close() or a failure elsewhere; the pool may already be gone
    }
    if (rate_limiter != nullptr && !read.ec) {
      rate_limiter->Consumed(read.bytes);
    }
    if (read.ec == asio::error::eof) {
      FailConnection(Error{make_error_code(Errc::kConnectionClosed),
                 goaway_ ? "the server closed the connection after GOAWAY"
                         : "the server closed the connection"});
      co_return;
    }
    if (read.ec) {
      FailConnection(Error{read.ec, "read from the HTTP/2 connection"});
      co_return;
    }
    stats_.bytes_received += read.bytes;
    last_read_ = std::chrono::steady_clock::now();
    last_received_ = last_read_;
    ping_outstanding_ = false;
    auto fed = codec_.Feed(std::span<const uint8_t>(read_buffer_.data(), read.bytes));
    if (!fed) {
      FailConnection(fed.error());
      co_return;
    }
    // Events borrow read_buffer_, which is not read into again before they are all handled.
    HandleEvents();
    if (codec_.has_output()) {
      WakeWriter();
    }
    if (goaway_ && slots_.empty()) {
      FailConnection(Error{make_error_code(Errc::kConnectionClosed), "closed after GOAWAY"});
    }
  }
}

Task<void> H2Connection::WriteLoop() {
  std::vector<uint8_t> buffer;
  while (!closed_) {
    if (!codec_.has_output()) {
      writer_wake_.expires_at(asio::steady_timer::time_point::max());
      // Woken by cancel() when output is queued or the connection closes; both are re-checked.
      std::ignore = co_await writer_wake_.async_wait(use_task);
      continue;
    }
    // One write carries every frame queued so far (style §8: coalesce small frames).
    codec_.TakeOutput(buffer);
    IoResult written = co_await stream_.Write(buffer);
    if (written.ec && !closed_) {
      FailConnection(Error{written.ec, "write to the HTTP/2 connection"});
    }
  }
}

Task<void> H2Connection::Watchdog() {
  using Clock = std::chrono::steady_clock;
  while (!closed_) {
    watchdog_.expires_at(last_read_ + options_.idle_timeout);
    // Cancelled only by FailConnection(), which the loop condition sees.
    std::ignore = co_await watchdog_.async_wait(use_task);
    if (closed_) {
      co_return;
    }
    Clock::time_point now = Clock::now();
    if (now < last_read_ + options_.idle_timeout) {
      continue;  // bytes arrived meanwhile
    }
    if (waiting_ == 0 || throttled_) {
      // Nobody waits for the peer (idle, every stream waits for its sink, or the reader waits
      // for the rate limiter): silence is fine.
      last_read_ = now;
      continue;
    }
    if (!ping_outstanding_) {
      codec_.Ping();
      ping_outstanding_ = true;
      last_read_ = now;
      WakeWriter();
      continue;
    }
    FailConnection(Error{make_error_code(Errc::kTimeout),
               "HTTP/2 peer silent for " + internal::DurationText(options_.idle_timeout) +
                   " and did not answer a PING"});
  }
}

void H2Connection::HandleEvents() {
  // Consume() and Reset() below may queue more events; handle until none is left.
  const auto now = std::chrono::steady_clock::now();
  while (!codec_.events().empty()) {
    codec_.TakeEvents(events_);
    bool capacity_changed = false;
    for (H2Event& event : events_) {
      auto it = slots_.find(static_cast<int32_t>(event.stream));
      Slot* slot = it == slots_.end() ? nullptr : it->second;
      switch (event.kind) {
        case H2Event::Kind::kHead:
          if (slot != nullptr) {
            slot->last_activity = now;
            slot->has_head = true;
            slot->status = event.status;
            slot->headers = std::move(event.headers);
            Notify(*slot);
          }
          break;
        case H2Event::Kind::kData:
          if (slot == nullptr) {
            codec_.Consume(event.stream, event.data.size());
            break;
          }
          slot->pending.insert(slot->pending.end(), event.data.begin(), event.data.end());
          slot->unconsumed += event.data.size();
          slot->last_activity = now;
          Notify(*slot);
          break;
        case H2Event::Kind::kEnd:
          if (slot != nullptr) {
            slot->ended = true;
            Notify(*slot);
          }
          break;
        case H2Event::Kind::kReset:
          if (slot != nullptr && !slot->error) {
            slot->error = std::move(event.error);
            if (slot->has_head && slot->error->code == Errc::kRefusedStream) {
              // A head arrived, so the peer did process it: not safe to retry blindly.
              slot->error->code = make_error_code(Errc::kStreamReset);
            }
            Notify(*slot);
          }
          break;
        case H2Event::Kind::kGoaway:
          goaway_ = true;
          capacity_changed = true;
          break;
        case H2Event::Kind::kSettings:
          capacity_changed = true;
          break;
        case H2Event::Kind::kPingAck:
          ping_outstanding_ = false;
          break;
      }
    }
    events_.clear();
    if (capacity_changed) {
      CapacityChanged();
    }
  }
}

bool H2Connection::StreamIdleTimedOut(Slot& slot) {
  const auto now = std::chrono::steady_clock::now();
  if (now < slot.last_activity + options_.idle_timeout) {
    return false;
  }
  // Not the stream's fault: the rate limiter holds the reader back, or the sinks of other
  // streams hold the connection window shut (the peer may not send). Count again from now.
  if (throttled_ || codec_.connection_receive_window() < kMinUsableWindow) {
    slot.last_activity = now;
    return false;
  }
  // The peer is alive when it sent something (other streams' bytes, a PING's answer) well after
  // this stream went quiet. If not, the whole connection is silent: the watchdog's PING decides
  // whether it is dead; look again in half an idle period.
  if (last_received_ <= slot.last_activity + options_.idle_timeout / 2) {
    slot.recheck_at = now + options_.idle_timeout / 2;
    return false;
  }
  return true;
}

void H2Connection::Notify(Slot& slot) {
  slot.notified = true;
  slot.wake.cancel();
}

void H2Connection::CapacityChanged() {
  if (on_capacity_change_) {
    on_capacity_change_();
  }
}

void H2Connection::FailConnection(Error error) {
  if (closed_) {
    return;
  }
  closed_ = true;
  close_error_ = error;
  for (auto& [id, slot] : slots_) {
    if (!slot->ended && !slot->error) {
      slot->error = error;
      Notify(*slot);
    }
  }
  stream_.Close();
  writer_wake_.cancel();
  watchdog_.cancel();
  throttle_.cancel();
  CapacityChanged();
}

void H2Connection::Close() {
  FailConnection(Error{make_error_code(Errc::kConnectionClosed), "HTTP/2 connection closed by the client"});
}

void H2Connection::Forget(StreamId id, Slot& slot) {
  slots_.erase(static_cast<int32_t>(id));
  if (closed_) {
    return;
  }
  if (!slot.ended && !slot.error) {
    // RFC 9113 §8.7: a request the client no longer wants is cancelled with RST_STREAM.
    codec_.Reset(id, kH2Cancel);
  }
  codec_.Consume(id, slot.unconsumed);
  HandleEvents();
  if (codec_.has_output()) {
    WakeWriter();
  }
  if (goaway_ && slots_.empty()) {
    FailConnection(Error{make_error_code(Errc::kConnectionClosed), "closed after GOAWAY"});
  }
}

Task<Result<ResponseHead>> H2Connection::RoundTrip(const Request& request,
                                                   std::string_view user_agent, BodySink& sink) {
  if (!accepting()) {
    if (closed_ && close_error_) {
      co_return Fail(Errc::kRefusedStream,
                     "HTTP/2 connection already closed: " + close_error_->message());
    }
    co_return Fail(Errc::kRefusedStream, "HTTP/2 connection takes no new streams (GOAWAY)");
  }
  auto submitted = codec_.Submit(request, user_agent);
  if (!submitted) {
    co_return tl::unexpected(submitted.error());
  }
  StreamId id = *submitted;
  Slot slot(co_await asio::this_coro::executor);
  slots_.emplace(static_cast<int32_t>(id), &slot);
  SlotGuard guard(*this, id, slot);
  HandleEvents();  // Submit may already have reported this stream as not sent
  WakeWriter();

  internal::BodyDecoder decoder;
  std::optional<ResponseHead> head;
  std::vector<uint8_t> chunk;
  for (;;) {
    asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none) {
      co_return Fail(asio::error::operation_aborted, "HTTP/2 stream cancelled");
    }
    if (!head && slot.has_head) {
      head.emplace();
      head->status = slot.status;
      head->headers = std::move(slot.headers);
      head->url = request.url;
      head->protocol = "h2";
      if (auto length = head->headers.Get("content-length")) {
        uint64_t value = 0;
        bool digits = !length->empty();
        for (char c : *length) {
          digits = digits && c >= '0' && c <= '9';
          value = value * 10 + static_cast<uint64_t>(c - '0');
        }
        // nghttp2 already checked it against the DATA it delivers (RFC 9113 §8.1.1).
        if (digits) {
          head->content_length = value;
        }
      }
      auto begun = decoder.Begin(*head, request.accept_gzip);
      if (!begun) {
        co_return tl::unexpected(begun.error());
      }
      auto accepted = sink.OnHead(*head);
      if (!accepted) {
        co_return tl::unexpected(accepted.error());
      }
    }
    if (!slot.pending.empty()) {
      chunk.clear();
      chunk.swap(slot.pending);
      auto delivered = co_await decoder.Deliver(chunk, sink);
      // Only bytes the sink has taken leave the window (style §8 "Backpressure").
      if (!closed_) {
        codec_.Consume(id, chunk.size());
        slot.unconsumed -= chunk.size();
        HandleEvents();
        WakeWriter();
      }
      if (!delivered) {
        co_return tl::unexpected(delivered.error());
      }
      // Time the sink took is not the peer's silence.
      slot.last_activity = std::chrono::steady_clock::now();
      continue;
    }
    if (slot.ended && head) {
      auto finished = decoder.Finish();
      if (!finished) {
        co_return tl::unexpected(finished.error());
      }
      co_return std::move(*head);
    }
    if (slot.error) {
      co_return tl::unexpected(*slot.error);
    }
    slot.notified = false;
    slot.wake.expires_at(std::max(slot.last_activity + options_.idle_timeout, slot.recheck_at));
    ++waiting_;
    auto [ec] = co_await slot.wake.async_wait(use_task);
    --waiting_;
    if (slot.notified) {
      continue;
    }
    if (ec) {
      co_return Fail(ec, "HTTP/2 stream cancelled");
    }
    if (StreamIdleTimedOut(slot)) {
      // The guard resets the stream (RST_STREAM CANCEL); the other streams go on.
      co_return Fail(Errc::kTimeout,
                     "HTTP/2 stream " + std::to_string(static_cast<int32_t>(id)) +
                         " received nothing for " + internal::DurationText(options_.idle_timeout) +
                         " while its connection was alive");
    }
  }
}

}  // namespace cistern::net
