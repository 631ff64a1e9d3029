#include "tests/support/nginx_upstream.h"

#include <blake2.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

namespace cistern::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string ReadFile(const fs::path& path) {
  std::ifstream stream(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(stream), std::istreambuf_iterator<char>());
}

std::string GeneratorScript() { return SourceDir() + "/tools/test_upstream/generate.py"; }

// Every regular file under `root`, as sorted paths relative to it.
std::vector<std::string> ListFiles(const fs::path& root) {
  std::vector<std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_regular_file()) {
      files.push_back(fs::relative(entry.path(), root).string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string Blake2b256Hex(const std::string& data) {
  std::array<uint8_t, 32> digest{};
  blake2b(digest.data(), data.data(), nullptr, digest.size(), data.size(), 0);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (uint8_t byte : digest) {
    hex += kHex[byte >> 4];
    hex += kHex[byte & 0xf];
  }
  return hex;
}

// The response of one curl request: status line fields, lower-cased headers and body.
struct Response {
  int exit_code = -1;
  std::string http_version;  // "1.1" or "2"
  int status = 0;
  std::map<std::string, std::string> headers;
  std::string body;
  std::string error;
};

// GETs `url` with curl, trusting `ca_file`; `args` are extra curl options.
Response Get(const std::string& url, const std::string& ca_file,
             const std::vector<std::string>& args = {}) {
  std::vector<std::string> argv = {"curl", "-sS", "--cacert", ca_file, "-D", "/dev/stderr",
                                   "-w", "\n%{http_version} %{response_code}"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back(url);
  CommandResult result = RunCommand(argv, {}, std::chrono::seconds(60));
  Response response;
  response.exit_code = result.exit_code;
  size_t trailer = result.out.rfind('\n');
  if (trailer == std::string::npos) {
    response.error = result.err;
    return response;
  }
  response.body = result.out.substr(0, trailer);
  std::string status_line = result.out.substr(trailer + 1);
  response.http_version = status_line.substr(0, status_line.find(' '));
  response.status = std::atoi(status_line.c_str() + status_line.find(' ') + 1);
  size_t start = 0;
  while (start < result.err.size()) {
    size_t end = result.err.find('\n', start);
    std::string line = result.err.substr(start, end - start);
    start = end == std::string::npos ? result.err.size() : end + 1;
    size_t colon = line.find(':');
    if (colon == std::string::npos || line.rfind("HTTP/", 0) == 0) {
      continue;
    }
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    value.erase(value.find_last_not_of("\r ") + 1);
    response.headers[name] = value;
  }
  return response;
}

// manifest["projects"][normalized == name]["serial"], or -1.
int64_t ManifestSerial(const std::string& manifest_path, std::string_view name) {
  simdjson::padded_string json;
  if (simdjson::padded_string::load(manifest_path).get(json) != simdjson::SUCCESS) {
    return -1;
  }
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  simdjson::ondemand::array projects;
  if (parser.iterate(json).get(doc) != simdjson::SUCCESS ||
      doc["projects"].get_array().get(projects) != simdjson::SUCCESS) {
    return -1;
  }
  for (auto project : projects) {
    simdjson::ondemand::object object;
    std::string_view normalized;
    int64_t serial = 0;
    if (project.get_object().get(object) != simdjson::SUCCESS ||
        object["normalized"].get_string().get(normalized) != simdjson::SUCCESS) {
      return -1;
    }
    if (normalized == name) {
      return object["serial"].get_int64().get(serial) == simdjson::SUCCESS ? serial : -1;
    }
  }
  return -1;
}

int64_t ManifestGlobalSerial(const std::string& manifest_path) {
  simdjson::padded_string json;
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  int64_t serial = -1;
  if (simdjson::padded_string::load(manifest_path).get(json) != simdjson::SUCCESS ||
      parser.iterate(json).get(doc) != simdjson::SUCCESS ||
      doc["serial"].get_int64().get(serial) != simdjson::SUCCESS) {
    return -1;
  }
  return serial;
}

TEST(GeneratorTest, SameSeedGivesByteIdenticalTrees) {
  TempDir first;
  TempDir second;
  for (const TempDir* dir : {&first, &second}) {
    CommandResult run = RunCommand({"python3", GeneratorScript(), "--out", dir->path() / "out",
                                    "--seed", "7", "--profile", "small", "--faults"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
  }
  std::vector<std::string> files = ListFiles(first.path() / "out");
  ASSERT_EQ(files, ListFiles(second.path() / "out"));
  ASSERT_GT(files.size(), 300u);
  for (const std::string& file : files) {
    ASSERT_EQ(ReadFile(first.path() / "out" / file), ReadFile(second.path() / "out" / file))
        << file;
  }
}

class NginxUpstreamTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    NginxUpstreamOptions options;
    options.faults = true;
    upstream_ = NginxUpstream::Start(options).release();
  }
  static void TearDownTestSuite() {
    delete upstream_;
    upstream_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(upstream_, nullptr); }

  static Response GetPage(const std::string& url, const std::string& accept,
                          std::vector<std::string> args = {}) {
    args.insert(args.end(), {"--compressed", "-H", "Accept: " + accept});
    return Get(url, upstream_->ca_file(), args);
  }

  static NginxUpstream* upstream_;
};

NginxUpstream* NginxUpstreamTest::upstream_ = nullptr;

TEST_F(NginxUpstreamTest, FilePathsAreBlake2bOfContent) {
  const fs::path tree = upstream_->tree_dir();
  int checked = 0;
  for (const std::string& file : ListFiles(tree / "packages")) {
    if (file.ends_with(".metadata")) {
      continue;
    }
    std::string hex = Blake2b256Hex(ReadFile(tree / "packages" / file));
    std::string name = fs::path(file).filename().string();
    EXPECT_EQ(file, hex.substr(0, 2) + "/" + hex.substr(2, 2) + "/" + hex.substr(4) + "/" + name);
    ++checked;
  }
  EXPECT_GT(checked, 300);
}

TEST_F(NginxUpstreamTest, WheelMetadataFilesEqualMetadataInsideWheel) {
  const fs::path tree = upstream_->tree_dir();
  int checked = 0;
  for (const std::string& file : ListFiles(tree / "packages")) {
    if (!file.ends_with(".whl")) {
      continue;
    }
    CommandResult unzip =
        RunCommand({"unzip", "-p", (tree / "packages" / file).string(), "*.dist-info/METADATA"});
    ASSERT_EQ(unzip.exit_code, 0) << file << ": " << unzip.err;
    ASSERT_THAT(unzip.out, HasSubstr("Metadata-Version: 2.1\n")) << file;
    EXPECT_EQ(ReadFile(tree / "packages" / (file + ".metadata")), unzip.out) << file;
    ++checked;
  }
  EXPECT_GT(checked, 200);
}

TEST_F(NginxUpstreamTest, ServesPep691JsonOverHttp2WithSerialHeader) {
  Response response = GetPage(upstream_->https_url() + "/simple/foo-bar/",
                              "application/vnd.pypi.simple.v1+json", {"--http2"});
  ASSERT_EQ(response.exit_code, 0) << response.error;
  EXPECT_EQ(response.http_version, "2");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.headers["content-type"], "application/vnd.pypi.simple.v1+json");
  EXPECT_EQ(response.headers["content-encoding"], "gzip");
  int64_t serial = ManifestSerial(upstream_->manifest_path(), "foo-bar");
  ASSERT_GT(serial, 0);
  EXPECT_EQ(response.headers["x-pypi-last-serial"], std::to_string(serial));
  EXPECT_THAT(response.body, HasSubstr("\"name\":\"foo-bar\""));
  EXPECT_THAT(response.body, HasSubstr("\"url\":\"" + upstream_->https_url() + "/packages/"));
}

TEST_F(NginxUpstreamTest, RootIndexCarriesGlobalSerial) {
  Response response = GetPage(upstream_->http_url() + "/simple/",
                              "application/vnd.pypi.simple.latest+json");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.headers["content-type"], "application/vnd.pypi.simple.v1+json");
  int64_t serial = ManifestGlobalSerial(upstream_->manifest_path());
  ASSERT_GT(serial, 0);
  EXPECT_EQ(response.headers["x-pypi-last-serial"], std::to_string(serial));
  EXPECT_THAT(response.body, HasSubstr("{\"name\":\"Foo_Bar\",\"_last-serial\":"));
}

TEST_F(NginxUpstreamTest, ServesHtmlForTextHtmlAccept) {
  Response response = GetPage(upstream_->http_url() + "/simple/foo-bar/", "text/html");
  EXPECT_EQ(response.http_version, "1.1");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.headers["content-type"], "text/html; charset=utf-8");
  int64_t serial = ManifestSerial(upstream_->manifest_path(), "foo-bar");
  EXPECT_THAT(response.body, HasSubstr("<!--SERIAL " + std::to_string(serial) + "-->"));
  EXPECT_THAT(response.body, HasSubstr("data-requires-python=\"&gt;=3.8,&lt;4\""));
}

