// The real `cistern` binary, run as a user or cron would: exit statuses (architecture.md, "Exit
// statuses") and the messages shown. Needs no upstream: every case fails before or at the first
// connection, on purpose.

#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <netinet/in.h>
#include <signal.h>
#include <string>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/nginx_upstream.h"
#include "tools/cistern/version.h"

namespace cistern {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using testing::CisternBinary;
using testing::CommandResult;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::RunCommand;
using testing::TempDir;

constexpr std::chrono::seconds kTimeout(60);

std::string Describe(const CommandResult& result) {
  return "exit status " + std::to_string(result.exit_code) + "\n--- stdout\n" + result.out +
         "--- stderr\n" + result.err;
}

// Runs cistern with `args` in the directory `cwd` (so no ./cistern.toml is picked up from the
// test's working directory).
CommandResult RunCistern(const fs::path& cwd, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"env", "--chdir=" + cwd.string(), CisternBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, {}, kTimeout);
}

void WriteFile(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

// A loopback TCP port that nothing listens on: bound once to find it free, then closed.
int ClosedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  socklen_t length = sizeof(address);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  ::close(fd);
  return ntohs(address.sin_port);
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(CisternBinary()))
        << CisternBinary() << " is missing: build the `cistern` target";
    cwd_ = dir_.path() / "cwd";
    fs::create_directories(cwd_);
    // An empty file: every key at its default, and no dependence on /etc/cistern/cistern.toml.
    config_ = (dir_.path() / "empty.toml").string();
    WriteFile(config_, "");
  }

  // cistern --config <empty file> ARGS..., run in an empty directory.
  CommandResult Run(const std::vector<std::string>& args) {
    std::vector<std::string> all = {"--config", config_};
    all.insert(all.end(), args.begin(), args.end());
    return RunCistern(cwd_, all);
  }

  TempDir dir_;
  fs::path cwd_;
  std::string config_;
};

TEST_F(CliTest, HelpExitsZeroAndExplainsEveryExitStatusWithAnExample) {
  CommandResult result = RunCistern(cwd_, {"--help"});
  ASSERT_EQ(result.exit_code, 0) << Describe(result);
  EXPECT_THAT(result.out, HasSubstr("Usage:"));
  EXPECT_THAT(result.out, HasSubstr("sync"));
  EXPECT_THAT(result.out, HasSubstr("Examples:\n  cistern sync --mirror /srv/pypi "));
  EXPECT_THAT(result.out, HasSubstr("Exit status:\n"));
  for (const char* line :
       {"\n  0    done", "\n  1    done, but some projects were deferred", "\n  2    usage",
        "\n  3    another cistern process holds the mirror's lock", "\n  4    the upstream",
        "\n  5    local I/O failure", "\n  6    verification failed", "\n  70   internal error",
        "\n  130  interrupted"}) {
    EXPECT_THAT(result.out, HasSubstr(line));
  }
}

TEST_F(CliTest, SyncHelpExitsZeroAndListsItsOptions) {
  CommandResult result = RunCistern(cwd_, {"sync", "--help"});
  ASSERT_EQ(result.exit_code, 0) << Describe(result);
  for (const char* option : {"--mirror", "--upstream", "--ca-file", "--jobs", "--dry-run"}) {
    EXPECT_THAT(result.out, HasSubstr(option));
  }
}

TEST_F(CliTest, VersionPrintsTheVersionAndExitsZero) {
  CommandResult result = RunCistern(cwd_, {"--version"});
  ASSERT_EQ(result.exit_code, 0) << Describe(result);
  EXPECT_EQ(result.out, std::string("cistern ") + cli::kVersion + "\n");
}

TEST_F(CliTest, NoSubcommandIsAUsageError) {
  CommandResult result = RunCistern(cwd_, {});
  EXPECT_EQ(result.exit_code, 2) << Describe(result);
  EXPECT_THAT(result.err, HasSubstr("subcommand"));
}

TEST_F(CliTest, UnknownOptionIsAUsageError) {
  CommandResult result = RunCistern(cwd_, {"--frobnicate", "sync"});
  EXPECT_EQ(result.exit_code, 2) << Describe(result);
  EXPECT_THAT(result.err, HasSubstr("--frobnicate"));
}

TEST_F(CliTest, UnknownSubcommandIsAUsageError) {
  CommandResult result = RunCistern(cwd_, {"synk"});
  EXPECT_EQ(result.exit_code, 2) << Describe(result);
  EXPECT_THAT(result.err, HasSubstr("unknown command \"synk\" (commands: sync, status, log)"));
}

TEST_F(CliTest, JobsOutOfRangeOnTheCommandLineIsAUsageError) {
  const fs::path mirror = dir_.path() / "mirror";
  CommandResult result = Run({"sync", "--mirror", mirror.string(), "--jobs", "0"});
  EXPECT_EQ(result.exit_code, 2) << Describe(result);
  EXPECT_THAT(result.err, HasSubstr("--jobs"));
  EXPECT_FALSE(fs::exists(mirror));
}

