#include "net/http1_codec.h"

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace cistern::net {
namespace {

// What a codec made of one response, in a form that does not depend on how it was split.
struct Transcript {
  int heads = 0;
  int status = 0;
  std::string reason;
  std::vector<std::string> headers;  // "name: value"
  std::optional<uint64_t> content_length;
  std::string body;
  bool complete = false;
  bool keep_alive = false;
  size_t consumed = 0;
  std::string error;  // Error::message(), empty when none

  friend bool operator==(const Transcript&, const Transcript&) = default;
};

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

Transcript Parse(std::string_view method, const std::vector<std::string_view>& pieces, bool eof) {
  Http1Codec codec;
  codec.BeginResponse(method);
  Transcript t;
  auto collect = [&] {
    for (const Http1Event& event : codec.events()) {
      switch (event.kind) {
        case Http1Event::Kind::kHead:
          ++t.heads;
          t.status = codec.head().status;
          t.reason = codec.head().reason;
          for (const Header& h : codec.head().headers.all()) {
            t.headers.push_back(h.name + ": " + h.value);
          }
          t.content_length = codec.head().content_length;
          break;
        case Http1Event::Kind::kBody:
          t.body.append(reinterpret_cast<const char*>(event.data.data()), event.data.size());
          break;
        case Http1Event::Kind::kComplete:
          t.complete = true;
          break;
      }
    }
    codec.ClearEvents();
  };
  for (std::string_view piece : pieces) {
    auto consumed = codec.Feed(Bytes(piece));
    if (!consumed) {
      t.error = consumed.error().message();
      EXPECT_EQ(consumed.error().code, make_error_code(Errc::kProtocol));
      return t;
    }
    t.consumed += *consumed;
    collect();
  }
  if (eof) {
    auto finished = codec.FeedEof();
    if (!finished) {
      t.error = finished.error().message();
      return t;
    }
    collect();
  }
  t.keep_alive = codec.keep_alive();
  return t;
}

// Style §12: whole, byte by byte, and split at every position; the transcript must not change.
Transcript RunAllSplits(std::string_view method, std::string_view response, bool eof = false) {
  Transcript whole = Parse(method, {response}, eof);
  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < response.size(); ++i) {
    bytes.push_back(response.substr(i, 1));
  }
  Transcript by_byte = Parse(method, bytes, eof);
  if (whole.error.empty()) {
    EXPECT_EQ(by_byte, whole) << "fed byte by byte";
  } else {
    EXPECT_EQ(by_byte.error, whole.error) << "fed byte by byte";
  }
  for (size_t split = 1; split < response.size(); ++split) {
    Transcript two = Parse(method, {response.substr(0, split), response.substr(split)}, eof);
    if (whole.error.empty()) {
      EXPECT_EQ(two, whole) << "split at " << split;
    } else {
      EXPECT_EQ(two.error, whole.error) << "split at " << split;
    }
  }
  return whole;
}

TEST(Http1CodecTest, ParsesContentLengthBody) {
  std::string_view response =
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-PyPI-Last-Serial: 42\r\n\r\nhello";
  Transcript t = RunAllSplits("GET", response);
  EXPECT_EQ(t.error, "");
  EXPECT_EQ(t.heads, 1);
  EXPECT_EQ(t.status, 200);
  EXPECT_EQ(t.reason, "OK");
  EXPECT_EQ(t.headers, (std::vector<std::string>{"Content-Length: 5", "X-PyPI-Last-Serial: 42"}));
  EXPECT_EQ(t.content_length, 5u);
  EXPECT_EQ(t.body, "hello");
  EXPECT_TRUE(t.complete);
  EXPECT_TRUE(t.keep_alive);
  EXPECT_EQ(t.consumed, response.size());
}

TEST(Http1CodecTest, ParsesChunkedBodyWithExtensionsAndTrailers) {
  std::string_view response =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
  Transcript t = RunAllSplits("GET", response);
  EXPECT_EQ(t.error, "");
  EXPECT_EQ(t.body, "hello world");
  EXPECT_EQ(t.headers, (std::vector<std::string>{"Transfer-Encoding: chunked"}));
  EXPECT_EQ(t.content_length, std::nullopt);
  EXPECT_TRUE(t.complete);
  EXPECT_TRUE(t.keep_alive);
}

TEST(Http1CodecTest, CloseDelimitedBodyCompletesAtEof) {
  std::string_view response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close";
  Transcript open = RunAllSplits("GET", response, /*eof=*/false);
  EXPECT_FALSE(open.complete);
  EXPECT_EQ(open.body, "until close");
  Transcript closed = RunAllSplits("GET", response, /*eof=*/true);
  EXPECT_EQ(closed.error, "");
  EXPECT_TRUE(closed.complete);
  EXPECT_EQ(closed.body, "until close");
  EXPECT_FALSE(closed.keep_alive);
}

TEST(Http1CodecTest, HeadResponseHasNoBodyDespiteContentLength) {
  std::string_view response = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
  Transcript t = RunAllSplits("HEAD", response);
  EXPECT_EQ(t.error, "");
  EXPECT_TRUE(t.complete);
  EXPECT_EQ(t.body, "");
  EXPECT_EQ(t.content_length, 1000u);
  EXPECT_TRUE(t.keep_alive);
}

TEST(Http1CodecTest, NoContentAndNotModifiedHaveNoBody) {
  for (std::string_view response :
       {"HTTP/1.1 204 No Content\r\n\r\n", "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n"}) {
    SCOPED_TRACE(response);
    Transcript t = RunAllSplits("GET", response);
    EXPECT_EQ(t.error, "");
    EXPECT_TRUE(t.complete);
    EXPECT_EQ(t.body, "");
    EXPECT_TRUE(t.keep_alive);
  }
}

TEST(Http1CodecTest, ConnectionCloseAndHttp10AreNotKeepAlive) {
  Transcript close =
      RunAllSplits("GET", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_TRUE(close.complete);
  EXPECT_FALSE(close.keep_alive);
  Transcript http10 = RunAllSplits("GET", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_TRUE(http10.complete);
  EXPECT_FALSE(http10.keep_alive);
  Transcript http10_keep_alive = RunAllSplits(
      "GET", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_TRUE(http10_keep_alive.keep_alive);
}

TEST(Http1CodecTest, SkipsInterimResponses) {
  Transcript t = RunAllSplits("GET",
                              "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 "
                              "OK\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_EQ(t.error, "");
  EXPECT_EQ(t.heads, 1);
  EXPECT_EQ(t.status, 200);
  EXPECT_EQ(t.headers, (std::vector<std::string>{"Content-Length: 2"}));
  EXPECT_EQ(t.body, "ok");
}

TEST(Http1CodecTest, StopsAtTheEndOfTheResponse) {
  std::string_view response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA";
  Transcript t = Parse("GET", {response}, false);
  EXPECT_TRUE(t.complete);
  EXPECT_EQ(t.body, "ok");
  EXPECT_EQ(t.consumed, response.size() - 5);
}

TEST(Http1CodecTest, MalformedStatusLineIsAProtocolErrorNamingTheProblem) {
  Transcript t = RunAllSplits("GET", "HTTP/1.1 2x0 OK\r\n\r\n");
  EXPECT_EQ(t.error,
            "malformed response: HPE_INVALID_STATUS: Invalid response status: HTTP protocol error");
  Transcript not_http = RunAllSplits("GET", "SSH-2.0-OpenSSH\r\n\r\n");
  EXPECT_EQ(not_http.error,
            "malformed response: HPE_INVALID_CONSTANT: Expected HTTP/: HTTP protocol error");
}

TEST(Http1CodecTest, BadChunkSizeIsAProtocolErrorNamingTheProblem) {
  Transcript t =
      RunAllSplits("GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n");
  EXPECT_EQ(t.error,
            "malformed response: HPE_INVALID_CHUNK_SIZE: Invalid character in chunk size: HTTP "
            "protocol error");
}

TEST(Http1CodecTest, EofInTheBodyIsConnectionClosed) {
  Http1Codec codec;
  codec.BeginResponse("GET");
  auto consumed = codec.Feed(Bytes("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf"));
  ASSERT_TRUE(consumed.has_value());
  auto finished = codec.FeedEof();
  ASSERT_FALSE(finished.has_value());
  EXPECT_EQ(finished.error().code, make_error_code(Errc::kConnectionClosed));
  EXPECT_EQ(finished.error().detail, "connection closed in the response body");
}

TEST(Http1CodecTest, EofBeforeAnyByteIsConnectionClosed) {
  Http1Codec codec;
  codec.BeginResponse("GET");
  auto finished = codec.FeedEof();
  ASSERT_FALSE(finished.has_value());
  EXPECT_EQ(finished.error().code, make_error_code(Errc::kConnectionClosed));
  EXPECT_FALSE(codec.started());
}

TEST(Http1CodecTest, ParsesTwoResponsesInSequence) {
  Http1Codec codec;
  codec.BeginResponse("GET");
  ASSERT_TRUE(codec.Feed(Bytes("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na")).has_value());
  ASSERT_TRUE(codec.is_complete());
  codec.BeginResponse("GET");
  EXPECT_FALSE(codec.is_complete());
  ASSERT_TRUE(codec.Feed(Bytes("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")).has_value());
  EXPECT_TRUE(codec.is_complete());
  EXPECT_EQ(codec.head().status, 404);
}

Request MakeRequest(std::string_view url) {
  Request request;
  request.url = *Url::Parse(url);
  return request;
}

TEST(Http1CodecTest, SerialisesARequestExactly) {
  Request request = MakeRequest("https://pypi.org/simple/numpy/?format=json#frag");
  request.headers.Add("Accept", "application/vnd.pypi.simple.v1+json");
  auto bytes = Http1Codec::SerializeRequest(request, "cistern/0.1.0");
  ASSERT_TRUE(bytes.has_value());
  EXPECT_EQ(*bytes,
            "GET /simple/numpy/?format=json HTTP/1.1\r\n"
            "Host: pypi.org\r\n"
            "User-Agent: cistern/0.1.0\r\n"
            "Accept-Encoding: gzip\r\n"
            "Connection: keep-alive\r\n"
            "Accept: application/vnd.pypi.simple.v1+json\r\n"
            "\r\n");
}

TEST(Http1CodecTest, SerialisesHostWithPortAndCallerOverrides) {
  Request request = MakeRequest("http://[::1]:8080/f.whl");
  request.method = "HEAD";
  request.accept_gzip = false;
  request.headers.Add("user-agent", "custom/1");
  auto bytes = Http1Codec::SerializeRequest(request, "cistern/0.1.0");
  ASSERT_TRUE(bytes.has_value());
  EXPECT_EQ(*bytes,
            "HEAD /f.whl HTTP/1.1\r\n"
            "Host: [::1]:8080\r\n"
            "User-Agent: custom/1\r\n"
            "Connection: keep-alive\r\n"
            "\r\n");
}

TEST(Http1CodecTest, RefusesHeaderInjection) {
  Request request = MakeRequest("https://pypi.org/");
  request.headers.Add("X-Evil", "a\r\nHost: other");
  auto bytes = Http1Codec::SerializeRequest(request, "cistern/0.1.0");
  ASSERT_FALSE(bytes.has_value());
  EXPECT_EQ(bytes.error().code, make_error_code(Errc::kProtocol));
  Request bad_method = MakeRequest("https://pypi.org/");
  bad_method.method = "GET /";
  EXPECT_FALSE(Http1Codec::SerializeRequest(bad_method, "ua").has_value());
}

}  // namespace
}  // namespace cistern::net
