#include "net/h2_codec.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include <nghttp2/nghttp2.h>

#include "net/internal/field_syntax.h"

namespace cistern::net {

struct H2Codec::Impl {
  struct StreamState {
    bool has_head = false;   // the final head was reported
    bool ended = false;      // kEnd was reported
    bool not_sent = false;   // nghttp2 could not send the request HEADERS
    bool head_too_large = false;
    bool end_stream_seen = false;        // a frame of the peer carried END_STREAM
    std::optional<uint64_t> content_length;  // the final head's content-length
    uint64_t data_frame_bytes = 0;           // DATA payload announced (padding included)
    std::optional<uint32_t> peer_reset;  // RST_STREAM received, with this code
    int status = 0;
    HeaderList headers;
    size_t head_bytes = 0;
  };

  Impl(H2Codec& owner, H2CodecOptions opts) : codec(owner), options(opts) {}
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() { nghttp2_session_del(session); }

  StreamState* Find(int32_t id) {
    auto it = streams.find(id);
    return it == streams.end() ? nullptr : &it->second;
  }
  void Emit(H2Event event) { codec.events_.push_back(std::move(event)); }
  void Flush();
  void Fatal(std::string detail) {
    if (!failure) {
      failure = Error{make_error_code(Errc::kProtocol), std::move(detail)};
    }
  }
  std::string Reason() const {
    return last_error_message.empty() ? std::string() : ": " + last_error_message;
  }

  H2Codec& codec;
  H2CodecOptions options;
  nghttp2_session* session = nullptr;
  std::unordered_map<int32_t, StreamState> streams;
  std::optional<int32_t> goaway_last_stream;  // from the peer's GOAWAY
  std::optional<Error> failure;
  std::string last_error_message;  // nghttp2's words for the last problem it saw
  size_t orphan_data = 0;          // body bytes of forgotten streams, consumed after mem_recv
  Stats stats;
};

namespace {

using Impl = H2Codec::Impl;

Impl& Self(void* user_data) { return *static_cast<Impl*>(user_data); }

[[noreturn]] void Abort(const char* what, int rv) {
  // Style §7: nghttp2 fails these calls only on out-of-memory or invalid arguments we never pass.
  std::fprintf(stderr, "cistern: nghttp2 %s failed: %s\n", what, nghttp2_strerror(rv));
  std::abort();
}

H2Event MakeEvent(H2Event::Kind kind, int32_t stream) {
  H2Event event;
  event.kind = kind;
  event.stream = StreamId{stream};
  return event;
}

std::string StreamName(int32_t id) { return "stream " + std::to_string(id); }

// Trampolines: they only record what nghttp2 saw (style §8: no I/O, no resumption from here).
int OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user_data) noexcept {
  Impl& self = Self(user_data);
  if (frame->hd.type != NGHTTP2_HEADERS) {
    return 0;
  }
  if (Impl::StreamState* state = self.Find(frame->hd.stream_id); state && !state->has_head) {
    state->status = 0;
    state->headers = HeaderList();
    state->content_length.reset();
  }
  return 0;
}

// Notes END_STREAM before nghttp2 judges the frame: a DATA frame that ends the stream short of
// its content-length is never reported to on_frame_recv (nghttp2 resets the stream instead).
int OnBeginFrame(nghttp2_session*, const nghttp2_frame_hd* hd, void* user_data) noexcept {
  Impl& self = Self(user_data);
  Impl::StreamState* state = self.Find(hd->stream_id);
  if (state == nullptr) {
    return 0;
  }
  if (hd->type == NGHTTP2_DATA) {
    // Counted here, not as chunks arrive: nghttp2 drops a chunk that overruns the
    // content-length before reporting it, and that overrun must not look like a short body.
    state->data_frame_bytes += hd->length;
  }
  if ((hd->type == NGHTTP2_DATA || hd->type == NGHTTP2_HEADERS) &&
      (hd->flags & NGHTTP2_FLAG_END_STREAM) != 0) {
    state->end_stream_seen = true;
  }
  return 0;
}

int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t name_length,
             const uint8_t* value, size_t value_length, uint8_t, void* user_data) noexcept {
  Impl& self = Self(user_data);
  Impl::StreamState* state = self.Find(frame->hd.stream_id);
  if (state == nullptr || state->has_head) {
    return 0;  // trailer fields are not merged into the head; ignored
  }
  state->head_bytes += name_length + value_length;
  if (state->head_bytes > self.options.max_head_bytes) {
    state->head_too_large = true;
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // nghttp2 resets just this stream
  }
  std::string_view n(reinterpret_cast<const char*>(name), name_length);
  std::string_view v(reinterpret_cast<const char*>(value), value_length);
  if (n == ":status") {
    // nghttp2's HTTP messaging checks already made it three digits (RFC 9113 §8.3.2).
    int status = 0;
    for (char c : v) {
      status = status * 10 + (c - '0');
    }
    state->status = status;
  } else if (!n.empty() && n.front() != ':') {
    if (n == "content-length") {
      // nghttp2's HTTP messaging checks already made it digits only (RFC 9113 §8.1.1).
      uint64_t length = 0;
      for (char c : v) {
        length = length * 10 + static_cast<uint64_t>(c - '0');
      }
      state->content_length = length;
    }
    state->headers.Add(std::string(n), std::string(v));
  }
  return 0;
}

