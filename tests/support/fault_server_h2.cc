// FaultServer over HTTP/2: an nghttp2 server session driven by a reader and a writer coroutine.
// The data provider stops each body wherever a fault strikes: NGHTTP2_ERR_DEFERRED for stalls
// and the send rate (resumed with nghttp2_session_resume_data from a timer), a short END_STREAM,
// RST_STREAM or GOAWAY queued for the writer, or a request to reset the connection.
//
// Re-entrancy: nghttp2 is called only from the writer (mem_send, and the actions it runs), the
// reader (mem_recv) and timer handlers, never from inside its own callbacks except for the
// submit_* calls nghttp2 documents as allowed there.
#include <algorithm>
#include <cstring>
#include <map>

#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <nghttp2/nghttp2.h>

#include "tests/support/fault_server_internal.h"

namespace cistern::testing::fault_internal {
namespace {

class H2Server {
 public:
  H2Server(const H2Server&) = delete;
  H2Server& operator=(const H2Server&) = delete;

  H2Server(ServerState& state, Connection& connection);
  ~H2Server();

  Task<void> Run(std::string initial);

 private:
  struct Stream {
    int32_t id = 0;
    RequestHead head;
    std::optional<ResponsePlan> plan;
    uint64_t sent = 0;
    bool stalled = false;
    bool goaway_sent = false;
    std::string outcome;  // set when the server ends the stream on purpose
    std::chrono::steady_clock::time_point started;
    std::unique_ptr<asio::steady_timer> timer;  // delayed head, stall and rate resumption
  };

  static int OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                      size_t name_length, const uint8_t* value, size_t value_length, uint8_t,
                      void* self);
  static int OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* self);
  static ssize_t ReadData(nghttp2_session*, int32_t stream_id, uint8_t* buffer, size_t length,
                          uint32_t* flags, nghttp2_data_source* source, void* self);

  Stream* Find(int32_t id);
  void OnRequest(Stream& stream);
  void SubmitResponse(Stream& stream);
  void SubmitGoAway(const Stream& stream, const GoAway& goaway);
  ssize_t ProduceData(Stream& stream, uint8_t* buffer, size_t length, uint32_t* flags);
  // Runs `then` on the stream after `d` (zero: never), unless the stream or the server is gone.
  void After(Stream& stream, std::chrono::steady_clock::duration d,
             void (H2Server::*then)(int32_t));
  void Resume(int32_t id);
  void RespondLater(int32_t id);
  void Wake() { wake_.cancel(); }

  Task<void> Reader();
  Task<void> Writer();

  ServerState& state_;
  Connection& connection_;
  nghttp2_session* session_ = nullptr;
  std::map<int32_t, std::unique_ptr<Stream>> streams_;
  asio::steady_timer wake_;
  std::vector<std::function<void()>> actions_;  // run by the writer, outside nghttp2 calls
  bool reader_done_ = false;
  bool failed_ = false;
  bool reset_requested_ = false;
};

H2Server::H2Server(ServerState& state, Connection& connection)
    : state_(state), connection_(connection), wake_(connection.timer.get_executor()) {
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, OnBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, OnHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, OnFrameRecv);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, OnStreamClose);
  nghttp2_session_server_new(&session_, callbacks, this);
  nghttp2_session_callbacks_del(callbacks);
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, state.options().max_concurrent_streams}};
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  connection_.on_stop = [this] {
    for (auto& [id, stream] : streams_) {
      if (stream->timer) {
        stream->timer->cancel();
      }
    }
    Wake();
  };
}

H2Server::~H2Server() {
  connection_.on_stop = nullptr;
  nghttp2_session_del(session_);
}

H2Server::Stream* H2Server::Find(int32_t id) {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

int H2Server::OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* self) {
  auto* server = static_cast<H2Server*>(self);
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    auto stream = std::make_unique<Stream>();
    stream->id = frame->hd.stream_id;
    server->streams_[stream->id] = std::move(stream);
  }
  return 0;
}

int H2Server::OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                       size_t name_length, const uint8_t* value, size_t value_length, uint8_t,
                       void* self) {
  auto* server = static_cast<H2Server*>(self);
  Stream* stream = server->Find(frame->hd.stream_id);
  if (stream == nullptr || frame->hd.type != NGHTTP2_HEADERS) {
    return 0;
  }
  std::string key(reinterpret_cast<const char*>(name), name_length);
  std::string text(reinterpret_cast<const char*>(value), value_length);
  if (key == ":method") {
    stream->head.method = std::move(text);
  } else if (key == ":path") {
    stream->head.target = std::move(text);
  } else if (!key.starts_with(':')) {
    stream->head.headers.emplace_back(std::move(key), std::move(text));
  }
  return 0;
}

int H2Server::OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* self) {
  auto* server = static_cast<H2Server*>(self);
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
    if (Stream* stream = server->Find(frame->hd.stream_id); stream && !stream->plan) {
      server->OnRequest(*stream);
    }
  }
  return 0;
}