TEST_F(CliTest, BadLogFormatOnTheCommandLineIsAUsageError) {
  CommandResult result = Run({"--log-format", "xml", "sync"});
  EXPECT_EQ(result.exit_code, 2) << Describe(result);
  EXPECT_THAT(result.err, HasSubstr("--log-format"));
}

TEST_F(CliTest, SyncWithoutMirrorAndWithoutConfigFileTellsToPassMirror) {
  if (fs::exists("/etc/cistern/cistern.toml")) {
    GTEST_SKIP() << "/etc/cistern/cistern.toml exists on this machine and would be read";
  }
  CommandResult result = RunCistern(cwd_, {"sync"});
  EXPECT_EQ(result.exit_code, 2) << Describe(result);
  EXPECT_THAT(result.err, HasSubstr("pass --mirror DIR"));
  EXPECT_TRUE(fs::is_empty(cwd_)) << "cistern created files in its working directory";
}

TEST_F(CliTest, SyncWithoutMirrorInTheConfigFileTellsToPassMirror) {
  CommandResult result = Run({"sync"});
  EXPECT_EQ(result.exit_code, 2) << Describe(result);
  EXPECT_THAT(result.err, HasSubstr("no mirror directory: pass --mirror DIR or set [mirror] path"));
  EXPECT_EQ(result.out, "");
}

TEST_F(CliTest, ConfigFileInTheWorkingDirectoryIsRead) {
  WriteFile(cwd_ / "cistern.toml", "[sync]\njobs = 0\n");
  CommandResult result = RunCistern(cwd_, {"sync"});
  EXPECT_EQ(result.exit_code, 2) << Describe(result);
  EXPECT_THAT(result.err, HasSubstr("cistern.toml:2:8: sync.jobs = 0 is out of range (1-256)"));
}

TEST_F(CliTest, ConfigFileWithUnknownKeyIsAUsageErrorNamingFileAndLine) {
  const std::string config = (dir_.path() / "bad.toml").string();
  WriteFile(config, "[mirror]\npath = \"/nonexistent\"\n[sync]\njobz = 4\n");
  CommandResult result = RunCistern(cwd_, {"--config", config, "sync"});
  EXPECT_EQ(result.exit_code, 2) << Describe(result);
  EXPECT_THAT(result.err, HasSubstr(config + ":4:1: unknown key \"sync.jobz\""));
  EXPECT_FALSE(fs::exists("/nonexistent"));
}

TEST_F(CliTest, MissingConfigFileIsAUsageErrorNamingIt) {
  const std::string config = (dir_.path() / "absent.toml").string();
  CommandResult result = RunCistern(cwd_, {"--config", config, "sync"});
  EXPECT_EQ(result.exit_code, 2) << Describe(result);
  EXPECT_THAT(result.err, HasSubstr(config));
}

TEST_F(CliTest, PlainHttpUpstreamWithoutAllowHttpIsAUsageErrorNamingAllowHttp) {
  const fs::path mirror = dir_.path() / "mirror";
  for (const char* scheme : {"http", "HTTP", "Http"}) {  // schemes are case-insensitive
    CommandResult result =
        Run({"sync", "--mirror", mirror.string(), "--upstream",
             std::string(scheme) + "://127.0.0.1:" + std::to_string(ClosedPort()) + "/simple/"});
    EXPECT_EQ(result.exit_code, 2) << Describe(result);
    EXPECT_THAT(result.err, HasSubstr("allow_http"));
    EXPECT_FALSE(fs::exists(mirror)) << "a usage error must change nothing";
  }
}

TEST_F(CliTest, UnknownUpstreamFormatIsAUsageErrorNamingTheChoices) {
  const fs::path mirror = dir_.path() / "mirror";
  CommandResult result = Run({"sync", "--mirror", mirror.string(), "--upstream-format", "xml"});
  EXPECT_EQ(result.exit_code, 2) << Describe(result);
  EXPECT_THAT(result.err, HasSubstr("--upstream-format"));
  EXPECT_THAT(result.err, HasSubstr("json"));
  EXPECT_FALSE(fs::exists(mirror)) << "a usage error must change nothing";
}

TEST_F(CliTest, AnUpstreamGivenAsAPathSaysToWriteAFileUrl) {
  const fs::path mirror = dir_.path() / "mirror";
  CommandResult result = Run({"sync", "--mirror", mirror.string(), "--upstream", "/srv/pypi/simple/"});
  EXPECT_EQ(result.exit_code, 2) << Describe(result);
  EXPECT_THAT(result.err, HasSubstr("file:///srv/pypi/simple/"));
}

