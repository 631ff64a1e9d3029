#include "engine/render/project_page.h"

#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "engine/pypi/simple_json.h"
#include "tests/engine/test_util.h"

namespace cistern::engine {
namespace {

using testing::IsOk;

store::Sha256Digest Digest(char digit) {
  return *store::Sha256Digest::FromHex(std::string(64, digit));
}

// The project of pypi-mirror-protocol.md §2.2/§2.3, extended: a file yanked with a reason, one
// yanked without a reason that also has core metadata and a requires-python full of HTML
// specials, and a local-version file whose `+` must be percent-encoded in the href. Archived,
// without a serial.
MirrorProject ExampleProject() {
  MirrorProject project;
  project.name = "example-pkg";
  project.versions = {"0.9", "1.0", "1.1+local"};
  project.status = ProjectStatus{"archived", "use example-ng & <friends>"};
  project.files.push_back(MirrorFile{
      .filename = "example_pkg-0.9.tar.gz",
      .href = "../../packages/ef/01/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee/"
              "example_pkg-0.9.tar.gz",
      .sha256 = Digest('a'),
      .size = 5760,
      .requires_python = ">=3.8",
      .upload_time = "2024-11-06T22:37:10.868088Z",
      .yanked = Yanked{true, "broken build"},
      .core_metadata = std::nullopt,
  });
  project.files.push_back(MirrorFile{
      .filename = "example_pkg-1.0-py3-none-any.whl",
      .href = "../../packages/ab/cd/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/"
              "example_pkg-1.0-py3-none-any.whl",
      .sha256 = Digest('b'),
      .size = 4661,
      .requires_python = "<4,>=3.9,!=3.9.1 & \"x\"",
      .upload_time = "2024-11-06T22:37:09.220617Z",
      .yanked = Yanked{true, ""},
      .core_metadata = Digest('c'),
  });
  project.files.push_back(MirrorFile{
      .filename = "example_pkg-1.1+local-py3-none-any.whl",
      .href = "../../packages/12/34/dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd/"
              "example_pkg-1.1%2Blocal-py3-none-any.whl",
      .sha256 = Digest('d'),
      .size = UINT64_C(5000000000),
      .requires_python = std::nullopt,
      .upload_time = std::nullopt,
      .yanked = Yanked{},
      .core_metadata = std::nullopt,
  });
  return project;
}

TEST(ProjectPageTest, RendersHtmlExactly) {
  EXPECT_EQ(RenderProjectHtml(ExampleProject()), R"html(<!DOCTYPE html>
<html>
  <head>
    <meta name="pypi:repository-version" content="1.4">
    <meta name="pypi:project-status" content="archived">
    <meta name="pypi:project-status-reason" content="use example-ng &amp; &lt;friends&gt;">
    <title>Links for example-pkg</title>
  </head>
  <body>
    <h1>Links for example-pkg</h1>
    <a href="../../packages/ef/01/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee/example_pkg-0.9.tar.gz#sha256=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" data-requires-python="&gt;=3.8" data-yanked="broken build">example_pkg-0.9.tar.gz</a><br/>
    <a href="../../packages/ab/cd/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/example_pkg-1.0-py3-none-any.whl#sha256=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" data-requires-python="&lt;4,&gt;=3.9,!=3.9.1 &amp; &quot;x&quot;" data-yanked="" data-core-metadata="sha256=cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc" data-dist-info-metadata="sha256=cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc">example_pkg-1.0-py3-none-any.whl</a><br/>
    <a href="../../packages/12/34/dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd/example_pkg-1.1%2Blocal-py3-none-any.whl#sha256=dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd">example_pkg-1.1+local-py3-none-any.whl</a><br/>
  </body>
</html>
)html");
}

TEST(ProjectPageTest, RendersJsonExactly) {
  EXPECT_EQ(
      RenderProjectJson(ExampleProject()),
      R"json({"meta":{"api-version":"1.4"},"name":"example-pkg","project-status":{"status":"archived","reason":"use example-ng & <friends>"},"versions":["0.9","1.0","1.1+local"],"files":[{"filename":"example_pkg-0.9.tar.gz","url":"../../packages/ef/01/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee/example_pkg-0.9.tar.gz","hashes":{"sha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},"requires-python":">=3.8","size":5760,"upload-time":"2024-11-06T22:37:10.868088Z","yanked":"broken build"},{"filename":"example_pkg-1.0-py3-none-any.whl","url":"../../packages/ab/cd/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/example_pkg-1.0-py3-none-any.whl","hashes":{"sha256":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"},"requires-python":"<4,>=3.9,!=3.9.1 & \"x\"","size":4661,"upload-time":"2024-11-06T22:37:09.220617Z","yanked":true,"core-metadata":{"sha256":"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"}},{"filename":"example_pkg-1.1+local-py3-none-any.whl","url":"../../packages/12/34/dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd/example_pkg-1.1%2Blocal-py3-none-any.whl","hashes":{"sha256":"dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"},"size":5000000000,"yanked":false}]}
)json");
}

