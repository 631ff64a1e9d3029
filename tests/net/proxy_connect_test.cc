// The CONNECT request bytes and the strict reader of a proxy's answer, fed whole, byte by byte
// and split at every position (style §12).
#include "net/proxy_connect.h"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace cistern::net {
namespace {

std::span<const uint8_t> Bytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// Feeds `chunks` in order until the reader is done or fails. Returns the number of bytes the
// head took in total, or the error.
Result<size_t> FeedChunks(ConnectResponseReader& reader, const std::vector<std::string>& chunks) {
  size_t total = 0;
  for (const std::string& chunk : chunks) {
    auto used = reader.Feed(Bytes(chunk));
    if (!used) {
      return used;
    }
    total += *used;
    if (reader.done()) {
      break;
    }
  }
  return total;
}

// Every way of cutting `text` into pieces this test checks: whole, byte by byte, and in two at
// every position.
std::vector<std::vector<std::string>> Splits(const std::string& text) {
  std::vector<std::vector<std::string>> splits;
  splits.push_back({text});
  std::vector<std::string> bytes;
  for (char c : text) {
    bytes.emplace_back(1, c);
  }
  splits.push_back(bytes);
  for (size_t i = 1; i < text.size(); ++i) {
    splits.push_back({text.substr(0, i), text.substr(i)});
  }
  return splits;
}

TEST(ConnectRequestTest, CarriesTheTargetHostAgentAndAuthorization) {
  EXPECT_EQ(SerializeConnectRequest("pypi.org:443", "cistern/0.1", "Basic dTpw"),
            "CONNECT pypi.org:443 HTTP/1.1\r\n"
            "Host: pypi.org:443\r\n"
            "User-Agent: cistern/0.1\r\n"
            "Proxy-Authorization: Basic dTpw\r\n"
            "\r\n");
  EXPECT_EQ(SerializeConnectRequest("[::1]:8443", "", ""),
            "CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n");
}

TEST(ConnectResponseReaderTest, ReadsAStatusAndFieldsAtEverySplit) {
  const std::string head =
      "HTTP/1.1 200 Connection established\r\n"
      "Proxy-Agent: tinyproxy/1.11.1\r\n"
      "X-Empty:\r\n"
      "\r\n";
  for (const auto& chunks : Splits(head)) {
    ConnectResponseReader reader;
    auto used = FeedChunks(reader, chunks);
    ASSERT_TRUE(used.has_value()) << used.error().message();
    ASSERT_TRUE(reader.done());
    EXPECT_EQ(*used, head.size());
    EXPECT_EQ(reader.status(), 200);
    EXPECT_EQ(reader.reason(), "Connection established");
    EXPECT_EQ(reader.headers().Get("proxy-agent"), "tinyproxy/1.11.1");
    EXPECT_EQ(reader.headers().Get("X-Empty"), "");
  }
}

TEST(ConnectResponseReaderTest, StopsAtTheEndOfTheHeadAndLeavesWhatFollows) {
  const std::string head = "HTTP/1.0 403 Forbidden\r\nContent-Length: 5\r\n\r\n";
  ConnectResponseReader reader;
  auto used = reader.Feed(Bytes(head + "body!"));
  ASSERT_TRUE(used.has_value()) << used.error().message();
  EXPECT_TRUE(reader.done());
  EXPECT_EQ(*used, head.size());
  EXPECT_EQ(reader.status(), 403);
  EXPECT_EQ(reader.reason(), "Forbidden");
}

TEST(ConnectResponseReaderTest, AcceptsAStatusLineWithoutReason) {
  ConnectResponseReader reader;
  auto used = reader.Feed(Bytes("HTTP/1.1 200\r\n\r\n"));
  ASSERT_TRUE(used.has_value()) << used.error().message();
  EXPECT_EQ(reader.status(), 200);
  EXPECT_EQ(reader.reason(), "");
}

TEST(ConnectResponseReaderTest, NeedsMoreUntilTheEmptyLine) {
  ConnectResponseReader reader;
  auto used = reader.Feed(Bytes("HTTP/1.1 200 OK\r\nVia: x\r\n"));
  ASSERT_TRUE(used.has_value());
  EXPECT_EQ(*used, 25u);
  EXPECT_FALSE(reader.done());
}

TEST(ConnectResponseReaderTest, RejectsMalformedHeads) {
  struct Case {
    std::string head;
    std::string message;  // part of the error detail
  };
  const std::vector<Case> cases = {
      {"HTTP/2 200 OK\r\n\r\n", "malformed status line"},
      {"SSH-2.0-OpenSSH_9.2\r\n\r\n", "malformed status line"},
      {"HTTP/1.1 2000 OK\r\n\r\n", "malformed status line"},
      {"HTTP/1.1 20x OK\r\n\r\n", "malformed status line"},
      {"HTTP/1.1 099 Low\r\n\r\n", "status 099"},
      {"HTTP/1.1 200 OK\nVia: x\n\n", "bare LF"},
      {"HTTP/1.1 200 OK\r\nVia x\r\n\r\n", "malformed field line"},
      {"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", "malformed field line"},
      {"HTTP/1.1 200 OK\r\nVia: x\r\n folded\r\n\r\n", "obs-fold"},
      {"HTTP/1.1 200 OK\r\nVia: a\rb\r\n\r\n", "bare CR"},
      {std::string("HTTP/1.1 200 OK\r\nVia: a\0b\r\n\r\n", 29), "NUL"},
      {"HTTP/1.1 200 O\x01K\r\n\r\n", "control character"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.head);
    ConnectResponseReader reader;
    auto used = reader.Feed(Bytes(c.head));
    ASSERT_FALSE(used.has_value());
    EXPECT_EQ(used.error().code, make_error_code(Errc::kProtocol));
    EXPECT_NE(used.error().detail.find(c.message), std::string::npos) << used.error().detail;
  }
}

TEST(ConnectResponseReaderTest, RejectsAHeadLargerThanTheLimit) {
  std::string head = "HTTP/1.1 200 OK\r\n";
  while (head.size() <= ConnectResponseReader::kMaxHeadSize) {
    head += "X-Padding: 0123456789abcdef0123456789abcdef\r\n";
  }
  ConnectResponseReader reader;
  size_t fed = 0;
  Result<size_t> used = 0;
  // In chunks, as it would arrive: the limit holds across them.
  while (fed < head.size()) {
    size_t n = std::min<size_t>(1000, head.size() - fed);
    used = reader.Feed(Bytes(std::string_view(head).substr(fed, n)));
    if (!used) {
      break;
    }
    fed += n;
  }
  ASSERT_FALSE(used.has_value());
  EXPECT_EQ(used.error().code, make_error_code(Errc::kProtocol));
  EXPECT_NE(used.error().detail.find("larger than 16384 bytes"), std::string::npos)
      << used.error().detail;
}

}  // namespace
}  // namespace cistern::net