TEST_F(CliTest, FileUpstreamThatIsNoIndexExitsWith4NamingThePath) {
  const fs::path mirror = dir_.path() / "mirror";
  const fs::path empty = dir_.path() / "empty-index";
  fs::create_directories(empty);
  CommandResult result =
      Run({"sync", "--mirror", mirror.string(), "--upstream", "file://" + empty.string() + "/"});
  EXPECT_EQ(result.exit_code, 4) << Describe(result);
  EXPECT_THAT(result.err, HasSubstr(empty.string()));
  EXPECT_THAT(result.err, HasSubstr("index.v1_json"));
}

TEST_F(CliTest, UnwritableMirrorIsALocalIoErrorNamingThePath) {
  const fs::path file = dir_.path() / "a-file";
  WriteFile(file, "not a directory\n");
  const fs::path mirror = file / "mirror";
  CommandResult result = Run({"sync", "--mirror", mirror.string(), "--upstream",
                              "https://127.0.0.1:" + std::to_string(ClosedPort())});
  EXPECT_EQ(result.exit_code, 5) << Describe(result);
  EXPECT_THAT(result.err, HasSubstr(file.string()));
}

TEST_F(CliTest, UnreachableUpstreamExitsFourAndSaysNothingWasChanged) {
  const fs::path mirror = dir_.path() / "mirror";
  const std::string upstream = "https://127.0.0.1:" + std::to_string(ClosedPort());
  CommandResult result = Run({"sync", "--mirror", mirror.string(), "--upstream", upstream});
  EXPECT_EQ(result.exit_code, 4) << Describe(result);
  EXPECT_THAT(result.err, AllOf(HasSubstr("nothing was changed"), HasSubstr("127.0.0.1")));
  EXPECT_EQ(result.out, "");
  // No page was written.
  EXPECT_FALSE(fs::exists(mirror / "web" / "simple" / "index.html"));
}

TEST_F(CliTest, UnreachableUpstreamIsReportedInJsonLogLines) {
  const fs::path mirror = dir_.path() / "mirror";
  const std::string upstream = "https://127.0.0.1:" + std::to_string(ClosedPort());
  CommandResult result =
      Run({"--log-format", "json", "sync", "--mirror", mirror.string(), "--upstream", upstream});
  EXPECT_EQ(result.exit_code, 4) << Describe(result);
  EXPECT_THAT(result.err, AllOf(HasSubstr("{\"time\":"), HasSubstr("\"level\":\"error\""),
                                HasSubstr("nothing was changed")));
}

// A child process that holds the flock on `path` (and records its PID there, as cistern does)
// until killed.
class LockHolder {
 public:
  LockHolder(const LockHolder&) = delete;
  LockHolder& operator=(const LockHolder&) = delete;

  explicit LockHolder(const fs::path& path) {
    int ready[2];
    if (::pipe2(ready, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe2 failed";
      return;
    }
    const std::string file = path.string();
    pid_ = ::fork();
    if (pid_ == 0) {
      // Child: only async-signal-safe calls from here on.
      ::close(ready[0]);
      const int fd = ::open(file.c_str(), O_RDWR | O_CREAT, 0644);
      if (fd < 0 || ::flock(fd, LOCK_EX | LOCK_NB) != 0 || ::ftruncate(fd, 0) != 0) {
        ::_exit(1);
      }
      char text[24];
      int n = 0;
      char digits[24];
      for (pid_t pid = ::getpid(); pid > 0; pid /= 10) {
        digits[n++] = static_cast<char>('0' + pid % 10);
      }
      for (int i = 0; i < n; ++i) {
        text[i] = digits[n - 1 - i];
      }
      text[n] = '\n';
      if (::pwrite(fd, text, static_cast<size_t>(n + 1), 0) != n + 1 ||
          ::write(ready[1], "x", 1) != 1) {
        ::_exit(1);
      }
      for (;;) {
        ::pause();
      }
    }
    ::close(ready[1]);
    char byte = 0;
    locked_ = pid_ > 0 && ::read(ready[0], &byte, 1) == 1;
    ::close(ready[0]);
  }

  ~LockHolder() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }

  bool locked() const { return locked_; }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  bool locked_ = false;
};

TEST_F(CliTest, LockHeldByAnotherProcessExitsThreeNamingItsPid) {
  const fs::path mirror = dir_.path() / "mirror";
  fs::create_directories(mirror / "state");
  LockHolder holder(mirror / "state" / "lock");
  ASSERT_TRUE(holder.locked()) << "the helper process could not take the lock";
  CommandResult result = Run({"sync", "--mirror", mirror.string(), "--upstream",
                              "https://127.0.0.1:" + std::to_string(ClosedPort())});
  EXPECT_EQ(result.exit_code, 3) << Describe(result);
  EXPECT_THAT(result.err, AllOf(HasSubstr("pid " + std::to_string(holder.pid())),
                                HasSubstr((mirror / "state" / "lock").string()),
                                Not(HasSubstr("nothing was changed; check the upstream"))));
}

}  // namespace
}  // namespace cistern
