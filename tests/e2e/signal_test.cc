// SIGINT/SIGTERM during a real `cistern sync` (architecture.md: exit 130, what was committed stays
// valid): the first signal lets the projects in progress commit and stops; a second abandons their
// transfers. Either way no page links a missing file, no temporary is left in incoming/ (only
// resumable partials), and the next run completes the mirror and leaves incoming/ empty.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <simdjson.h>

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

std::string PercentDecode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// Project pages in the tree, and every file they link that is not on disk.
struct TreeCheck {
  size_t pages = 0;
  std::vector<std::string> missing;
};

TreeCheck CheckLinks(const fs::path& web) {
  TreeCheck check;
  simdjson::dom::parser parser;
  for (const auto& entry : fs::directory_iterator(web / "simple")) {
    if (!entry.is_directory()) {
      continue;
    }
    ++check.pages;
    simdjson::dom::element page;
    if (parser.load((entry.path() / "index.v1_json").string()).get(page) != simdjson::SUCCESS) {
      check.missing.push_back(entry.path().string() + " (unreadable page)");
      continue;
    }
    simdjson::dom::array files;
    if (page["files"].get_array().get(files) != simdjson::SUCCESS) {
      check.missing.push_back(entry.path().string() + " (no files array)");
      continue;
    }
    for (simdjson::dom::element file : files) {
      std::string_view url = file["url"].get_string().value_unsafe();
      const std::string path = PercentDecode(url.substr(std::string_view("../../").size()));
      if (!fs::exists(web / path)) {
        check.missing.push_back(path);
      }
    }
  }
  return check;
}

// A child process running cistern, stopped by PID in the destructor if still running.
class Child {
 public:
  Child(const std::vector<std::string>& args, const fs::path& out, const fs::path& err) {
    std::vector<char*> argv;
    for (const std::string& arg : args) {
      argv.push_back(const_cast<char*>(arg.c_str()));
    }
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) {
      pid_ = -1;
    }
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  bool running() const { return pid_ > 0; }
  void Signal(int number) const { kill(pid_, number); }

  // The exit status, or -1 if the child is still running after `limit`.
  int Wait(std::chrono::seconds limit) {
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
};

// Waits (bounded) until at least one project page has been published.
bool WaitForFirstPage(const fs::path& web, std::chrono::seconds limit) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(web / "simple", ec)) {
      if (fs::exists(entry.path() / "index.v1_json")) {
        return true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

class SignalTest : public ::testing::TestWithParam<int> {};

TEST_P(SignalTest, StopsWithStatus130LeavesAConsistentTreeAndTheNextRunCompletes) {
  const int signals_to_send = GetParam();
  TempDir temp;
  NginxUpstreamOptions options;
  options.extra_conf = "limit_rate 300k;";  // slow bodies, so the run is still going
  auto upstream = NginxUpstream::Start(options);
  ASSERT_NE(upstream, nullptr);
  const fs::path mirror = temp.path() / "mirror";
  const std::vector<std::string> sync = {CisternBinary(), "sync", "--mirror", mirror.string(),
                                         "--upstream", upstream->https_url(), "--ca-file",
                                         upstream->ca_file()};
  {
    Child child(sync, temp.path() / "out", temp.path() / "err");
    ASSERT_TRUE(child.running());
    ASSERT_TRUE(WaitForFirstPage(mirror / "web", std::chrono::seconds(60)));
    child.Signal(SIGINT);
    if (signals_to_send > 1) {
      // The second signal right after cistern took the first, while transfers are still running
      // (not after a fixed pause, in which the projects in progress might all finish).
      for (int i = 0; i < 1000 && ReadFile(temp.path() / "err").find("SIGINT received") ==
                                      std::string::npos;
           ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      child.Signal(SIGTERM);
    }
    EXPECT_EQ(child.Wait(std::chrono::seconds(120)), 130);
  }
  const std::string out = ReadFile(temp.path() / "out");
  const std::string err = ReadFile(temp.path() / "err");
  EXPECT_NE(out.find("sync interrupted"), std::string::npos) << out << err;
  EXPECT_NE(err.find("SIGINT received"), std::string::npos) << err;
  if (signals_to_send > 1) {
    EXPECT_NE(err.find("abandoning the transfers in progress"), std::string::npos) << err;
  }

  const TreeCheck interrupted = CheckLinks(mirror / "web");
  EXPECT_GE(interrupted.pages, 1u);
  EXPECT_TRUE(interrupted.missing.empty()) << "a page links a missing file: "
                                           << interrupted.missing.front();
  // No temporary is left; resumable partials (part-*) of abandoned large files may stay for the
  // rerun to continue.
  for (const auto& entry : fs::directory_iterator(mirror / "incoming")) {
    EXPECT_TRUE(entry.path().filename().string().starts_with("part-")) << entry.path();
  }

  const auto rerun = RunCommand(sync);
  EXPECT_EQ(rerun.exit_code, 0) << rerun.out << rerun.err;
  const TreeCheck complete = CheckLinks(mirror / "web");
  EXPECT_GT(complete.pages, interrupted.pages);
  EXPECT_TRUE(complete.missing.empty());
  EXPECT_TRUE(fs::is_empty(mirror / "incoming"));
}

INSTANTIATE_TEST_SUITE_P(Signals, SignalTest, ::testing::Values(1, 2),
                         [](const auto& param_info) {
                           return param_info.param == 1 ? std::string("FinishInProgress")
                                                        : std::string("AbandonInProgress");
                         });

}  // namespace
}  // namespace cistern
