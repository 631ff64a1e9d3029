// FaultServer against curl (a client that shares no code with cistern or with the server):
// what is served, how ranges and validators answer, and what each fault looks like on the wire.
// Every curl run has --max-time and RunCommand's own limit, so no test can hang.
#include "tests/support/fault_server.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/nginx_upstream.h"
#include "tests/support/test_certificates.h"

namespace cistern::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

// curl's exit codes used below (curl(1) "EXIT CODES").
constexpr int kCurlPartialFile = 18;
constexpr int kCurlTimeout = 28;
constexpr int kCurlRecvError = 56;
constexpr int kCurlHttp2Stream = 92;

// Deterministic, position-dependent bytes: a shifted or corrupted range shows.
std::string Pattern(size_t size) {
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i) {
    bytes[i] = static_cast<char>((i * 31 + i / 251) & 0xff);
  }
  return bytes;
}

struct CurlResult {
  int exit_code = -1;
  int status = 0;            // %{http_code}
  std::string http_version;  // %{http_version}: "1.1", "2"
  std::string body;          // what curl wrote to -o
  std::string headers;       // -D, lower-cased by the servers already
  std::string err;
  std::chrono::milliseconds elapsed{0};
};

enum class Proto { kHttp11, kH2 };

std::string ProtoName(Proto proto) { return proto == Proto::kH2 ? "h2" : "http/1.1"; }

class FaultServerTest : public ::testing::Test {
 protected:
  // Starts a server; TLS unless `plain`.
  void StartServer(bool tls = true, FaultServerOptions options = {}) {
    if (tls) {
      auto certificates = MakeTestCertificates(dir_.path());
      ASSERT_TRUE(certificates) << certificates.error();
      certificates_ = *certificates;
      options.tls_cert_file = certificates_.cert_file;
      options.tls_key_file = certificates_.key_file;
    }
    auto server = FaultServer::Start(options);
    ASSERT_TRUE(server) << server.error();
    server_ = std::move(*server);
  }

  // Runs curl on `urls` with `args`; the body of the last URL goes to a file that is read back.
  CurlResult Curl(std::vector<std::string> args, const std::vector<std::string>& urls,
                  int max_seconds = 10) {
    const std::string body_file = (dir_.path() / "body").string();
    const std::string header_file = (dir_.path() / "headers").string();
    fs::remove(body_file);
    fs::remove(header_file);
    std::vector<std::string> argv = {"curl",
                                     "-q",
                                     "-sS",
                                     "--noproxy",
                                     "*",
                                     "--max-time",
                                     std::to_string(max_seconds),
                                     "-D",
                                     header_file,
                                     "-w",
                                     "%{http_code} %{http_version}\\n"};
    if (!certificates_.ca_file.empty()) {
      argv.insert(argv.end(), {"--cacert", certificates_.ca_file});
    }
    argv.insert(argv.end(), args.begin(), args.end());
    for (const std::string& url : urls) {
      argv.insert(argv.end(), {"-o", body_file, url});
    }
    auto started = std::chrono::steady_clock::now();
    CommandResult run = RunCommand(argv, {}, std::chrono::seconds(max_seconds + 20));
    CurlResult result;
    result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    result.exit_code = run.exit_code;
    result.err = run.err;
    result.body = ReadFile(body_file);
    result.headers = ReadFile(header_file);
    // The last "%{http_code} %{http_version}" line.
    std::string out = run.out;
    while (!out.empty() && out.back() == '\n') {
      out.pop_back();
    }
    std::string last = out.substr(out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1);
    if (size_t space = last.find(' '); space != std::string::npos) {
      result.status = std::atoi(last.substr(0, space).c_str());
      result.http_version = last.substr(space + 1);
    }
    return result;
  }

  CurlResult Get(Proto proto, std::string_view path, std::vector<std::string> args = {},
                 int max_seconds = 10) {
    args.insert(args.begin(), proto == Proto::kH2 ? "--http2" : "--http1.1");
    return Curl(std::move(args), {server_->url(path)}, max_seconds);
  }

  // The one record of `path`, after its outcome is known.
  RequestRecord OnlyRecord(std::string_view path) {
    EXPECT_TRUE(server_->WaitForFinishedRequests(server_->requests(), std::chrono::seconds(5)));
    std::vector<RequestRecord> records = server_->RequestsFor(path);
    EXPECT_EQ(records.size(), 1u) << path;
    return records.empty() ? RequestRecord() : records.back();
  }

