// H2Codec driven with byte strings. The peer is nghttp2's *server* session (H2ServerSession),
// or hand-built frames where a well-behaved server cannot produce the input.
#include "net/h2_codec.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/net/h2_server_session.h"

namespace cistern::net {
namespace {

using testing::H2ServerSession;

std::span<const uint8_t> Bytes(const std::string& s) {
  return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

std::string Text(std::span<const uint8_t> bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

Request Get(const std::string& url) {
  Request request;
  request.url = *Url::Parse(url);
  return request;
}

// What the events of one stream added up to.
struct StreamResult {
  int heads = 0;
  int status = 0;
  HeaderList headers;
  std::string body;
  bool ended = false;
  std::optional<Error> error;
};

struct Collected {
  std::map<int32_t, StreamResult> streams;
  std::vector<int32_t> goaway_last_streams;
  std::vector<uint32_t> settings_max_streams;
  int ping_acks = 0;
};

// Copies the codec's events (data is borrowed) and clears them.
void Collect(H2Codec& codec, Collected& out) {
  for (const H2Event& event : codec.events()) {
    StreamResult& stream = out.streams[static_cast<int32_t>(event.stream)];
    switch (event.kind) {
      case H2Event::Kind::kHead:
        ++stream.heads;
        stream.status = event.status;
        stream.headers = event.headers;
        break;
      case H2Event::Kind::kData:
        stream.body += Text(event.data);
        break;
      case H2Event::Kind::kEnd:
        stream.ended = true;
        break;
      case H2Event::Kind::kReset:
        stream.error = event.error;
        break;
      case H2Event::Kind::kGoaway:
        out.goaway_last_streams.push_back(static_cast<int32_t>(event.last_stream));
        break;
      case H2Event::Kind::kSettings:
        out.settings_max_streams.push_back(event.max_concurrent_streams);
        break;
      case H2Event::Kind::kPingAck:
        ++out.ping_acks;
        break;
    }
  }
  codec.ClearEvents();
  out.streams.erase(0);
}

std::string TakeOutput(H2Codec& codec) {
  std::vector<uint8_t> out;
  codec.TakeOutput(out);
  return std::string(out.begin(), out.end());
}

// Moves bytes both ways until neither side has anything to say.
void Pump(H2Codec& client, H2ServerSession& server, Collected& collected) {
  for (int i = 0; i < 1000; ++i) {
    std::string to_server = TakeOutput(client);
    if (!to_server.empty()) {
      ASSERT_TRUE(server.Feed(to_server));
    }
    std::string to_client = server.TakeOutput();
    if (!to_client.empty()) {
      ASSERT_TRUE(client.Feed(Bytes(to_client)).has_value());
      Collect(client, collected);
    }
    if (to_server.empty() && to_client.empty()) {
      return;
    }
  }
  FAIL() << "the sessions never went quiet";
}

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>('a' + (i * 7 + i / 13) % 26);
  }
  return s;
}

TEST(H2CodecTest, SendsThePseudoHeadersAndDefaultFields) {
  H2Codec client;
  Request request = Get("https://files.example:8443/simple/foo/?x=1#frag");
  request.headers.Add("Accept", "application/vnd.pypi.simple.v1+json");
  request.headers.Add("Connection", "keep-alive");
  request.headers.Add("X-Trace", "abc");
  auto id = client.Submit(request, "cistern/test");
  ASSERT_TRUE(id.has_value()) << id.error().message();
  EXPECT_EQ(static_cast<int32_t>(*id), 1);
  H2ServerSession server;
  ASSERT_TRUE(server.Feed(TakeOutput(client)));
  ASSERT_EQ(server.requests().size(), 1u);
  const auto& fields = server.requests()[0].fields;
  EXPECT_EQ(fields.at(":method"), "GET");
  EXPECT_EQ(fields.at(":scheme"), "https");
  EXPECT_EQ(fields.at(":authority"), "files.example:8443");
  EXPECT_EQ(fields.at(":path"), "/simple/foo/?x=1");
  EXPECT_EQ(fields.at("user-agent"), "cistern/test");
  EXPECT_EQ(fields.at("accept-encoding"), "gzip");
  EXPECT_EQ(fields.at("accept"), "application/vnd.pypi.simple.v1+json");
  EXPECT_EQ(fields.at("x-trace"), "abc");
  EXPECT_EQ(fields.count("connection"), 0u);
  EXPECT_EQ(client.open_streams(), 1u);
}

TEST(H2CodecTest, RejectsAHeaderWithALineBreak) {
  H2Codec client;
  Request request = Get("https://example.test/");
  request.headers.Add("X-Evil", "a\r\nInjected: yes");
  auto id = client.Submit(request, "ua");
  ASSERT_FALSE(id.has_value());
  EXPECT_EQ(id.error().code, make_error_code(Errc::kProtocol));
  EXPECT_NE(id.error().detail.find("X-Evil"), std::string::npos);
  EXPECT_EQ(client.open_streams(), 0u);
}

// The server's bytes for one GET answered with `body`, recorded once against a live client.
std::string RecordResponse(const std::string& body) {
  H2Codec client;
  EXPECT_TRUE(client.Submit(Get("https://example.test/f"), "ua").has_value());
  H2ServerSession server;
  server.on_request = [&server, &body](const testing::ServerRequest& request) {
    server.Respond(request.stream, 200,
                   {{"content-type", "application/octet-stream"},
                    {"content-length", std::to_string(body.size())},
                    {"x-pypi-last-serial", "42"}},
                   body);
  };
  EXPECT_TRUE(server.Feed(TakeOutput(client)));
  return server.TakeOutput();
}

void ExpectCompleteResponse(const Collected& collected, const std::string& body) {
  ASSERT_EQ(collected.streams.count(1), 1u);
  const StreamResult& stream = collected.streams.at(1);
  EXPECT_EQ(stream.heads, 1);
  EXPECT_EQ(stream.status, 200);
  EXPECT_EQ(stream.headers.Get("content-length"), std::to_string(body.size()));
  EXPECT_EQ(stream.headers.Get("X-PyPI-Last-Serial"), "42");
  EXPECT_TRUE(stream.body == body) << "body of " << stream.body.size() << " bytes differs";
  EXPECT_TRUE(stream.ended);
  EXPECT_FALSE(stream.error.has_value());
}

TEST(H2CodecTest, ReportsHeadDataAndEndFedWholeByteByByteAndSplitAnywhere) {
  const std::string body = Pattern(20'000);  // two DATA frames
  const std::string wire = RecordResponse(body);
  ASSERT_GT(wire.size(), body.size());
  auto fresh = [] {
    auto client = std::make_unique<H2Codec>();
    EXPECT_TRUE(client->Submit(Get("https://example.test/f"), "ua").has_value());
    return client;
  };
  {
    auto client = fresh();
    Collected collected;
    ASSERT_TRUE(client->Feed(Bytes(wire)).has_value());
    Collect(*client, collected);
    ExpectCompleteResponse(collected, body);
    EXPECT_EQ(client->open_streams(), 0u);
  }
  {
    auto client = fresh();
    Collected collected;
    for (size_t i = 0; i < wire.size(); ++i) {
      ASSERT_TRUE(client->Feed(Bytes(wire).subspan(i, 1)).has_value()) << "at byte " << i;
      Collect(*client, collected);
    }
    ExpectCompleteResponse(collected, body);
  }
  for (size_t split = 1; split < wire.size(); split += (split < 200 ? 1 : 97)) {
    auto client = fresh();
    Collected collected;
    ASSERT_TRUE(client->Feed(Bytes(wire).first(split)).has_value());
    Collect(*client, collected);
    ASSERT_TRUE(client->Feed(Bytes(wire).subspan(split)).has_value());
    Collect(*client, collected);
    ExpectCompleteResponse(collected, body);
    if (::testing::Test::HasFailure()) {
      FAIL() << "split at " << split;
    }
  }
}

TEST(H2CodecTest, StreamWindowBoundsUnconsumedBytesAndWindowUpdateFollowsConsume) {
  H2CodecOptions options;
  options.stream_window = 32 * 1024;
  H2Codec client(options);
  ASSERT_TRUE(client.Submit(Get("https://example.test/big"), "ua").has_value());
  const std::string body = Pattern(300 * 1024);
  H2ServerSession server;
  server.on_request = [&](const testing::ServerRequest& request) {
    server.Respond(request.stream, 200, {}, body);
  };
  Collected collected;
  Pump(client, server, collected);
  // The connection window was opened at start; the stream window only by our SETTINGS.
  int initial_updates = server.window_updates_received();
  EXPECT_EQ(collected.streams[1].body.size(), options.stream_window);
  EXPECT_EQ(server.data_bytes_sent(), options.stream_window);
  EXPECT_FALSE(collected.streams[1].ended);
  // Without Consume nothing moves, however often the sides talk.
  Pump(client, server, collected);
  EXPECT_EQ(server.data_bytes_sent(), options.stream_window);
  EXPECT_EQ(server.window_updates_received(), initial_updates);
  EXPECT_FALSE(client.has_output());

  size_t consumed = 0;
  for (int round = 0; round < 100 && !collected.streams[1].ended; ++round) {
    size_t received = collected.streams[1].body.size();
    ASSERT_LE(server.data_bytes_sent() - consumed, options.stream_window);
    client.Consume(StreamId{1}, received - consumed);
    consumed = received;
    EXPECT_TRUE(client.has_output()) << "no WINDOW_UPDATE after consuming a whole window";
    Pump(client, server, collected);
  }
  EXPECT_TRUE(collected.streams[1].ended);
  EXPECT_TRUE(collected.streams[1].body == body);
  EXPECT_GT(server.window_updates_received(), initial_updates);
  EXPECT_EQ(client.stats().data_bytes_received, body.size());
}

TEST(H2CodecTest, ConnectionWindowBoundsAllStreamsTogether) {
  H2CodecOptions options;
  options.stream_window = 64 * 1024;
  options.connection_window = 96 * 1024;
  H2Codec client(options);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client.Submit(Get("https://example.test/" + std::to_string(i)), "ua"));
  }
  const std::string body = Pattern(100 * 1024);
  H2ServerSession server;
  server.on_request = [&](const testing::ServerRequest& request) {
    server.Respond(request.stream, 200, {}, body);
  };
  Collected collected;
  Pump(client, server, collected);
  EXPECT_EQ(server.data_bytes_sent(), options.connection_window);
  EXPECT_EQ(client.stats().data_bytes_received, options.connection_window);
}

TEST(H2CodecTest, GoawayRefusesStreamsAboveLastStreamIdAndTheOthersFinish) {
  H2Codec client;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client.Submit(Get("https://example.test/" + std::to_string(i)), "ua"));
  }
  H2ServerSession server;
  ASSERT_TRUE(server.Feed(TakeOutput(client)));
  ASSERT_EQ(server.requests().size(), 3u);
  server.Goaway(3, kH2NoError);
  server.Respond(1, 200, {}, "one");
  server.Respond(3, 200, {}, "three");
  Collected collected;
  Pump(client, server, collected);
  EXPECT_EQ(collected.goaway_last_streams, std::vector<int32_t>{3});
  EXPECT_TRUE(collected.streams[1].ended);
  EXPECT_EQ(collected.streams[1].body, "one");
  EXPECT_TRUE(collected.streams[3].ended);
  EXPECT_EQ(collected.streams[3].body, "three");
  ASSERT_TRUE(collected.streams[5].error.has_value());
  EXPECT_EQ(collected.streams[5].error->code, make_error_code(Errc::kRefusedStream));
  EXPECT_NE(collected.streams[5].error->detail.find("last-stream-id 3"), std::string::npos)
      << collected.streams[5].error->detail;
  EXPECT_TRUE(IsTransient(*collected.streams[5].error));
  EXPECT_FALSE(client.can_submit());
  auto refused = client.Submit(Get("https://example.test/late"), "ua");
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, make_error_code(Errc::kRefusedStream));
}