int H2Server::OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* self) {
  auto* server = static_cast<H2Server*>(self);
  auto it = server->streams_.find(stream_id);
  if (it == server->streams_.end()) {
    return 0;
  }
  Stream& stream = *it->second;
  if (stream.plan) {
    std::string outcome = stream.outcome;
    if (outcome.empty()) {
      outcome = error_code == NGHTTP2_NO_ERROR         ? "complete"
                : error_code == NGHTTP2_REFUSED_STREAM ? "refused"
                                                       : "peer_closed";
    }
    server->state_.Finish(stream.plan->record, outcome);
  }
  server->streams_.erase(it);  // a pending timer handler sees operation_aborted
  return 0;
}

void H2Server::OnRequest(Stream& stream) {
  stream.plan = state_.Begin("h2", connection_.id, stream.id, std::move(stream.head));
  const ResponsePlan& plan = *stream.plan;
  if (plan.fault.reset_before_response) {
    stream.outcome = "reset";
    reset_requested_ = true;
    Wake();
    return;
  }
  if (plan.fault.goaway && !plan.fault.goaway->after_bytes) {
    SubmitGoAway(stream, *plan.fault.goaway);
    if (plan.refuse || plan.fault.goaway->terminate) {
      stream.outcome = "refused";
      return;
    }
  }
  if (plan.fault.delay_headers.count() > 0) {
    After(stream, plan.fault.delay_headers, &H2Server::RespondLater);
    return;
  }
  SubmitResponse(stream);
}

void H2Server::RespondLater(int32_t id) {
  if (Stream* stream = Find(id)) {
    SubmitResponse(*stream);
  }
}

void H2Server::SubmitResponse(Stream& stream) {
  const ResponsePlan& plan = *stream.plan;
  std::vector<std::pair<std::string, std::string>> fields;
  fields.emplace_back(":status", std::to_string(plan.status));
  fields.emplace_back("server", "cistern-fault-server");
  fields.emplace_back("date", HttpDate(std::chrono::system_clock::now()));
  for (const auto& header : plan.headers) {
    fields.push_back(header);
  }
  if (plan.send_content_length) {
    fields.emplace_back("content-length", std::to_string(plan.length));
  }
  std::vector<nghttp2_nv> nva;
  for (auto& [name, value] : fields) {
    nva.push_back({reinterpret_cast<uint8_t*>(name.data()),
                   reinterpret_cast<uint8_t*>(value.data()), name.size(), value.size(),
                   NGHTTP2_NV_FLAG_NONE});
  }
  stream.started = std::chrono::steady_clock::now();
  state_.HeadSent(plan.record, plan.status, plan.length);
  nghttp2_data_provider provider{};
  provider.read_callback = ReadData;
  nghttp2_submit_response(session_, stream.id, nva.data(), nva.size(),
                          plan.head_only ? nullptr : &provider);
  Wake();
}

void H2Server::SubmitGoAway(const Stream& stream, const GoAway& goaway) {
  int32_t last = goaway.last_stream_id.value_or(stream.id);
  auto code = static_cast<uint32_t>(goaway.error_code);
  if (goaway.terminate) {
    nghttp2_session_terminate_session2(session_, last, code);
  } else {
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, last, code, nullptr, 0);
  }
  Wake();
}

void H2Server::After(Stream& stream, std::chrono::steady_clock::duration d,
                     void (H2Server::*then)(int32_t)) {
  if (!stream.timer) {
    stream.timer = std::make_unique<asio::steady_timer>(wake_.get_executor());
  }
  if (d.count() > 0) {
    stream.timer->expires_after(d);
  } else {
    stream.timer->expires_at(asio::steady_timer::time_point::max());
  }
  stream.timer->async_wait([this, id = stream.id, then](std::error_code ec) {
    if (!ec && !connection_.stopping) {
      (this->*then)(id);
    }
  });
}

void H2Server::Resume(int32_t id) {
  if (Find(id) != nullptr) {
    nghttp2_session_resume_data(session_, id);
    Wake();
  }
}