TEST(ProjectPageTest, ActiveProjectWithSerialRendersHtmlExactly) {
  MirrorProject project;
  project.name = "x";
  project.serial = 123456;
  project.versions = {"1.0"};
  project.files.push_back(MirrorFile{
      .filename = "x-1.0.tar.gz",
      .href = "../../packages/ab/cd/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/"
              "x-1.0.tar.gz",
      .sha256 = Digest('a'),
      .size = 1,
      .requires_python = std::nullopt,
      .upload_time = std::nullopt,
      .yanked = Yanked{},
      .core_metadata = std::nullopt});
  EXPECT_EQ(RenderProjectHtml(project), R"html(<!DOCTYPE html>
<html>
  <head>
    <meta name="pypi:repository-version" content="1.4">
    <title>Links for x</title>
  </head>
  <body>
    <h1>Links for x</h1>
    <a href="../../packages/ab/cd/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/x-1.0.tar.gz#sha256=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">x-1.0.tar.gz</a><br/>
  </body>
</html>
<!--SERIAL 123456-->
)html");
  EXPECT_EQ(
      RenderProjectJson(project),
      R"json({"meta":{"api-version":"1.4","_last-serial":123456},"name":"x","versions":["1.0"],"files":[{"filename":"x-1.0.tar.gz","url":"../../packages/ab/cd/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/x-1.0.tar.gz","hashes":{"sha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},"size":1,"yanked":false}]}
)json");
}

TEST(ProjectPageTest, AnUploadTimeOutsidePep700IsLeftOutOfTheJson) {
  // uv rejects a whole page for an upload-time it cannot parse (bandersnatch writes ""): only
  // "yyyy-mm-ddThh:mm:ss[.fraction]Z" is passed through.
  const std::vector<std::pair<std::string, bool>> cases = {
      {"2024-11-06T22:37:10.868088Z", true},  {"2024-11-06T22:37:10Z", true},
      {"2005-01-01T00:00:60.1Z", true},       {"", false},
      {"2024-11-06 22:37:10Z", false},        {"2024-11-06T22:37:10", false},
      {"2024-11-06T22:37:10+00:00", false},   {"2024-13-06T22:37:10Z", false},
      {"2024-11-06T24:00:00Z", false},        {"2024-11-06T22:37:10.Z", false},
      {"2024-11-06T22:37:10.5Zx", false},     {"24-11-06T22:37:10Z", false},
      {"2024-11-0aT22:37:10Z", false},        {"2024-11-06T22:37:1Z", false}};
  for (const auto& [upload_time, kept] : cases) {
    MirrorProject project;
    project.name = "x";
    project.versions = {"1.0"};
    project.files.push_back(MirrorFile{.filename = "x-1.0.tar.gz",
                                       .href = "../../packages/x-1.0.tar.gz",
                                       .sha256 = Digest('a'),
                                       .size = 1,
                                       .requires_python = std::nullopt,
                                       .upload_time = upload_time,
                                       .yanked = Yanked{},
                                       .core_metadata = std::nullopt});
    const std::string json = RenderProjectJson(project);
    EXPECT_EQ(json.find("\"upload-time\":\"" + upload_time + "\"") != std::string::npos, kept)
        << upload_time;
    EXPECT_EQ(json.find("upload-time") != std::string::npos, kept) << upload_time;
  }
}

