// The deletion guard as a cron wrapper sees it: an upstream index that suddenly lost most
// projects makes `cistern sync` exit 4, say how to allow it and change nothing; a dry run names
// what would go; --allow-deletions lets the run proceed (and deletes only projects whose pages
// are gone).

#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/nginx_upstream.h"

namespace cistern {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::CisternBinary;
using testing::CommandResult;
using testing::NginxUpstream;
using testing::NginxUpstreamOptions;
using testing::ReadFile;
using testing::RunCommand;
using testing::SourceDir;
using testing::TempDir;

TEST(DeletionGuardCliTest, AnIndexThatLostMostProjectsExitsFourAndChangesNothing) {
  TempDir temp;
  const fs::path gen0 = temp.path() / "gen0";
  ASSERT_EQ(RunCommand({"python3", SourceDir() + "/tools/test_upstream/generate.py", "--out",
                        gen0.string(), "--profile", "small"})
                .exit_code,
            0);
  const fs::path mirror = temp.path() / "mirror";
  {
    NginxUpstreamOptions options;
    options.tree = gen0.string();
    auto upstream = NginxUpstream::Start(options);
    ASSERT_NE(upstream, nullptr);
    const CommandResult first = RunCommand({CisternBinary(), "-q", "sync", "--mirror",
                                            mirror.string(), "--upstream", upstream->https_url(),
                                            "--ca-file", upstream->ca_file()});
    ASSERT_EQ(first.exit_code, 0) << first.err;
  }
  const std::string root_before = ReadFile(mirror / "web/simple/index.v1_json");

  // A copy of the upstream whose JSON root lists two projects only; every page still answers.
  const fs::path glitch = temp.path() / "glitch";
  fs::copy(gen0, glitch, fs::copy_options::recursive | fs::copy_options::create_hard_links);
  const CommandResult cut = RunCommand(
      {"python3", "-c",
       "import json, os, sys\n"
       "path = os.path.join(sys.argv[1], 'tree', 'simple', 'index.v1_json')\n"
       "root = json.load(open(path))\n"
       "root['projects'] = root['projects'][:2]\n"
       "os.unlink(path)\n"
       "json.dump(root, open(path, 'w'))\n",
       glitch.string()});
  ASSERT_EQ(cut.exit_code, 0) << cut.err;
  NginxUpstreamOptions options;
  options.tree = glitch.string();
  auto upstream = NginxUpstream::Start(options);
  ASSERT_NE(upstream, nullptr);
  const std::vector<std::string> sync = {CisternBinary(), "sync", "--mirror", mirror.string(),
                                         "--upstream", upstream->https_url(), "--ca-file",
                                         upstream->ca_file()};

  const CommandResult refused = RunCommand(sync);
  EXPECT_EQ(refused.exit_code, 4) << refused.err;
  EXPECT_THAT(refused.err, HasSubstr("--allow-deletions"));
  EXPECT_THAT(refused.err, HasSubstr("nothing was changed"));
  EXPECT_EQ(ReadFile(mirror / "web/simple/index.v1_json"), root_before);

  std::vector<std::string> dry_run = sync;
  dry_run.push_back("--dry-run");
  dry_run.push_back("--allow-deletions");
  const CommandResult dry = RunCommand(dry_run);
  EXPECT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_THAT(dry.out, HasSubstr("would be deleted"));
  EXPECT_THAT(dry.out, HasSubstr("  chain-a\n"));

  std::vector<std::string> allowed = sync;
  allowed.push_back("--allow-deletions");
  const CommandResult kept = RunCommand(allowed);
  EXPECT_EQ(kept.exit_code, 0) << kept.err;
  EXPECT_THAT(kept.err, HasSubstr("still answers"));
  EXPECT_THAT(kept.out, HasSubstr("0 projects deleted"));
  EXPECT_TRUE(fs::exists(mirror / "web/simple/chain-a/index.html"));
}

}  // namespace
}  // namespace cistern