int OnFrameRecv(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) noexcept {
  Impl& self = Self(user_data);
  int32_t id = frame->hd.stream_id;
  bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS: {
      Impl::StreamState* state = self.Find(id);
      if (state == nullptr) {
        break;
      }
      if (!state->has_head) {
        if (state->status >= 100 && state->status < 200) {
          break;  // RFC 9110 §15.2: interim response; the final one follows
        }
        state->has_head = true;
        H2Event event;
        event.kind = H2Event::Kind::kHead;
        event.stream = StreamId{id};
        event.status = state->status;
        event.headers = std::move(state->headers);
        self.Emit(std::move(event));
      }
      if (end_stream && !state->ended) {
        state->ended = true;
        self.Emit(MakeEvent(H2Event::Kind::kEnd, id));
      }
      break;
    }
    case NGHTTP2_DATA: {
      Impl::StreamState* state = self.Find(id);
      if (state != nullptr && end_stream && !state->ended) {
        state->ended = true;
        self.Emit(MakeEvent(H2Event::Kind::kEnd, id));
      }
      break;
    }
    case NGHTTP2_RST_STREAM:
      if (Impl::StreamState* state = self.Find(id)) {
        state->peer_reset = frame->rst_stream.error_code;
      }
      break;
    case NGHTTP2_GOAWAY: {
      self.goaway_last_stream = frame->goaway.last_stream_id;
      H2Event event;
      event.kind = H2Event::Kind::kGoaway;
      event.last_stream = StreamId{frame->goaway.last_stream_id};
      event.error_code = frame->goaway.error_code;
      self.Emit(std::move(event));
      break;
    }
    case NGHTTP2_SETTINGS:
      if ((frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) {
        H2Event event;
        event.kind = H2Event::Kind::kSettings;
        event.max_concurrent_streams =
            nghttp2_session_get_remote_settings(session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
        self.Emit(std::move(event));
      }
      break;
    case NGHTTP2_PING:
      if ((frame->hd.flags & NGHTTP2_FLAG_ACK) != 0) {
        self.Emit(MakeEvent(H2Event::Kind::kPingAck, 0));
      }
      break;
    default:
      break;
  }
  return 0;
}

int OnDataChunkRecv(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data,
                    size_t length, void* user_data) noexcept {
  Impl& self = Self(user_data);
  if (self.Find(stream_id) == nullptr) {
    // A stream the owner forgot: nobody will consume these bytes, so the codec does.
    self.orphan_data += length;
    return 0;
  }
  self.stats.data_bytes_received += length;
  H2Event event;
  event.kind = H2Event::Kind::kData;
  event.stream = StreamId{stream_id};
  event.data = std::span<const uint8_t>(data, length);
  self.Emit(std::move(event));
  return 0;
}

int OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t error_code,
                  void* user_data) noexcept {
  Impl& self = Self(user_data);
  auto it = self.streams.find(stream_id);
  if (it == self.streams.end()) {
    return 0;
  }
  Impl::StreamState state = std::move(it->second);
  self.streams.erase(it);
  if (state.ended) {
    return 0;
  }
  std::string name = StreamName(stream_id);
  H2Event event;
  event.kind = H2Event::Kind::kReset;
  event.stream = StreamId{stream_id};
  event.error_code = error_code;
  if (state.not_sent) {
    event.error = Error{make_error_code(Errc::kRefusedStream),
                        name + " could not be sent (the session takes no new streams)"};
  } else if (state.peer_reset) {
    event.error_code = *state.peer_reset;
    event.error = Error{make_error_code(*state.peer_reset == kH2RefusedStream ? Errc::kRefusedStream
                                                                              : Errc::kStreamReset),
                        name + " reset by the peer: " + H2ErrorName(*state.peer_reset)};
  } else if (self.goaway_last_stream && stream_id > *self.goaway_last_stream) {
    event.error = Error{make_error_code(Errc::kRefusedStream),
                        name + " not processed: GOAWAY with last-stream-id " +
                            std::to_string(*self.goaway_last_stream)};
  } else if (state.has_head && state.end_stream_seen && state.content_length &&
             state.data_frame_bytes < *state.content_length) {
    // The stream ended cleanly but early: the same fault as an HTTP/1.1 connection closed in
    // the body, and as worth another attempt (or a Range for the rest).
    event.error = Error{make_error_code(Errc::kConnectionClosed),
                        name + " ended (END_STREAM) after " +
                            std::to_string(state.data_frame_bytes) +
                            " of the " + std::to_string(*state.content_length) +
                            " body bytes its content-length announced"};
  } else if (state.head_too_large) {
    event.error =
        Error{make_error_code(Errc::kProtocol),
              name + ": response head exceeds " + std::to_string(self.options.max_head_bytes) +
                  " bytes"};
  } else {
    event.error = Error{make_error_code(Errc::kProtocol),
                        name + " reset: " + H2ErrorName(error_code) + self.Reason()};
  }
  self.Emit(std::move(event));
  return 0;
}