ssize_t H2Server::ReadData(nghttp2_session*, int32_t stream_id, uint8_t* buffer, size_t length,
                           uint32_t* flags, nghttp2_data_source*, void* self) {
  auto* server = static_cast<H2Server*>(self);
  Stream* stream = server->Find(stream_id);
  if (stream == nullptr || !stream->plan) {
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  return server->ProduceData(*stream, buffer, length, flags);
}

ssize_t H2Server::ProduceData(Stream& stream, uint8_t* buffer, size_t length, uint32_t* flags) {
  const ResponsePlan& plan = *stream.plan;
  const Fault& fault = plan.fault;
  const uint64_t sent = stream.sent;
  if (plan.stall_at == sent && !stream.stalled) {
    stream.stalled = true;
    After(stream, fault.stall_for, &H2Server::Resume);
    return NGHTTP2_ERR_DEFERRED;
  }
  if (plan.goaway_at == sent && !stream.goaway_sent) {
    // Pause the body so that the GOAWAY goes out right after byte `sent`, then carry on.
    stream.goaway_sent = true;
    actions_.push_back([this, id = stream.id, goaway = *fault.goaway] {
      if (Stream* s = Find(id)) {
        SubmitGoAway(*s, goaway);
        nghttp2_session_resume_data(session_, id);
      }
    });
    Wake();
    return NGHTTP2_ERR_DEFERRED;
  }
  if (plan.reset_at == sent) {
    stream.outcome = "reset";
    reset_requested_ = true;
    Wake();
    return NGHTTP2_ERR_DEFERRED;
  }
  if (plan.rst_at == sent) {
    stream.outcome = "rst_stream";
    actions_.push_back([this, id = stream.id, code = static_cast<uint32_t>(fault.rst_stream_code)] {
      nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, code);
    });
    Wake();
    return NGHTTP2_ERR_DEFERRED;
  }
  if (plan.close_at == sent) {
    stream.outcome = "closed";
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return 0;
  }
  if (sent == plan.length) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return 0;
  }
  uint64_t n = std::min<uint64_t>(plan.NextStop(sent) - sent, length);
  if (fault.bytes_per_second) {
    const uint64_t rate = *fault.bytes_per_second;
    auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - stream.started);
    uint64_t allowed = static_cast<uint64_t>(elapsed.count()) * rate / 1'000'000 + 1;
    if (allowed <= sent) {
      After(stream, std::chrono::milliseconds(20), &H2Server::Resume);
      return NGHTTP2_ERR_DEFERRED;
    }
    n = std::min({n, allowed - sent, std::max<uint64_t>(1, rate / 20)});
  }
  std::string piece = plan.Slice(sent, n);
  std::memcpy(buffer, piece.data(), piece.size());
  stream.sent += piece.size();
  state_.BodySent(plan.record, piece.size());
  return static_cast<ssize_t>(piece.size());
}

Task<void> H2Server::Reader() {
  char buffer[16 * 1024];
  for (;;) {
    auto [ec, n] = co_await connection_.transport->ReadSome(asio::buffer(buffer));
    if (ec || connection_.stopping) {
      break;
    }
    ssize_t used = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(buffer), n);
    if (used < 0) {
      failed_ = true;
      break;
    }
    Wake();
  }
  reader_done_ = true;
  Wake();
}

Task<void> H2Server::Writer() {
  std::string out;
  for (;;) {
    std::vector<std::function<void()>> actions;
    actions.swap(actions_);
    for (auto& action : actions) {
      action();
    }
    if (connection_.stopping) {
      break;
    }
    out.clear();
    while (out.size() < 64 * 1024) {
      const uint8_t* data = nullptr;
      ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) {
        failed_ = true;
        break;
      }
      if (n == 0) {
        break;
      }
      out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    }
    if (!out.empty()) {
      if (std::error_code ec = co_await connection_.transport->Write(asio::buffer(out)); ec) {
        break;
      }
      continue;  // more may be ready, or actions were queued meanwhile
    }
    if (!actions_.empty()) {
      continue;
    }
    if (reset_requested_) {
      co_await connection_.transport->Reset();
      break;
    }
    if (failed_ || reader_done_ ||
        (nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0)) {
      co_await connection_.transport->CloseCleanly();
      break;
    }
    wake_.expires_at(asio::steady_timer::time_point::max());
    std::error_code woken;  // operation_aborted is the usual way to be woken
    co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, woken));
  }
}

Task<void> H2Server::Run(std::string initial) {
  if (!initial.empty()) {
    ssize_t used = nghttp2_session_mem_recv(
        session_, reinterpret_cast<const uint8_t*>(initial.data()), initial.size());
    failed_ = used < 0;
  }
  Spawn(wake_.get_executor(), Reader());
  co_await Writer();
  connection_.transport->Abort();
  while (!reader_done_) {  // the reader ends promptly once the socket is closed
    wake_.expires_at(asio::steady_timer::time_point::max());
    std::error_code woken;
    co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, woken));
  }
  // Streams the session still holds end with the connection.
  const char* outcome = connection_.stopping ? "stopped"
                        : reset_requested_   ? "reset"
                                             : "peer_closed";
  for (auto& [id, stream] : streams_) {
    if (stream->plan) {
      state_.Finish(stream->plan->record, stream->outcome.empty() ? outcome : stream->outcome);
    }
    if (stream->timer) {
      stream->timer->cancel();
    }
  }
}

}  // namespace

Task<void> ServeH2(ServerState& state, Connection& connection, std::string initial) {
  H2Server server(state, connection);
  co_await server.Run(std::move(initial));
}

}  // namespace cistern::testing::fault_internal
