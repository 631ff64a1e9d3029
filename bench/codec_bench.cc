// The HTTP codecs on recorded server bytes: H2Codec::Feed over a response of many DATA frames
// (with Consume as the connection driver calls it), and Http1Codec::Feed over a Content-Length
// and a chunked response. Both are fed in 16 KiB reads, like a socket delivers them.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <nghttp2/nghttp2.h>

#include "net/h2_codec.h"
#include "net/http1_codec.h"

namespace cistern::bench {
namespace {

constexpr size_t kReadSize = 16 * 1024;

std::string Body(size_t size) {
  std::string body(size, '\0');
  uint32_t x = 2463534242u;  // xorshift32
  for (char& c : body) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  return body;
}

net::H2CodecOptions WideWindows() {
  // Windows larger than the body: the recording needs no WINDOW_UPDATE round trips, so the
  // same bytes replay into a fresh codec.
  net::H2CodecOptions options;
  options.stream_window = 0x7fffffff;
  options.connection_window = 0x7fffffff;
  return options;
}

net::Request Get() {
  net::Request request;
  request.url = *net::Url::Parse("https://files.example/packages/aa/bb/file.whl");
  return request;
}

struct Source {
  const std::string* body;
  size_t offset = 0;
};

ssize_t ReadBody(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                 nghttp2_data_source* source, void*) {
  auto* s = static_cast<Source*>(source->ptr);
  size_t n = std::min(length, s->body->size() - s->offset);
  std::memcpy(buf, s->body->data() + s->offset, n);
  s->offset += n;
  if (s->offset == s->body->size()) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
  }
  return static_cast<ssize_t>(n);
}

int32_t g_request_stream = 0;

int OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void*) {
  if (frame->hd.type == NGHTTP2_HEADERS && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
    g_request_stream = frame->hd.stream_id;
  }
  return 0;
}

// What nghttp2's server session sends for one GET answered with `body` (16 KiB DATA frames).
std::string RecordH2Response(const std::string& body) {
  net::H2Codec client(WideWindows());
  auto id = client.Submit(Get(), "cistern/bench");
  std::vector<uint8_t> request;
  client.TakeOutput(request);

  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, OnFrameRecv);
  nghttp2_session* server = nullptr;
  nghttp2_session_server_new(&server, callbacks, nullptr);
  nghttp2_session_callbacks_del(callbacks);
  nghttp2_submit_settings(server, NGHTTP2_FLAG_NONE, nullptr, 0);
  nghttp2_session_mem_recv(server, request.data(), request.size());
  std::string length = std::to_string(body.size());
  std::string status = "200";
  nghttp2_nv head[] = {
      {reinterpret_cast<uint8_t*>(const_cast<char*>(":status")),
       reinterpret_cast<uint8_t*>(status.data()), 7, status.size(), NGHTTP2_NV_FLAG_NONE},
      {reinterpret_cast<uint8_t*>(const_cast<char*>("content-length")),
       reinterpret_cast<uint8_t*>(length.data()), 14, length.size(), NGHTTP2_NV_FLAG_NONE}};
  Source source{&body};
  nghttp2_data_provider provider{};
  provider.source.ptr = &source;
  provider.read_callback = ReadBody;
  nghttp2_submit_response(server, g_request_stream, head, 2, &provider);
  std::string wire;
  for (;;) {
    const uint8_t* data = nullptr;
    ssize_t n = nghttp2_session_mem_send(server, &data);
    if (n <= 0) {
      break;
    }
    wire.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
  }
  nghttp2_session_del(server);
  benchmark::DoNotOptimize(id);
  return wire;
}

void BM_H2CodecFeedData(benchmark::State& state) {
  const std::string body = Body(static_cast<size_t>(state.range(0)));
  const std::string wire = RecordH2Response(body);
  const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(wire.data()), wire.size());
  std::vector<uint8_t> output;
  uint64_t received = 0;
  for (auto _ : state) {
    net::H2Codec client(WideWindows());
    auto id = client.Submit(Get(), "cistern/bench");
    client.TakeOutput(output);
    for (size_t offset = 0; offset < bytes.size(); offset += kReadSize) {
      auto fed = client.Feed(bytes.subspan(offset, std::min(kReadSize, bytes.size() - offset)));
      if (!fed) {
        state.SkipWithError(fed.error().message().c_str());
        return;
      }
      size_t data = 0;
      for (const net::H2Event& event : client.events()) {
        data += event.data.size();
      }
      client.ClearEvents();
      client.Consume(*id, data);
      client.TakeOutput(output);
      received += data;
    }
  }
  if (received != body.size() * static_cast<uint64_t>(state.iterations())) {
    state.SkipWithError("the codec did not report the whole body");
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(wire.size()));
  state.counters["frames"] = static_cast<double>(body.size() / 16384 + 1);
}
BENCHMARK(BM_H2CodecFeedData)->ArgNames({"body"})->Arg(1 << 20)->Arg(16 << 20);

std::string RecordHttp1Response(const std::string& body, bool chunked) {
  std::string wire = "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/octet-stream\r\n";
  if (!chunked) {
    wire += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    return wire;
  }
  wire += "Transfer-Encoding: chunked\r\n\r\n";
  constexpr size_t kChunk = 8192;  // nginx's default chunk size for proxied bodies
  char size[32];
  for (size_t offset = 0; offset < body.size(); offset += kChunk) {
    size_t n = std::min(kChunk, body.size() - offset);
    std::snprintf(size, sizeof(size), "%zx\r\n", n);
    wire += size;
    wire.append(body, offset, n);
    wire += "\r\n";
  }
  wire += "0\r\n\r\n";
  return wire;
}

void BM_Http1CodecFeed(benchmark::State& state) {
  const std::string body = Body(16 << 20);
  const std::string wire = RecordHttp1Response(body, state.range(0) != 0);
  const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(wire.data()), wire.size());
  net::Http1Codec codec;
  uint64_t received = 0;
  for (auto _ : state) {
    codec.BeginResponse("GET");
    for (size_t offset = 0; offset < bytes.size(); offset += kReadSize) {
      auto fed = codec.Feed(bytes.subspan(offset, std::min(kReadSize, bytes.size() - offset)));
      if (!fed) {
        state.SkipWithError(fed.error().message().c_str());
        return;
      }
      for (const net::Http1Event& event : codec.events()) {
        received += event.data.size();
      }
      codec.ClearEvents();
    }
  }
  if (received != body.size() * static_cast<uint64_t>(state.iterations())) {
    state.SkipWithError("the codec did not report the whole body");
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(wire.size()));
}
BENCHMARK(BM_Http1CodecFeed)->ArgNames({"chunked"})->Arg(0)->Arg(1);

}  // namespace
}  // namespace cistern::bench