TEST(H2CodecTest, ResetEndsOnlyThatStream) {
  H2Codec client;
  ASSERT_TRUE(client.Submit(Get("https://example.test/a"), "ua"));
  ASSERT_TRUE(client.Submit(Get("https://example.test/b"), "ua"));
  ASSERT_TRUE(client.Submit(Get("https://example.test/c"), "ua"));
  H2ServerSession server;
  ASSERT_TRUE(server.Feed(TakeOutput(client)));
  server.Reset(3, 0x2);  // INTERNAL_ERROR
  server.Reset(5, kH2RefusedStream);
  server.Respond(1, 200, {}, "still here");
  Collected collected;
  Pump(client, server, collected);
  EXPECT_TRUE(collected.streams[1].ended);
  EXPECT_EQ(collected.streams[1].body, "still here");
  ASSERT_TRUE(collected.streams[3].error.has_value());
  EXPECT_EQ(collected.streams[3].error->code, make_error_code(Errc::kStreamReset));
  EXPECT_EQ(collected.streams[3].error->detail, "stream 3 reset by the peer: INTERNAL_ERROR");
  ASSERT_TRUE(collected.streams[5].error.has_value());
  EXPECT_EQ(collected.streams[5].error->code, make_error_code(Errc::kRefusedStream));
  EXPECT_TRUE(client.can_submit());
  EXPECT_EQ(client.open_streams(), 0u);
}