TEST(ProjectPageTest, ProjectWithoutFilesRendersEmptyLists) {
  MirrorProject project;
  project.name = "empty";
  EXPECT_EQ(RenderProjectHtml(project), R"html(<!DOCTYPE html>
<html>
  <head>
    <meta name="pypi:repository-version" content="1.4">
    <title>Links for empty</title>
  </head>
  <body>
    <h1>Links for empty</h1>
  </body>
</html>
)html");
  EXPECT_EQ(RenderProjectJson(project),
            R"json({"meta":{"api-version":"1.4"},"name":"empty","versions":[],"files":[]}
)json");
}

TEST(ProjectPageTest, StatusWithoutReasonHasNoReasonTag) {
  MirrorProject project;
  project.name = "q";
  project.status = ProjectStatus{"quarantined", std::nullopt};
  const std::string html = RenderProjectHtml(project);
  EXPECT_NE(html.find("    <meta name=\"pypi:project-status\" content=\"quarantined\">\n"),
            std::string::npos);
  EXPECT_EQ(html.find("project-status-reason"), std::string::npos);
  EXPECT_EQ(
      RenderProjectJson(project),
      R"json({"meta":{"api-version":"1.4"},"name":"q","project-status":{"status":"quarantined"},"versions":[],"files":[]}
)json");
}

TEST(ProjectPageTest, JsonNeverContainsNullOrDistInfoMetadata) {
  const std::string json = RenderProjectJson(ExampleProject());
  EXPECT_EQ(json.find("null"), std::string::npos);
  EXPECT_EQ(json.find("dist-info-metadata"), std::string::npos);
}

TEST(ProjectPageTest, JsonParsesBackToTheSameValues) {
  const MirrorProject project = ExampleProject();
  std::string json = RenderProjectJson(project);
  SimpleJsonParser parser;
  auto page = parser.ParseProject(json);
  ASSERT_TRUE(IsOk(page));
  EXPECT_EQ(page->api_version, "1.4");
  EXPECT_EQ(page->last_serial, std::nullopt);
  EXPECT_EQ(page->name, project.name);
  EXPECT_EQ(page->versions, project.versions);
  EXPECT_EQ(page->status, project.status);
  ASSERT_EQ(page->files.size(), project.files.size());
  for (size_t i = 0; i < project.files.size(); ++i) {
    SCOPED_TRACE(i);
    const MirrorFile& sent = project.files[i];
    UpstreamFile expected;
    expected.filename = sent.filename;
    expected.url = sent.href;
    expected.hashes = {{"sha256", sent.sha256.Hex()}};
    expected.requires_python = sent.requires_python;
    expected.size = sent.size;
    expected.upload_time = sent.upload_time;
    expected.yanked = sent.yanked;
    if (sent.core_metadata) {
      expected.core_metadata = CoreMetadata{true, {{"sha256", sent.core_metadata->Hex()}}};
    }
    EXPECT_EQ(page->files[i], expected);
  }
}

TEST(ProjectPageTest, JsonWithSerialParsesBackToTheSerial) {
  MirrorProject project = ExampleProject();
  project.serial = INT64_C(9007199254740993);  // above 2^53: must not pass through a double
  std::string json = RenderProjectJson(project);
  SimpleJsonParser parser;
  auto page = parser.ParseProject(json);
  ASSERT_TRUE(IsOk(page));
  EXPECT_EQ(page->last_serial, INT64_C(9007199254740993));
}

TEST(ProjectPageTest, JsonEscapesControlCharactersInStrings) {
  MirrorProject project;
  project.name = "x";
  project.versions = {"1.0\n\"\\"};
  std::string json = RenderProjectJson(project);
  EXPECT_EQ(json,
            R"json({"meta":{"api-version":"1.4"},"name":"x","versions":["1.0\n\"\\"],"files":[]}
)json");
  SimpleJsonParser parser;
  auto page = parser.ParseProject(json);
  ASSERT_TRUE(IsOk(page));
  EXPECT_EQ(page->versions, project.versions);
}

TEST(ProjectPageTest, RenderingIsDeterministic) {
  EXPECT_EQ(RenderProjectHtml(ExampleProject()), RenderProjectHtml(ExampleProject()));
  EXPECT_EQ(RenderProjectJson(ExampleProject()), RenderProjectJson(ExampleProject()));
}

}  // namespace
}  // namespace cistern::engine
