#include "tests/net/h2_server_session.h"

#include <cstdlib>
#include <cstring>

namespace cistern::net::testing {

H2ServerSession::H2ServerSession(std::vector<nghttp2_settings_entry> settings) {
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, OnBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, OnHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, OnFrameRecv);
  if (nghttp2_session_server_new(&session_, callbacks, this) != 0) {
    std::abort();
  }
  nghttp2_session_callbacks_del(callbacks);
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
}

H2ServerSession::~H2ServerSession() { nghttp2_session_del(session_); }

bool H2ServerSession::Feed(std::span<const uint8_t> bytes) {
  return nghttp2_session_mem_recv(session_, bytes.data(), bytes.size()) ==
         static_cast<ssize_t>(bytes.size());
}

bool H2ServerSession::Feed(const std::string& bytes) {
  return Feed(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()),
                                       bytes.size()));
}

std::string H2ServerSession::TakeOutput() {
  std::string out;
  for (;;) {
    const uint8_t* data = nullptr;
    ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n <= 0) {
      return out;
    }
    out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
  }
}

void H2ServerSession::Respond(int32_t stream, int status,
                              std::vector<std::pair<std::string, std::string>> headers,
                              std::string body) {
  std::string status_text = std::to_string(status);
  std::vector<nghttp2_nv> nva;
  auto add = [&nva](const std::string& name, const std::string& value) {
    nva.push_back(nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                             reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())),
                             name.size(), value.size(), NGHTTP2_NV_FLAG_NONE});
  };
  const std::string status_name = ":status";
  add(status_name, status_text);
  for (const auto& [name, value] : headers) {
    add(name, value);
  }
  auto holder = std::make_unique<Body>();
  holder->bytes = std::move(body);
  nghttp2_data_provider provider{};
  provider.source.ptr = holder.get();
  provider.read_callback = ReadBody;
  bodies_[stream] = std::move(holder);
  nghttp2_submit_response(session_, stream, nva.data(), nva.size(), &provider);
}

void H2ServerSession::Reset(int32_t stream, uint32_t error_code) {
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream, error_code);
}

void H2ServerSession::Goaway(int32_t last_stream, uint32_t error_code) {
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, last_stream, error_code, nullptr, 0);
}

void H2ServerSession::SubmitSettings(std::vector<nghttp2_settings_entry> settings) {
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
}

int H2ServerSession::OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* self = static_cast<H2ServerSession*>(user);
  if (frame->hd.type == NGHTTP2_HEADERS) {
    self->partial_[frame->hd.stream_id].stream = frame->hd.stream_id;
  }
  return 0;
}

int H2ServerSession::OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                              size_t name_length, const uint8_t* value, size_t value_length,
                              uint8_t, void* user) {
  auto* self = static_cast<H2ServerSession*>(user);
  ServerRequest& request = self->partial_[frame->hd.stream_id];
  std::string n(reinterpret_cast<const char*>(name), name_length);
  std::string v(reinterpret_cast<const char*>(value), value_length);
  request.fields[n] = v;
  request.ordered.emplace_back(n, v);
  return 0;
}

int H2ServerSession::OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* self = static_cast<H2ServerSession*>(user);
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
      if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
        ServerRequest request = std::move(self->partial_[frame->hd.stream_id]);
        self->partial_.erase(frame->hd.stream_id);
        self->requests_.push_back(request);
        if (self->on_request) {
          self->on_request(self->requests_.back());
        }
      }
      break;
    case NGHTTP2_WINDOW_UPDATE:
      ++self->window_updates_;
      break;
    case NGHTTP2_PING:
      if ((frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) {
        ++self->pings_;
      }
      break;
    case NGHTTP2_RST_STREAM:
      ++self->rst_streams_;
      self->rst_codes_.push_back(frame->rst_stream.error_code);
      break;
    default:
      break;
  }
  return 0;
}

ssize_t H2ServerSession::ReadBody(nghttp2_session*, int32_t, uint8_t* buf, size_t length,
                                  uint32_t* flags, nghttp2_data_source* source, void* user) {
  auto* body = static_cast<Body*>(source->ptr);
  size_t n = std::min(length, body->bytes.size() - body->offset);
  std::memcpy(buf, body->bytes.data() + body->offset, n);
  body->offset += n;
  if (body->offset == body->bytes.size()) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
  }
  auto* self = static_cast<H2ServerSession*>(user);
  self->data_bytes_sent_ += n;
  return static_cast<ssize_t>(n);
}

H2LoopbackServer::H2LoopbackServer(asio::io_context& io, H2Script script,
                                   std::vector<nghttp2_settings_entry> settings)
    : io_(io),
      script_(std::move(script)),
      settings_(std::move(settings)),
      acceptor_(io, asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), 0)),
      port_(acceptor_.local_endpoint().port()),
      alive_(std::make_shared<bool>(true)) {
  Spawn(io.get_executor(), Accept(this), [](std::exception_ptr e) {
    if (e) {
      std::rethrow_exception(e);
    }
  });
}

H2LoopbackServer::~H2LoopbackServer() {
  *alive_ = false;
  std::error_code ec;
  acceptor_.close(ec);
}

Task<void> H2LoopbackServer::Accept(H2LoopbackServer* server) {
  std::shared_ptr<bool> alive = server->alive_;
  for (;;) {
    auto [ec, socket] = co_await server->acceptor_.async_accept(use_task);
    if (ec || !*alive) {
      co_return;
    }
    int connection = server->connections_++;
    Spawn(server->io_.get_executor(), Serve(server, std::move(socket), connection),
          [](std::exception_ptr e) {
            if (e) {
              std::rethrow_exception(e);
            }
          });
  }
}

Task<void> H2LoopbackServer::Serve(H2LoopbackServer* server, asio::ip::tcp::socket socket,
                                   int connection) {
  std::shared_ptr<bool> alive = server->alive_;
  H2ServerSession session(server->settings_);
  std::vector<ServerRequest> fresh;
  session.on_request = [&fresh](const ServerRequest& request) { fresh.push_back(request); };
  std::vector<uint8_t> buffer(64 * 1024);
  bool close = false;
  for (;;) {
    std::string out = session.TakeOutput();
    if (!out.empty()) {
      auto [wec, written] = co_await asio::async_write(socket, asio::buffer(out), use_task);
      if (wec || !*alive) {
        co_return;
      }
    }
    if (close) {
      std::error_code ignored;
      socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
      co_return;
    }
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(buffer), use_task);
    if (ec || !*alive) {
      co_return;
    }
    if (server->deaf_) {
      continue;
    }
    int pings_before = session.pings_received();
    int rst_before = session.rst_streams_received();
    if (!session.Feed(std::span<const uint8_t>(buffer.data(), n))) {
      co_return;
    }
    server->pings_ += session.pings_received() - pings_before;
    server->rst_streams_ += session.rst_streams_received() - rst_before;
    for (const ServerRequest& request : fresh) {
      ++server->requests_;
      H2Reply reply = server->script_(request, connection);
      switch (reply.kind) {
        case H2Reply::Kind::kRespond:
          session.Respond(request.stream, reply.status, reply.headers, reply.body);
          break;
        case H2Reply::Kind::kReset:
          session.Reset(request.stream, reply.error_code);
          break;
        case H2Reply::Kind::kGoaway:
          session.Goaway(reply.last_stream, reply.error_code);
          break;
        case H2Reply::Kind::kHang:
          break;
        case H2Reply::Kind::kCloseConnection:
          close = true;
          break;
      }
    }
    fresh.clear();
  }
}

}  // namespace cistern::net::testing