int OnFrameSend(nghttp2_session*, const nghttp2_frame* frame, void* user_data) noexcept {
  Impl& self = Self(user_data);
  if (frame->hd.type == NGHTTP2_WINDOW_UPDATE) {
    ++self.stats.window_updates_sent;
  } else if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != kH2NoError) {
    // nghttp2 ends the session this way when the peer broke the protocol (RFC 9113 §5.4.1).
    self.Fatal("HTTP/2 connection error " + H2ErrorName(frame->goaway.error_code) +
               self.Reason());
  }
  return 0;
}

int OnFrameNotSend(nghttp2_session*, const nghttp2_frame* frame, int, void* user_data) noexcept {
  Impl& self = Self(user_data);
  if (frame->hd.type == NGHTTP2_HEADERS) {
    if (Impl::StreamState* state = self.Find(frame->hd.stream_id)) {
      state->not_sent = true;  // nghttp2 closes the stream next
    }
  }
  return 0;
}

int OnError(nghttp2_session*, int, const char* message, size_t length, void* user_data) noexcept {
  Self(user_data).last_error_message.assign(message, length);
  return 0;
}

// Every nghttp2 callback the codec uses, registered in one place (style §9).
nghttp2_session_callbacks* MakeCallbacks() {
  nghttp2_session_callbacks* callbacks = nullptr;
  if (int rv = nghttp2_session_callbacks_new(&callbacks); rv != 0) {
    Abort("nghttp2_session_callbacks_new", rv);
  }
  nghttp2_session_callbacks_set_on_begin_frame_callback(callbacks, OnBeginFrame);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, OnBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, OnHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, OnFrameRecv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, OnDataChunkRecv);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, OnStreamClose);
  nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, OnFrameSend);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(callbacks, OnFrameNotSend);
  nghttp2_session_callbacks_set_error_callback2(callbacks, OnError);
  return callbacks;
}

int32_t WindowValue(uint32_t bytes) {
  // RFC 9113 §6.9.1: windows are at most 2^31 - 1.
  return static_cast<int32_t>(std::min<uint32_t>(bytes, NGHTTP2_MAX_WINDOW_SIZE));
}

nghttp2_nv Field(std::string_view name, std::string_view value) {
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                    value.size(), NGHTTP2_NV_FLAG_NONE};
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

}  // namespace

void H2Codec::Impl::Flush() {
  for (;;) {
    const uint8_t* data = nullptr;
    ssize_t n = nghttp2_session_mem_send(session, &data);
    if (n < 0) {
      Fatal(std::string("HTTP/2 session failed: ") + nghttp2_strerror(static_cast<int>(n)));
      return;
    }
    if (n == 0) {
      return;
    }
    codec.output_.insert(codec.output_.end(), data, data + n);
  }
}