TEST_F(NginxUpstreamTest, FormatParameterOverridesAccept) {
  Response response =
      GetPage(upstream_->http_url() + "/simple/foo-bar/?format=application/vnd.pypi.simple.v1%2Bjson",
              "text/html");
  EXPECT_EQ(response.headers["content-type"], "application/vnd.pypi.simple.v1+json");
}

TEST_F(NginxUpstreamTest, RedirectsDisplayNameUrlToNormalizedUrl) {
  for (const char* path : {"/simple/Foo_Bar/", "/simple/foo.bar/", "/simple/foo-bar"}) {
    Response response = GetPage(upstream_->http_url() + path, "text/html");
    EXPECT_EQ(response.status, 301) << path;
    EXPECT_EQ(response.headers["location"], "/simple/foo-bar/") << path;
  }
}

TEST_F(NginxUpstreamTest, AccessLogRecordsAcceptProtocolAndConnection) {
  GetPage(upstream_->https_url() + "/simple/zope-shim/", "application/vnd.pypi.simple.v1+json",
          {"--http2"});
  std::vector<std::string> lines = upstream_->AccessLogLines();
  ASSERT_FALSE(lines.empty());
  EXPECT_THAT(lines.back(), HasSubstr("\"GET /simple/zope-shim/ HTTP/2.0\" 200 "));
  EXPECT_THAT(lines.back(), HasSubstr("\"application/vnd.pypi.simple.v1+json\" HTTP/2.0 "));
}

