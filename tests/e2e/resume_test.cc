// A `cistern sync` killed with SIGKILL in the middle of a large file: the next run continues that
// file with a Range request for the missing bytes only (nginx's access log shows the 206 and the
// bytes it sent), the published file is exactly upstream's, and incoming/ ends empty.

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <thread>

#include <gtest/gtest.h>

#include "store/bytes.h"
#include "store/digest.h"
#include "tests/support/nginx_upstream.h"

extern char** environ;

namespace cistern {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using testing::CisternBinary;
using testing::NginxUpstream;
using testing::NginxUpstreamOptions;
using testing::ReadFile;
using testing::RunCommand;
using testing::TempDir;

// The resumable partial's data file for `dest` (store/format.md: part-<SHA-256(dest)[:32]>.data).
std::string PartialName(const std::string& dest) {
  return "part-" + store::Sha256Of(store::AsBytes(dest)).Hex().substr(0, 32) + ".data";
}

struct LogLine {
  std::string path;
  int status = 0;
  uint64_t bytes_sent = 0;
  std::string range;
};

// Access log lines (tools/test_upstream/README.md format) for GET requests of `path`.
std::vector<LogLine> RequestsFor(const NginxUpstream& upstream, const std::string& path) {
  static const std::regex kLine(R"re("GET (\S+) [^"]*" (\d+) (\d+) "[^"]*" \S+ \d+ "([^"]*)")re");
  std::vector<LogLine> lines;
  for (const std::string& line : upstream.AccessLogLines()) {
    std::smatch match;
    if (std::regex_search(line, match, kLine) && match[1] == path) {
      lines.push_back(LogLine{match[1], std::stoi(match[2]), std::stoull(match[3]),
                              match[4] == "-" ? std::string() : std::string(match[4])});
    }
  }
  return lines;
}

TEST(ResumeTest, AKilledSyncResumesTheLargeFileWithARangeRequest) {
  TempDir temp;
  NginxUpstreamOptions options;
  // Big_Blobs' wheels (3 MiB each) at 1 MB/s: the kill lands in the middle of one.
  options.extra_conf =
      "location ~ /big_blobs-[^/]+[.]whl$ { default_type application/octet-stream; "
      "limit_rate 1m; }";
  auto upstream = NginxUpstream::Start(options);
  ASSERT_NE(upstream, nullptr);

  // The large files and what the mirror will call their partials.
  std::map<std::string, std::string> partial_to_dest;
  const fs::path tree = upstream->tree_dir();
  for (const auto& entry : fs::recursive_directory_iterator(tree / "packages")) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("big_blobs-") && name.ends_with(".whl")) {
      const std::string dest = fs::relative(entry.path(), tree).string();
      partial_to_dest[PartialName(dest)] = dest;
    }
  }
  ASSERT_EQ(partial_to_dest.size(), 2u);

  const fs::path mirror = temp.path() / "mirror";
  const fs::path incoming = mirror / "incoming";
  const std::vector<std::string> sync = {CisternBinary(), "-q", "sync", "--mirror",
                                         mirror.string(), "--upstream", upstream->https_url(),
                                         "--ca-file", upstream->ca_file()};
  std::vector<char*> argv;
  for (const std::string& arg : sync) {
    argv.push_back(const_cast<char*>(arg.c_str()));
  }
  argv.push_back(nullptr);
  pid_t pid = -1;
  ASSERT_EQ(posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ), 0);

  // Kill it once a large file has at least 1 MiB on disk.
  constexpr uint64_t kKillAt = uint64_t{1} << 20;
  bool ready = false;
  for (const auto deadline = Clock::now() + std::chrono::seconds(60);
       !ready && Clock::now() < deadline;) {
    for (const auto& [name, dest] : partial_to_dest) {
      std::error_code ec;
      const auto size = fs::file_size(incoming / name, ec);
      ready = ready || (!ec && size >= kKillAt);
    }
    if (!ready) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(ready) << "no large file reached 1 MiB within 60 s";
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

  // What the killed run left: partials (bytes and record), none of them complete or published.
  std::map<std::string, uint64_t> on_disk;  // dest -> bytes
  for (const auto& [name, dest] : partial_to_dest) {
    std::error_code ec;
    const auto size = fs::file_size(incoming / name, ec);
    if (!ec && size > 0) {
      const uint64_t full = fs::file_size(tree / dest);
      ASSERT_LT(size, full) << dest;
      EXPECT_TRUE(fs::exists(incoming / (name.substr(0, name.size() - 5) + ".meta"))) << name;
      EXPECT_FALSE(fs::exists(mirror / "web" / dest)) << dest;
      on_disk[dest] = size;
    }
  }
  ASSERT_FALSE(on_disk.empty());

  const auto rerun = RunCommand(sync);
  ASSERT_EQ(rerun.exit_code, 0) << rerun.out << rerun.err;
  for (const auto& [dest, bytes] : on_disk) {
    const std::string url_path = "/" + dest;
    const std::vector<LogLine> requests = RequestsFor(*upstream, url_path);
    const uint64_t full = fs::file_size(tree / dest);
    // The killed request (logged when nginx noticed its connection died) and the resumed one,
    // nothing else: no byte was fetched twice.
    ASSERT_EQ(requests.size(), 2u) << dest;
    const auto resumed = std::find_if(requests.begin(), requests.end(),
                                      [](const LogLine& line) { return !line.range.empty(); });
    ASSERT_NE(resumed, requests.end()) << dest << " was not resumed";
    const LogLine& killed = requests[resumed == requests.begin() ? 1 : 0];
    EXPECT_EQ(killed.range, "");
    EXPECT_GE(killed.bytes_sent, bytes);
    EXPECT_EQ(resumed->range, "bytes=" + std::to_string(bytes) + "-") << dest;
    EXPECT_EQ(resumed->status, 206) << dest;
    EXPECT_EQ(resumed->bytes_sent, full - bytes) << dest;
    EXPECT_TRUE(ReadFile(mirror / "web" / dest) == ReadFile(tree / dest)) << dest << " differs";
  }
  EXPECT_TRUE(fs::is_empty(incoming));
}

}  // namespace
}  // namespace cistern