TEST(H2CodecTest, EndStreamShortOfContentLengthIsATransientEarlyClose) {
  H2Codec client;
  ASSERT_TRUE(client.Submit(Get("https://example.test/short"), "ua"));
  ASSERT_TRUE(client.Submit(Get("https://example.test/exact"), "ua"));
  ASSERT_TRUE(client.Submit(Get("https://example.test/long"), "ua"));
  ASSERT_TRUE(client.Submit(Get("https://example.test/empty"), "ua"));
  H2ServerSession server;
  ASSERT_TRUE(server.Feed(TakeOutput(client)));
  // nghttp2's server sends what it is given: the content-length is not checked on its side.
  server.Respond(1, 200, {{"content-length", "10"}}, "abcd");
  server.Respond(3, 200, {{"content-length", "4"}}, "abcd");
  server.Respond(5, 200, {{"content-length", "2"}}, "abcd");
  server.Respond(7, 200, {{"content-length", "3"}}, "");
  Collected collected;
  Pump(client, server, collected);

  ASSERT_TRUE(collected.streams[1].error.has_value());
  EXPECT_EQ(collected.streams[1].error->code, make_error_code(Errc::kConnectionClosed))
      << collected.streams[1].error->message();
  EXPECT_EQ(collected.streams[1].error->detail,
            "stream 1 ended (END_STREAM) after 4 of the 10 body bytes its content-length "
            "announced");
  EXPECT_TRUE(IsTransient(*collected.streams[1].error));
  EXPECT_EQ(collected.streams[1].body, "abcd");
  EXPECT_FALSE(collected.streams[1].ended);

  EXPECT_TRUE(collected.streams[3].ended);
  EXPECT_FALSE(collected.streams[3].error.has_value());
  EXPECT_EQ(collected.streams[3].body, "abcd");

  // More than announced is a protocol violation, not an early close.
  ASSERT_TRUE(collected.streams[5].error.has_value());
  EXPECT_EQ(collected.streams[5].error->code, make_error_code(Errc::kProtocol));
  EXPECT_FALSE(IsTransient(*collected.streams[5].error));

  // HEADERS with END_STREAM and a content-length above zero: no body at all.
  ASSERT_TRUE(collected.streams[7].error.has_value());
  EXPECT_EQ(collected.streams[7].error->code, make_error_code(Errc::kConnectionClosed));
  EXPECT_TRUE(client.can_submit());
  EXPECT_EQ(client.open_streams(), 0u);
}