H2Codec::H2Codec(H2CodecOptions options) : impl_(std::make_unique<Impl>(*this, options)) {
  nghttp2_session_callbacks* callbacks = MakeCallbacks();
  nghttp2_option* option = nullptr;
  if (int rv = nghttp2_option_new(&option); rv != 0) {
    Abort("nghttp2_option_new", rv);
  }
  // Style §8 "Backpressure": windows open only when the owner consumed the bytes.
  nghttp2_option_set_no_auto_window_update(option, 1);
  int rv = nghttp2_session_client_new2(&impl_->session, callbacks, impl_.get(), option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(callbacks);
  if (rv != 0) {
    Abort("nghttp2_session_client_new2", rv);
  }
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE,
       static_cast<uint32_t>(WindowValue(options.stream_window))},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, options.max_head_bytes},
  };
  if (rv = nghttp2_submit_settings(impl_->session, NGHTTP2_FLAG_NONE, settings,
                                   std::size(settings));
      rv != 0) {
    Abort("nghttp2_submit_settings", rv);
  }
  // RFC 9113 §6.9.2: the connection window starts at 65535 whatever SETTINGS say; widen it.
  if (rv = nghttp2_session_set_local_window_size(impl_->session, NGHTTP2_FLAG_NONE, 0,
                                                 WindowValue(options.connection_window));
      rv != 0) {
    Abort("nghttp2_session_set_local_window_size", rv);
  }
  impl_->Flush();
}

H2Codec::~H2Codec() = default;

Result<StreamId> H2Codec::Submit(const Request& request, std::string_view user_agent) {
  if (impl_->failure) {
    return tl::unexpected(*impl_->failure);
  }
  if (nghttp2_session_check_request_allowed(impl_->session) == 0) {
    return Fail(Errc::kRefusedStream, "the HTTP/2 connection takes no new streams");
  }
  if (!internal::IsToken(request.method)) {
    return Fail(Errc::kProtocol, "request method \"" + request.method + "\" is not a token");
  }
  for (const Header& header : request.headers.all()) {
    if (!internal::IsToken(header.name) || !internal::IsFieldValue(header.value)) {
      return Fail(Errc::kProtocol, "request header \"" + header.name +
                                       "\" has an invalid name or a CR, LF or NUL in its value");
    }
  }
  if (!internal::IsFieldValue(user_agent)) {
    return Fail(Errc::kProtocol, "User-Agent contains CR, LF or NUL");
  }
  // RFC 9113 §8.2.2: connection-specific fields are not sent; Host becomes :authority and the
  // defaults below are replaced by the request's own.
  static constexpr std::string_view kNotCopied[] = {
      "host",       "user-agent",        "accept-encoding", "connection",
      "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"};
  std::string authority(request.headers.Get("Host").value_or(request.url.authority()));
  std::string path = request.url.target();
  std::vector<std::string> names;  // lower-cased copies; nghttp2 copies the fields on submit
  names.reserve(request.headers.all().size());
  std::vector<nghttp2_nv> fields;
  fields.reserve(6 + request.headers.all().size());
  fields.push_back(Field(":method", request.method));
  fields.push_back(Field(":scheme", request.url.scheme()));
  fields.push_back(Field(":authority", authority));
  fields.push_back(Field(":path", path));
  fields.push_back(Field("user-agent", request.headers.Get("User-Agent").value_or(user_agent)));
  if (auto accept_encoding = request.headers.Get("Accept-Encoding")) {
    fields.push_back(Field("accept-encoding", *accept_encoding));
  } else if (request.accept_gzip) {
    fields.push_back(Field("accept-encoding", "gzip"));
  }
  for (const Header& header : request.headers.all()) {
    std::string name = Lower(header.name);
    bool skip = false;
    for (std::string_view not_copied : kNotCopied) {
      skip = skip || name == not_copied;
    }
    // RFC 9113 §8.2.2: TE may only carry "trailers".
    skip = skip || (name == "te" && header.value != "trailers");
    if (!skip) {
      names.push_back(std::move(name));
      fields.push_back(Field(names.back(), header.value));
    }
  }
  int32_t id = nghttp2_submit_request(impl_->session, nullptr, fields.data(), fields.size(),
                                      nullptr, nullptr);
  if (id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE) {
    return Fail(Errc::kRefusedStream, "the HTTP/2 connection ran out of stream ids");
  }
  if (id < 0) {
    return Fail(Errc::kProtocol, std::string("submit HTTP/2 request: ") + nghttp2_strerror(id));
  }
  impl_->streams.emplace(id, Impl::StreamState{});
  impl_->Flush();
  return StreamId{id};
}

