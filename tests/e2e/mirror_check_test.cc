// The link checker the crash tests rely on finds what it must: a hand-made tree with one project
// passes, and each kind of damage a crash could leave is reported.

#include "tests/e2e/mirror_check.h"

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "tests/support/nginx_upstream.h"

namespace cistern {
namespace {

namespace fs = std::filesystem;
using testing::CheckLinks;
using testing::LinkCheck;
using testing::TempDir;

constexpr char kFile[] = "packages/ab/cd/ef/foo_bar-1.0%2Bx-py3-none-any.whl";
constexpr char kFileOnDisk[] = "packages/ab/cd/ef/foo_bar-1.0+x-py3-none-any.whl";

void Write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// A tree with the root listing Foo_Bar, its three pages, and the file they link (with metadata).
void WriteTree(const fs::path& web) {
  Write(web / "simple/index.v1_json",
        R"({"meta":{"api-version":"1.4"},"projects":[{"name":"Foo_Bar"}]})");
  const std::string root_html = R"(<html><body><a href="foo-bar/">Foo_Bar</a><br/></body></html>)";
  Write(web / "simple/index.html", root_html);
  Write(web / "simple/index.v1_html", root_html);
  Write(web / "simple/foo-bar/index.v1_json",
        std::string(R"({"meta":{"api-version":"1.4"},"name":"foo-bar","files":[{"url":"../../)") +
            kFile + R"(","hashes":{},"core-metadata":{"sha256":"00"}}]})");
  const std::string page_html = std::string(R"(<html><body><a href="../../)") + kFile +
                                R"(#sha256=00" data-core-metadata="sha256=00">f</a></body></html>)";
  Write(web / "simple/foo-bar/index.html", page_html);
  Write(web / "simple/foo-bar/index.v1_html", page_html);
  Write(web / kFileOnDisk, "wheel");
  Write(web / (std::string(kFileOnDisk) + ".metadata"), "metadata");
}

TEST(MirrorCheckTest, ACompleteTreePasses) {
  TempDir temp;
  WriteTree(temp.path());
  const LinkCheck check = CheckLinks(temp.path());
  EXPECT_TRUE(check.problems.empty()) << check.problems.front();
  EXPECT_EQ(check.projects, 1u);
  EXPECT_EQ(check.links, 3u);  // the JSON page and both HTML pages
}

TEST(MirrorCheckTest, AMissingFileIsReportedByEveryPageThatLinksIt) {
  TempDir temp;
  WriteTree(temp.path());
  fs::remove(temp.path() / kFileOnDisk);
  EXPECT_EQ(CheckLinks(temp.path()).problems.size(), 3u);
}

TEST(MirrorCheckTest, MissingAdvertisedMetadataIsReported) {
  TempDir temp;
  WriteTree(temp.path());
  fs::remove(temp.path() / (std::string(kFileOnDisk) + ".metadata"));
  EXPECT_EQ(CheckLinks(temp.path()).problems.size(), 3u);
}

TEST(MirrorCheckTest, ARootListingAProjectWithoutPagesIsReported) {
  TempDir temp;
  WriteTree(temp.path());
  fs::remove(temp.path() / "simple/foo-bar/index.html");
  // index.v1_json and both HTML roots list foo-bar, whose index.html is gone.
  EXPECT_EQ(CheckLinks(temp.path()).problems.size(), 3u);
}

TEST(MirrorCheckTest, AnUnreadablePageIsReported) {
  TempDir temp;
  WriteTree(temp.path());
  Write(temp.path() / "simple/foo-bar/index.v1_json", R"({"files":[{"url":)");
  const LinkCheck check = CheckLinks(temp.path());
  ASSERT_EQ(check.problems.size(), 1u);
  EXPECT_NE(check.problems.front().find("not valid JSON"), std::string::npos);
}

}  // namespace
}  // namespace cistern