TEST(H2CodecTest, LocalResetSendsCancelAndLaterDataIsConsumedSilently) {
  H2CodecOptions options;
  options.stream_window = 16 * 1024;
  options.connection_window = 32 * 1024;
  H2Codec client(options);
  ASSERT_TRUE(client.Submit(Get("https://example.test/a"), "ua"));
  ASSERT_TRUE(client.Submit(Get("https://example.test/b"), "ua"));
  H2ServerSession server;
  ASSERT_TRUE(server.Feed(TakeOutput(client)));
  server.Respond(1, 200, {}, Pattern(64 * 1024));
  server.Respond(3, 200, {}, Pattern(40 * 1024));
  Collected collected;
  Pump(client, server, collected);
  size_t got = collected.streams[1].body.size();
  ASSERT_GT(got, 0u);
  client.Reset(StreamId{1}, kH2Cancel);
  client.Consume(StreamId{1}, got);  // the bytes already reported still leave the window
  Pump(client, server, collected);
  EXPECT_EQ(server.rst_codes(), std::vector<uint32_t>{kH2Cancel});
  EXPECT_FALSE(collected.streams[1].error.has_value());  // no event after our own reset
  // Stream 3 can finish: the connection window came back.
  for (int round = 0; round < 20 && !collected.streams[3].ended; ++round) {
    size_t before = client.stats().data_bytes_consumed;
    client.Consume(StreamId{3}, collected.streams[3].body.size() -
                                    (before - static_cast<uint64_t>(got)));
    Pump(client, server, collected);
  }
  EXPECT_TRUE(collected.streams[3].ended);
  EXPECT_EQ(collected.streams[3].body.size(), 40u * 1024);
}