Result<void> H2Codec::Feed(std::span<const uint8_t> bytes) {
  if (impl_->failure) {
    return tl::unexpected(*impl_->failure);
  }
  ssize_t rv = nghttp2_session_mem_recv(impl_->session, bytes.data(), bytes.size());
  if (rv < 0) {
    impl_->Fatal(std::string("HTTP/2 input rejected: ") + nghttp2_strerror(static_cast<int>(rv)) +
                 impl_->Reason());
  }
  if (impl_->orphan_data > 0 && !impl_->failure) {
    nghttp2_session_consume_connection(impl_->session, std::exchange(impl_->orphan_data, 0));
  }
  impl_->Flush();
  if (impl_->failure) {
    return tl::unexpected(*impl_->failure);
  }
  return {};
}

void H2Codec::Consume(StreamId stream, size_t bytes) {
  if (impl_->failure || bytes == 0) {
    return;
  }
  impl_->stats.data_bytes_consumed += bytes;
  // For a stream nghttp2 already closed this still opens the connection window.
  int rv = nghttp2_session_consume(impl_->session, static_cast<int32_t>(stream), bytes);
  if (rv != 0) {
    impl_->Fatal(std::string("consume HTTP/2 body bytes: ") + nghttp2_strerror(rv));
    return;
  }
  impl_->Flush();
}

void H2Codec::Reset(StreamId stream, uint32_t error_code) {
  auto it = impl_->streams.find(static_cast<int32_t>(stream));
  if (it == impl_->streams.end()) {
    return;
  }
  bool ended = it->second.ended;
  impl_->streams.erase(it);
  if (ended || impl_->failure) {
    return;
  }
  if (int rv = nghttp2_submit_rst_stream(impl_->session, NGHTTP2_FLAG_NONE,
                                         static_cast<int32_t>(stream), error_code);
      rv != 0) {
    impl_->Fatal(std::string("reset HTTP/2 stream: ") + nghttp2_strerror(rv));
    return;
  }
  impl_->Flush();
}

void H2Codec::Ping() {
  if (impl_->failure) {
    return;
  }
  if (int rv = nghttp2_submit_ping(impl_->session, NGHTTP2_FLAG_NONE, nullptr); rv != 0) {
    Abort("nghttp2_submit_ping", rv);
  }
  impl_->Flush();
}

void H2Codec::TakeOutput(std::vector<uint8_t>& out) {
  out.clear();
  out.swap(output_);
}

bool H2Codec::can_submit() const {
  return !impl_->failure && nghttp2_session_check_request_allowed(impl_->session) != 0;
}

uint32_t H2Codec::peer_max_concurrent_streams() const {
  return nghttp2_session_get_remote_settings(impl_->session,
                                             NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

size_t H2Codec::open_streams() const { return impl_->streams.size(); }

size_t H2Codec::connection_receive_window() const {
  const int32_t window = nghttp2_session_get_local_window_size(impl_->session);
  return window > 0 ? static_cast<size_t>(window) : 0;
}

bool H2Codec::failed() const { return impl_->failure.has_value(); }

const H2Codec::Stats& H2Codec::stats() const { return impl_->stats; }

std::string H2ErrorName(uint32_t error_code) {
  // RFC 9113 §7.
  static constexpr const char* kNames[] = {
      "NO_ERROR",       "PROTOCOL_ERROR", "INTERNAL_ERROR",     "FLOW_CONTROL_ERROR",
      "SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR",  "REFUSED_STREAM",
      "CANCEL",         "COMPRESSION_ERROR", "CONNECT_ERROR",   "ENHANCE_YOUR_CALM",
      "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"};
  if (error_code < std::size(kNames)) {
    return kNames[error_code];
  }
  char hex[16];
  std::snprintf(hex, sizeof(hex), "0x%x", error_code);
  return hex;
}

}  // namespace cistern::net