TEST_F(NginxUpstreamTest, ExtraConfAppliesToAServedTree) {
  NginxUpstreamOptions options;
  options.tree = fs::path(upstream_->tree_dir()).parent_path().string();
  options.extra_conf = "location = /simple/foo-bar/ { add_header Retry-After 7 always; return 503; }";
  auto failing = NginxUpstream::Start(options);
  ASSERT_NE(failing, nullptr);
  Response response = Get(failing->https_url() + "/simple/foo-bar/", failing->ca_file());
  EXPECT_EQ(response.status, 503) << response.error;
  EXPECT_EQ(response.headers["retry-after"], "7");
  EXPECT_EQ(Get(failing->https_url() + "/simple/zope-shim/", failing->ca_file()).status, 200);
}

// True once `pid` is gone or a zombie (an nginx master is reaped by init, not by us).
bool ProcessGone(pid_t pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  const size_t paren = stat.rfind(')');
  return paren == std::string::npos || stat.compare(paren, 3, ") Z") == 0;
}

TEST_F(NginxUpstreamTest, NginxStopsWhenItsOwnerDiesWithoutStoppingIt) {
  // The owner: a child that would outlive the test, killed the way an aborting test dies.
  const pid_t owner = ::fork();
  ASSERT_GE(owner, 0);
  if (owner == 0) {
    ::execlp("sleep", "sleep", "60", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  TempDir dir;
  CommandResult started = RunCommand(
      {"python3", SourceDir() + "/tools/test_upstream/serve.py", "start", "--workdir",
       (dir.path() / "w").string(), "--tree",
       fs::path(upstream_->tree_dir()).parent_path().string(), "--owner-pid",
       std::to_string(owner)});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  const size_t at = started.out.find("\"pid\": ");
  ASSERT_NE(at, std::string::npos) << started.out;
  const pid_t nginx = static_cast<pid_t>(std::stol(started.out.substr(at + 7)));
  ASSERT_FALSE(ProcessGone(nginx));

  ::kill(owner, SIGKILL);
  int status = 0;
  ::waitpid(owner, &status, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (!ProcessGone(nginx) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(ProcessGone(nginx)) << "nginx " << nginx << " outlived its owner";
  if (!ProcessGone(nginx)) {
    RunCommand({"python3", SourceDir() + "/tools/test_upstream/serve.py", "stop", "--workdir",
                (dir.path() / "w").string()});
  }
}

TEST(MirrorSiteTest, PipInstallsThroughShippedSiteOverHttps) {
  TempDir dir;
  CommandResult generated = RunCommand(
      {"python3", GeneratorScript(), "--out", dir.path() / "out", "--profile", "small"});
  ASSERT_EQ(generated.exit_code, 0) << generated.err;
  NginxUpstreamOptions options;
  options.mirror_web = (dir.path() / "out" / "tree").string();
  auto mirror = NginxUpstream::Start(options);
  ASSERT_NE(mirror, nullptr);
  // --isolated and no cache: pip must not find the packages anywhere but this server.
  CommandResult pip = RunCommand(
      {"python3", "-m", "pip", "--isolated", "install", "--no-cache-dir", "--index-url",
       mirror->https_url() + "/simple/", "--target", (dir.path() / "site").string(), "chain-a"},
      {{"REQUESTS_CA_BUNDLE", mirror->ca_file()}, {"PIP_FIND_LINKS", ""}});
  ASSERT_EQ(pip.exit_code, 0) << pip.out << pip.err;
  EXPECT_TRUE(fs::exists(dir.path() / "site" / "chain_c" / "__init__.py"));
  std::vector<std::string> lines = mirror->AccessLogLines();
  EXPECT_TRUE(std::any_of(lines.begin(), lines.end(), [](const std::string& line) {
    return line.find("chain_b-1.0-py3-none-any.whl.metadata HTTP/1.1\" 200") != std::string::npos;
  }));
}

}  // namespace
}  // namespace cistern::testing