TEST(H2CodecTest, ReportsThePeersMaxConcurrentStreams) {
  H2Codec client;
  EXPECT_EQ(client.peer_max_concurrent_streams(), 100u);  // until the peer's SETTINGS
  H2ServerSession server({{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 7}});
  Collected collected;
  Pump(client, server, collected);
  EXPECT_EQ(collected.settings_max_streams, std::vector<uint32_t>{7});
  EXPECT_EQ(client.peer_max_concurrent_streams(), 7u);
  server.SubmitSettings({{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 2}});
  Pump(client, server, collected);
  EXPECT_EQ(collected.settings_max_streams, (std::vector<uint32_t>{7, 2}));
}

TEST(H2CodecTest, PingIsAcknowledged) {
  H2Codec client;
  H2ServerSession server;
  Collected collected;
  Pump(client, server, collected);
  client.Ping();
  Pump(client, server, collected);
  EXPECT_EQ(server.pings_received(), 1);
  EXPECT_EQ(collected.ping_acks, 1);
}

// A server's first frame must be SETTINGS (RFC 9113 §3.4).
const std::string kServerSettings("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9);

void ExpectProtocolError(const std::string& wire, const std::string& reason_part) {
  for (bool byte_by_byte : {false, true}) {
    H2Codec client;
    ASSERT_TRUE(client.Submit(Get("https://example.test/"), "ua"));
    Result<void> fed;
    if (byte_by_byte) {
      for (size_t i = 0; i < wire.size() && fed; ++i) {
        fed = client.Feed(Bytes(wire).subspan(i, 1));
      }
    } else {
      fed = client.Feed(Bytes(wire));
    }
    ASSERT_FALSE(fed.has_value()) << "accepted " << reason_part;
    EXPECT_EQ(fed.error().code, make_error_code(Errc::kProtocol));
    EXPECT_NE(fed.error().detail.find(reason_part), std::string::npos) << fed.error().detail;
    EXPECT_TRUE(client.failed());
    EXPECT_FALSE(client.can_submit());
    // The codec said goodbye (GOAWAY, type 7) and keeps failing the same way.
    std::string out = TakeOutput(client);
    EXPECT_NE(out.find(std::string("\x07\x00\x00\x00\x00\x00", 6)), std::string::npos);
    auto again = client.Feed(Bytes(kServerSettings));
    ASSERT_FALSE(again.has_value());
    EXPECT_EQ(again.error().detail, fed.error().detail);
  }
}

TEST(H2CodecTest, SettingsWithABadLengthIsAFrameSizeError) {
  ExpectProtocolError(std::string("\x00\x00\x05\x04\x00\x00\x00\x00\x00", 9) + "12345",
                      "FRAME_SIZE_ERROR");
}

TEST(H2CodecTest, AnHttp1AnswerIsAProtocolError) {
  ExpectProtocolError("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", "ERROR");
}

TEST(H2CodecTest, DataOnStreamZeroIsAProtocolError) {
  ExpectProtocolError(kServerSettings + std::string("\x00\x00\x02\x00\x00\x00\x00\x00\x00", 9) +
                          "hi",
                      "PROTOCOL_ERROR");
}

TEST(H2CodecTest, AMalformedResponseHeadResetsOnlyThatStream) {
  H2Codec client;
  ASSERT_TRUE(client.Submit(Get("https://example.test/"), "ua"));
  // HEADERS on stream 1 (END_HEADERS) whose only field is a literal "Upper: x": upper-case
  // names are malformed in HTTP/2 (RFC 9113 §8.2.1).
  std::string block = std::string("\x00\x05", 2) + "Upper" + std::string("\x01", 1) + "x";
  std::string frame = std::string("\x00\x00", 2) + static_cast<char>(block.size()) +
                      std::string("\x01\x04\x00\x00\x00\x01", 6) + block;
  auto fed = client.Feed(Bytes(kServerSettings + frame));
  ASSERT_TRUE(fed.has_value()) << fed.error().message();
  Collected collected;
  Collect(client, collected);
  ASSERT_TRUE(collected.streams[1].error.has_value());
  EXPECT_EQ(collected.streams[1].error->code, make_error_code(Errc::kProtocol));
  EXPECT_FALSE(IsTransient(*collected.streams[1].error));
  EXPECT_TRUE(client.can_submit());
}

}  // namespace
}  // namespace cistern::net