  TempDir dir_;
  TestCertificates certificates_;
  std::unique_ptr<FaultServer> server_;
};

// The same behaviour over HTTP/1.1 and HTTP/2 (both with TLS and ALPN).
class FaultServerProtoTest : public FaultServerTest, public ::testing::WithParamInterface<Proto> {
 protected:
  void SetUp() override {
    StartServer();
    ASSERT_TRUE(server_);
    body_ = Pattern(100'000);
    server_->SetResource(
        "/f.whl",
        {.body = body_, .etag = "\"v1\"", .last_modified = "Mon, 01 Jan 2024 00:00:00 GMT"});
  }

  Proto proto() const { return GetParam(); }

  std::string body_;
};

INSTANTIATE_TEST_SUITE_P(Protocols, FaultServerProtoTest,
                         ::testing::Values(Proto::kHttp11, Proto::kH2),
                         [](const ::testing::TestParamInfo<Proto>& param_info) {
                           return param_info.param == Proto::kH2 ? std::string("H2")
                                                                 : std::string("Http11");
                         });

TEST_P(FaultServerProtoTest, GetReturnsTheBytesAndIsRecorded) {
  CurlResult got = Get(proto(), "/f.whl?x=1", {"-A", "cistern-test/1"});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.http_version, proto() == Proto::kH2 ? "2" : "1.1");
  EXPECT_TRUE(got.body == body_);
  EXPECT_THAT(got.headers, HasSubstr("etag: \"v1\""));
  EXPECT_THAT(got.headers, HasSubstr("content-length: 100000"));

  RequestRecord record = OnlyRecord("/f.whl");
  EXPECT_EQ(record.protocol, ProtoName(proto()));
  EXPECT_EQ(record.method, "GET");
  EXPECT_EQ(record.target, "/f.whl?x=1");
  EXPECT_EQ(record.user_agent, "cistern-test/1");
  EXPECT_EQ(record.status, 200);
  EXPECT_EQ(record.body_bytes_sent, 100'000u);
  EXPECT_EQ(record.outcome, "complete");
  EXPECT_EQ(record.connection_id, 1u);
  EXPECT_EQ(record.stream_id, proto() == Proto::kH2 ? 1 : 0);
  EXPECT_FALSE(record.fault_applied);
}

TEST_P(FaultServerProtoTest, HeadSendsTheLengthAndNoBody) {
  CurlResult got = Get(proto(), "/f.whl", {"-I"});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.status, 200);
  EXPECT_THAT(got.headers, HasSubstr("content-length: 100000"));
  EXPECT_EQ(OnlyRecord("/f.whl").body_bytes_sent, 0u);
}

TEST_P(FaultServerProtoTest, UnknownPathIs404) {
  CurlResult got = Get(proto(), "/missing");
  EXPECT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.status, 404);
}

TEST_P(FaultServerProtoTest, OpenRangeReturnsTheRest) {
  CurlResult got = Get(proto(), "/f.whl", {"-r", "60000-"});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.status, 206);
  EXPECT_THAT(got.headers, HasSubstr("content-range: bytes 60000-99999/100000"));
  EXPECT_TRUE(got.body == body_.substr(60000));
  RequestRecord record = OnlyRecord("/f.whl");
  EXPECT_EQ(record.range, "bytes=60000-");
  EXPECT_EQ(record.body_bytes_sent, 40'000u);
}

TEST_P(FaultServerProtoTest, ClosedRangeReturnsExactlyThoseBytes) {
  CurlResult got = Get(proto(), "/f.whl", {"-r", "10-19"});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.status, 206);
  EXPECT_THAT(got.headers, HasSubstr("content-range: bytes 10-19/100000"));
  EXPECT_TRUE(got.body == body_.substr(10, 10));
}

TEST_P(FaultServerProtoTest, IfRangeMatchingEtagOrDateGives206) {
  CurlResult by_etag = Get(proto(), "/f.whl", {"-r", "99990-", "-H", "If-Range: \"v1\""});
  EXPECT_EQ(by_etag.status, 206);
  CurlResult by_date =
      Get(proto(), "/f.whl", {"-r", "99990-", "-H", "If-Range: Mon, 01 Jan 2024 00:00:00 GMT"});
  EXPECT_EQ(by_date.status, 206);
  EXPECT_EQ(by_date.body.size(), 10u);
}

