// `cistern log`: the change journal lists exactly what the sync put in the tree (every file under
// web/ once, as added, with its size and SHA-256), and a run that changed nothing adds nothing.

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>
#include <simdjson.h>

#include "store/bytes.h"
#include "store/digest.h"
#include "tests/support/nginx_upstream.h"

namespace cistern {
namespace {

namespace fs = std::filesystem;
using testing::CisternBinary;
using testing::CommandResult;
using testing::NginxUpstream;
using testing::ReadFile;
using testing::RunCommand;
using testing::TempDir;

TEST(LogTest, JournalListsEveryFileOfTheTreeOnceAndANoChangeRunAddsNothing) {
  TempDir temp;
  auto upstream = NginxUpstream::Start();
  ASSERT_NE(upstream, nullptr);
  const fs::path mirror = temp.path() / "mirror";
  const std::vector<std::string> sync = {CisternBinary(), "-q", "sync", "--mirror",
                                         mirror.string(), "--upstream", upstream->https_url(),
                                         "--ca-file", upstream->ca_file()};
  ASSERT_EQ(RunCommand(sync).exit_code, 0);

  const CommandResult log =
      RunCommand({CisternBinary(), "log", "--mirror", mirror.string(), "--json"});
  ASSERT_EQ(log.exit_code, 0) << log.err;
  std::map<std::string, std::pair<uint64_t, std::string>> journal;  // path -> (size, sha256)
  simdjson::dom::parser parser;
  std::istringstream lines(log.out);
  for (std::string line; std::getline(lines, line);) {
    simdjson::dom::element entry;
    ASSERT_EQ(parser.parse(line).get(entry), simdjson::SUCCESS) << line;
    EXPECT_EQ(entry["generation"].get_uint64().value_unsafe(), 1u) << line;
    EXPECT_EQ(std::string_view(entry["action"].get_string().value_unsafe()), "added") << line;
    const std::string path(entry["path"].get_string().value_unsafe());
    const bool inserted =
        journal
            .emplace(path, std::pair{entry["size"].get_uint64().value_unsafe(),
                                     std::string(entry["sha256"].get_string().value_unsafe())})
            .second;
    EXPECT_TRUE(inserted) << path << " journaled twice";
  }

  size_t files = 0;
  for (const auto& item : fs::recursive_directory_iterator(mirror / "web")) {
    if (!item.is_regular_file()) {
      continue;
    }
    ++files;
    const std::string path = fs::relative(item.path(), mirror / "web").string();
    auto it = journal.find(path);
    ASSERT_NE(it, journal.end()) << path << " is in the tree but not in the journal";
    const std::string bytes = ReadFile(item.path());
    EXPECT_EQ(it->second.first, bytes.size()) << path;
    EXPECT_EQ(it->second.second, store::Sha256Of(store::AsBytes(bytes)).Hex()) << path;
  }
  EXPECT_EQ(journal.size(), files);

  ASSERT_EQ(RunCommand(sync).exit_code, 0);
  const CommandResult since =
      RunCommand({CisternBinary(), "log", "--mirror", mirror.string(), "--since", "2"});
  ASSERT_EQ(since.exit_code, 0) << since.err;
  EXPECT_EQ(since.out, "");
}

}  // namespace
}  // namespace cistern