TEST_P(FaultServerProtoTest, IfRangeMismatchGivesTheWholeBody) {
  CurlResult got = Get(proto(), "/f.whl", {"-r", "60000-", "-H", "If-Range: \"v0\""});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.status, 200);
  EXPECT_TRUE(got.body == body_);
  EXPECT_EQ(OnlyRecord("/f.whl").if_range, "\"v0\"");
}

TEST_P(FaultServerProtoTest, UnsatisfiableRangeIs416) {
  CurlResult got = Get(proto(), "/f.whl", {"-r", "100000-"});
  EXPECT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.status, 416);
  EXPECT_THAT(got.headers, HasSubstr("content-range: bytes */100000"));
}

TEST_P(FaultServerProtoTest, ResetAfterNBytesFailsTheClientWhichGotExactlyN) {
  server_->AddFault("/f.whl", {.reset_after_bytes = 30'000});
  CurlResult got = Get(proto(), "/f.whl");
  EXPECT_NE(got.exit_code, 0);
  if (proto() == Proto::kHttp11) {  // curl drops what it buffered of a failed HTTP/2 stream
    EXPECT_EQ(got.exit_code, kCurlRecvError) << got.err;
    EXPECT_THAT(got.err, HasSubstr("reset by peer"));  // an RST, not a FIN
    EXPECT_EQ(got.body.size(), 30'000u);
    EXPECT_TRUE(got.body == body_.substr(0, 30'000));
  }
  RequestRecord record = OnlyRecord("/f.whl");
  EXPECT_TRUE(record.fault_applied);
  EXPECT_EQ(record.body_bytes_sent, 30'000u);
  EXPECT_EQ(record.outcome, "reset");
}

TEST_P(FaultServerProtoTest, ResetAtAFractionOfTheBody) {
  server_->AddFault("/f.whl", {.reset_at_fraction = 0.25});
  CurlResult got = Get(proto(), "/f.whl");
  EXPECT_NE(got.exit_code, 0);
  EXPECT_EQ(OnlyRecord("/f.whl").body_bytes_sent, 25'000u);
}

TEST_P(FaultServerProtoTest, ShortBodyThenCleanEndIsAnErrorForTheClient) {
  server_->AddFault("/f.whl", {.close_after_bytes = 5'000});
  CurlResult got = Get(proto(), "/f.whl");
  EXPECT_NE(got.exit_code, 0);
  if (proto() == Proto::kHttp11) {  // curl drops what it buffered of a failed HTTP/2 stream
    EXPECT_EQ(got.exit_code, kCurlPartialFile) << got.err;
    EXPECT_EQ(got.body.size(), 5'000u);
  }
  RequestRecord record = OnlyRecord("/f.whl");
  EXPECT_EQ(record.outcome, "closed");
  EXPECT_EQ(record.content_length, 100'000u);
  EXPECT_EQ(record.body_bytes_sent, 5'000u);
}

TEST_P(FaultServerProtoTest, FaultOnTheSecondRequestOnly) {
  server_->AddFault("/f.whl", {.request = 2, .status = 503});
  EXPECT_EQ(Get(proto(), "/f.whl").status, 200);
  EXPECT_EQ(Get(proto(), "/f.whl").status, 503);
  EXPECT_EQ(Get(proto(), "/f.whl").status, 200);
  EXPECT_EQ(server_->requests(), 3u);
}

TEST_P(FaultServerProtoTest, TooManyRequestsCarriesRetryAfter) {
  server_->AddFault("/f.whl", {.status = 429, .headers = {{"retry-after", "2"}}});
  CurlResult got = Get(proto(), "/f.whl");
  EXPECT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.status, 429);
  EXPECT_THAT(got.headers, HasSubstr("retry-after: 2"));
  EXPECT_EQ(OnlyRecord("/f.whl").status, 429);
}

TEST_P(FaultServerProtoTest, WildcardFaultAppliesToEveryPath) {
  server_->SetResource("/other", {.body = "x"});
  server_->AddFault("*", {.status = 500});
  EXPECT_EQ(Get(proto(), "/other").status, 500);
  EXPECT_EQ(Get(proto(), "/f.whl").status, 500);
  server_->ClearFaults();
  EXPECT_EQ(Get(proto(), "/other").status, 200);
}

TEST_P(FaultServerProtoTest, CorruptedBytesAreFlippedAtTheirOffsets) {
  server_->AddFault("/f.whl", {.corrupt_offsets = {0, 77'777}});
  CurlResult got = Get(proto(), "/f.whl");
  ASSERT_EQ(got.exit_code, 0) << got.err;
  ASSERT_EQ(got.body.size(), body_.size());
  std::vector<size_t> differ;
  for (size_t i = 0; i < body_.size(); ++i) {
    if (got.body[i] != body_[i]) {
      differ.push_back(i);
    }
  }
  EXPECT_EQ(differ, (std::vector<size_t>{0, 77'777}));
  EXPECT_EQ(static_cast<unsigned char>(got.body[0]),
            static_cast<unsigned char>(~static_cast<unsigned char>(body_[0])));
}

TEST_P(FaultServerProtoTest, IgnoredRangeAnswers200WithEverything) {
  server_->AddFault("/f.whl", {.ignore_range = true});
  CurlResult got = Get(proto(), "/f.whl", {"-r", "500-"});
  EXPECT_EQ(got.status, 200);
  EXPECT_TRUE(got.body == body_);
}

TEST_P(FaultServerProtoTest, ChangedEtagDefeatsIfRange) {
  server_->AddFault("/f.whl", {.etag = "\"v2\""});
  CurlResult got = Get(proto(), "/f.whl", {"-r", "500-", "-H", "If-Range: \"v1\""});
  EXPECT_EQ(got.status, 200);
  EXPECT_THAT(got.headers, HasSubstr("etag: \"v2\""));
  EXPECT_EQ(got.body.size(), body_.size());
}

TEST_P(FaultServerProtoTest, StallForADurationThenFinish) {
  server_->AddFault("/f.whl",
                    {.stall_after_bytes = 1'000, .stall_for = std::chrono::milliseconds(400)});
  CurlResult got = Get(proto(), "/f.whl");
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_TRUE(got.body == body_);
  EXPECT_GE(got.elapsed, std::chrono::milliseconds(400));
}

TEST_P(FaultServerProtoTest, StallForeverTimesTheClientOutAndStopStillReturns) {
  server_->AddFault("/f.whl", {.stall_after_bytes = 1'000});
  CurlResult got = Get(proto(), "/f.whl", {}, /*max_seconds=*/3);
  EXPECT_EQ(got.exit_code, kCurlTimeout) << got.err;
  EXPECT_EQ(got.body.size(), 1'000u);
  auto started = std::chrono::steady_clock::now();
  server_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));
  std::vector<RequestRecord> records = server_->RequestsFor("/f.whl");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].body_bytes_sent, 1'000u);
  EXPECT_FALSE(records[0].outcome.empty());
}

TEST_P(FaultServerProtoTest, SendRateIsLimited) {
  server_->SetResource("/small", {.body = Pattern(20'000)});
  server_->AddFault("/small", {.bytes_per_second = 40'000});
  CurlResult got = Get(proto(), "/small");
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.body.size(), 20'000u);
  EXPECT_GE(got.elapsed, std::chrono::milliseconds(400));
}

TEST_P(FaultServerProtoTest, DelayedHeaders) {
  server_->AddFault("/f.whl", {.delay_headers = std::chrono::milliseconds(300)});
  CurlResult got = Get(proto(), "/f.whl");
  EXPECT_EQ(got.status, 200);
  EXPECT_GE(got.elapsed, std::chrono::milliseconds(300));
}

TEST_P(FaultServerProtoTest, ResetBeforeResponse) {
  server_->AddFault("/f.whl", {.reset_before_response = true});
  CurlResult got = Get(proto(), "/f.whl");
  EXPECT_NE(got.exit_code, 0);
  EXPECT_EQ(OnlyRecord("/f.whl").outcome, "reset");
}

TEST_P(FaultServerProtoTest, TwoRequestsShareOneConnection) {
  std::vector<std::string> args = {proto() == Proto::kH2 ? "--http2" : "--http1.1"};
  CurlResult got = Curl(args, {server_->url("/f.whl"), server_->url("/f.whl")});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(server_->requests(), 2u);
  EXPECT_EQ(server_->connections_accepted(), 1u);
}

// --- HTTP/2 only ---

TEST_F(FaultServerTest, RstStreamAfterNBytesIsAStreamErrorForCurl) {
  StartServer();
  server_->SetResource("/f", {.body = Pattern(50'000)});
  server_->AddFault("/f",
                    {.rst_stream_after_bytes = 10'000, .rst_stream_code = H2Error::kInternalError});
  CurlResult got = Get(Proto::kH2, "/f");
  EXPECT_EQ(got.exit_code, kCurlHttp2Stream) << got.err;
  EXPECT_THAT(got.err, HasSubstr("INTERNAL_ERROR"));
  EXPECT_EQ(got.body.size(), 10'000u);
  RequestRecord record = OnlyRecord("/f");
  EXPECT_EQ(record.outcome, "rst_stream");
  EXPECT_EQ(record.body_bytes_sent, 10'000u);
}

TEST_F(FaultServerTest, RefusedStreamRightAfterTheHead) {
  StartServer();
  server_->SetResource("/f", {.body = Pattern(1'000)});
  server_->AddFault("/f",
                    {.rst_stream_after_bytes = 0, .rst_stream_code = H2Error::kRefusedStream});
  CurlResult got = Get(Proto::kH2, "/f");
  EXPECT_NE(got.exit_code, 0);
  EXPECT_EQ(server_->RequestsFor("/f").front().outcome, "rst_stream");
}

TEST_F(FaultServerTest, GoAwayBelowTheStreamRefusesIt) {
  StartServer();
  server_->SetResource("/f", {.body = Pattern(1'000)});
  server_->AddFault("/f", {.goaway = GoAway{.last_stream_id = 0}});
  CurlResult got = Get(Proto::kH2, "/f");
  EXPECT_NE(got.exit_code, 0) << got.err;
  ASSERT_TRUE(server_->WaitForFinishedRequests(server_->requests(), std::chrono::seconds(5)));
  std::vector<RequestRecord> records = server_->RequestsFor("/f");
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records[0].outcome, "refused");
  EXPECT_EQ(records[0].status, 0);
}

TEST_F(FaultServerTest, GoAwayAtTheStreamStillFinishesIt) {
  StartServer();
  server_->SetResource("/f", {.body = Pattern(30'000)});
  server_->AddFault("/f", {.goaway = GoAway{.after_bytes = 10'000}});
  CurlResult got = Get(Proto::kH2, "/f");
  EXPECT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.body.size(), 30'000u);
  EXPECT_EQ(OnlyRecord("/f").outcome, "complete");
}

TEST_F(FaultServerTest, TerminatingGoAwayMidBodyFailsTheTransfer) {
  StartServer();
  server_->SetResource("/f", {.body = Pattern(50'000)});
  server_->AddFault("/f", {.goaway = GoAway{.last_stream_id = 0,
                                            .error_code = H2Error::kInternalError,
                                            .after_bytes = 10'000,
                                            .terminate = true}});
  CurlResult got = Get(Proto::kH2, "/f");
  EXPECT_NE(got.exit_code, 0);
  EXPECT_EQ(OnlyRecord("/f").body_bytes_sent, 10'000u);
}

TEST_F(FaultServerTest, PlainHttp2WithPriorKnowledge) {
  StartServer(/*tls=*/false);
  server_->SetResource("/f", {.body = "hello"});
  CurlResult got = Curl({"--http2-prior-knowledge"}, {server_->url("/f")});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.http_version, "2");
  EXPECT_EQ(got.body, "hello");
  EXPECT_EQ(OnlyRecord("/f").protocol, "h2");
}

// nghttp (nghttp2-client) shows the frames: the advertised settings, and a body that arrives
// whole through a 1 KiB stream window.
TEST_F(FaultServerTest, AdvertisesMaxConcurrentStreamsAndRespectsFlowControl) {
  FaultServerOptions options;
  options.max_concurrent_streams = 3;
  StartServer(true, options);
  const std::string body = Pattern(200'000);
  server_->SetResource("/big", {.body = body});
  CommandResult run = RunCommand({"nghttp", "-v", "--window-bits=10", server_->url("/big")}, {},
                                 std::chrono::seconds(30));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("SETTINGS_MAX_CONCURRENT_STREAMS(0x03):3"));
  EXPECT_THAT(run.out, HasSubstr("WINDOW_UPDATE"));
  RequestRecord record = OnlyRecord("/big");
  EXPECT_EQ(record.outcome, "complete");
  EXPECT_EQ(record.body_bytes_sent, body.size());
}

// --- connections, TLS, options ---

TEST_F(FaultServerTest, PlainHttp11) {
  StartServer(/*tls=*/false);
  server_->SetResource("/f", {.body = "hello"});
  EXPECT_EQ(server_->url("/f").substr(0, 7), "http://");
  CurlResult got = Get(Proto::kHttp11, "/f");
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.body, "hello");
}

TEST_F(FaultServerTest, Http11OnlyAlpnMakesCurlUseHttp11) {
  FaultServerOptions options;
  options.alpn = FaultServerOptions::Alpn::kHttp11Only;
  StartServer(true, options);
  server_->SetResource("/f", {.body = "x"});
  CurlResult got = Get(Proto::kH2, "/f");
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.http_version, "1.1");
}

TEST_F(FaultServerTest, H2OnlyAlpnRefusesAnHttp11OnlyClient) {
  FaultServerOptions options;
  options.alpn = FaultServerOptions::Alpn::kH2Only;
  StartServer(true, options);
  server_->SetResource("/f", {.body = "x"});
  EXPECT_EQ(Get(Proto::kH2, "/f").http_version, "2");
  EXPECT_NE(Get(Proto::kHttp11, "/f").exit_code, 0);
}

TEST_F(FaultServerTest, StalledHandshakeTimesTheClientOut) {
  StartServer();
  server_->SetResource("/f", {.body = "x"});
  server_->AddConnectionFault({.connection = 1, .stall_handshake = true});
  CurlResult got = Get(Proto::kH2, "/f", {}, /*max_seconds=*/1);
  EXPECT_EQ(got.exit_code, kCurlTimeout) << got.err;
  EXPECT_EQ(server_->requests(), 0u);
  CurlResult second = Get(Proto::kH2, "/f");
  EXPECT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(server_->connections_accepted(), 2u);
}

TEST_F(FaultServerTest, ResetOnAccept) {
  StartServer(/*tls=*/false);
  server_->SetResource("/f", {.body = "x"});
  server_->AddConnectionFault({.reset_on_accept = true});
  CurlResult got = Get(Proto::kHttp11, "/f");
  // Depending on when the RST lands: "couldn't connect", "empty reply" or "recv failure".
  EXPECT_THAT(got.exit_code, ::testing::AnyOf(7, 52, kCurlRecvError)) << got.err;
  EXPECT_EQ(server_->connections_accepted(), 1u);
  EXPECT_EQ(server_->requests(), 0u);
}

TEST_F(FaultServerTest, ServesADirectoryWithNginxStyleValidators) {
  fs::create_directories(dir_.path() / "root" / "packages");
  std::ofstream(dir_.path() / "root" / "packages" / "a.txt") << "from disk";
  FaultServerOptions options;
  options.root = dir_.path() / "root";
  StartServer(/*tls=*/false, options);
  CurlResult got = Get(Proto::kHttp11, "/packages/a.txt");
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.body, "from disk");
  EXPECT_THAT(got.headers, HasSubstr("etag: \""));
  EXPECT_THAT(got.headers, HasSubstr("last-modified: "));
  EXPECT_EQ(Get(Proto::kHttp11, "/packages/../a.txt").status, 404);
  EXPECT_THAT(got.headers, Not(HasSubstr("transfer-encoding")));
}

TEST_F(FaultServerTest, NoContentLengthMeansCloseDelimitedOverHttp11) {
  StartServer(/*tls=*/false);
  server_->SetResource("/f", {.body = "abcdef"});
  server_->AddFault("/f", {.omit_content_length = true});
  CurlResult got = Get(Proto::kHttp11, "/f");
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.body, "abcdef");
  EXPECT_THAT(got.headers, Not(HasSubstr("content-length")));
}

}  // namespace
}  // namespace cistern::testing
