#include "engine/pypi/simple_json.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "engine/pypi/project_name.h"
#include "net/body_sink.h"
#include "tests/support/run_task.h"
#include "tests/engine/test_util.h"

namespace cistern::engine {
namespace {

using testing::IsError;
using testing::IsOk;
using cistern::testing::RunTask;

constexpr std::string_view kSha256 =
    "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881";
constexpr std::string_view kBs4Sha256 =
    "b80878c9f40111313e55da8ba20bdba06d8fa3969fc68304167741bbf9e082ed";
constexpr std::string_view kBs4MetadataSha256 =
    "524392d64a088e56a4232f50d6edb208dc03105394652acb72c6d5fa64c89f3e";
constexpr std::string_view kBs4Url =
    "https://files.pythonhosted.org/packages/b1/fe/"
    "a47579c528bf5086b85268a26a10b3a6c9ebed4c0e469be3d8420ab2d906/"
    "beautifulsoup4-4.12.3-py3-none-any.whl";

// pypi-mirror-protocol.md §1.2, as PyPI sends it (display names, per-project serials).
constexpr std::string_view kPypiRoot = R"json({
  "meta": {"api-version": "1.4", "_last-serial": 24888689},
  "projects": [
    {"name": "0", "_last-serial": 3075854},
    {"name": "0-._.-._.-._.-._.-._.-._.-0", "_last-serial": 1448421}
  ]
})json";

// pypi-mirror-protocol.md §1.3, with the shortened hashes written out. Ends at its closing brace,
// so every strict prefix is incomplete JSON.
constexpr std::string_view kPypiProject = R"json({
  "meta": {"api-version": "1.4", "_last-serial": 22406780},
  "name": "beautifulsoup4",
  "project-status": {"status": "active"},
  "versions": ["4.0.1", "4.12.3", "4.13.0b2"],
  "files": [
    {
      "filename": "beautifulsoup4-4.12.3-py3-none-any.whl",
      "url": "https://files.pythonhosted.org/packages/b1/fe/a47579c528bf5086b85268a26a10b3a6c9ebed4c0e469be3d8420ab2d906/beautifulsoup4-4.12.3-py3-none-any.whl",
      "hashes": {"sha256": "b80878c9f40111313e55da8ba20bdba06d8fa3969fc68304167741bbf9e082ed"},
      "requires-python": ">=3.6.0",
      "size": 147925,
      "upload-time": "2024-01-17T16:53:12.779164Z",
      "yanked": false,
      "core-metadata": {"sha256": "524392d64a088e56a4232f50d6edb208dc03105394652acb72c6d5fa64c89f3e"},
      "data-dist-info-metadata": {"sha256": "524392d64a088e56a4232f50d6edb208dc03105394652acb72c6d5fa64c89f3e"},
      "provenance": null
    }
  ]
})json";

// A page whose only file is `file_json` (an object body without braces).
std::string PageWithFile(std::string_view file_json) {
  return R"({"meta":{"api-version":"1.1"},"name":"x","versions":["1.0"],"files":[{)" +
         std::string(file_json) + "}]}";
}

std::string MinimalFile(std::string_view extra = "") {
  std::string file = R"("filename":"x-1.0.tar.gz","url":"x-1.0.tar.gz","hashes":{"sha256":")" +
                     std::string(kSha256) + "\"}";
  if (!extra.empty()) {
    file += ",";
    file += extra;
  }
  return file;
}

Result<ProjectPage> ParseProject(std::string body) {
  SimpleJsonParser parser;
  return parser.ParseProject(body);
}

Result<RootIndex> ParseRoot(std::string body) {
  SimpleJsonParser parser;
  return parser.ParseRoot(body);
}

// Parses a page with one file described by `file_json`, returning that file.
UpstreamFile ParseOneFile(std::string_view file_json) {
  auto page = ParseProject(PageWithFile(file_json));
  EXPECT_TRUE(IsOk(page));
  if (!page || page->files.size() != 1) {
    ADD_FAILURE() << "expected exactly one file";
    return {};
  }
  return page->files[0];
}

void ExpectSamePage(const ProjectPage& actual, const ProjectPage& expected) {
  EXPECT_EQ(actual.api_version, expected.api_version);
  EXPECT_EQ(actual.last_serial, expected.last_serial);
  EXPECT_EQ(actual.name, expected.name);
  EXPECT_EQ(actual.versions, expected.versions);
  EXPECT_EQ(actual.status, expected.status);
  EXPECT_TRUE(actual.files == expected.files);
}

TEST(SimpleJsonTest, ParsesThePypiRootExample) {
  auto root = ParseRoot(std::string(kPypiRoot));
  ASSERT_TRUE(IsOk(root));
  EXPECT_EQ(root->api_version, "1.4");
  EXPECT_EQ(root->last_serial, 24888689);
  ASSERT_EQ(root->projects.size(), 2u);
  EXPECT_EQ(root->projects[0].name, "0");
  EXPECT_EQ(root->projects[0].last_serial, 3075854);
  EXPECT_EQ(root->projects[1].name, "0-._.-._.-._.-._.-._.-._.-0");
  EXPECT_EQ(root->projects[1].last_serial, 1448421);
}

TEST(SimpleJsonTest, RootEntryWithoutSerialHasNone) {
  auto root = ParseRoot(R"({"meta":{"api-version":"1.0"},"projects":[{"name":"Frob"}]})");
  ASSERT_TRUE(IsOk(root));
  EXPECT_EQ(root->last_serial, std::nullopt);
  ASSERT_EQ(root->projects.size(), 1u);
  EXPECT_EQ(root->projects[0].name, "Frob");
  EXPECT_EQ(root->projects[0].last_serial, std::nullopt);
}

TEST(SimpleJsonTest, LastSerialAsAStringOfDigitsIsReadAndAnyOtherValueIsUnknown) {
  // bandersnatch 8 writes "_last-serial" as a string in its pages (protocol §2.3); it is a
  // server's private key, so an odd value makes the serial unknown, not the page broken.
  const std::vector<std::pair<std::string, std::optional<int64_t>>> cases = {
      {"123", 123},         {"\"123\"", 123},      {"\"\"", std::nullopt},
      {"null", std::nullopt}, {"\"12a\"", std::nullopt}, {"\"-5\"", std::nullopt},
      {"-5", std::nullopt},  {"1.5", std::nullopt},  {"[1]", std::nullopt},
      {"{\"a\":1}", std::nullopt}, {"99999999999999999999999", std::nullopt}};
  for (const auto& [json, expected] : cases) {
    auto page = ParseProject(
        R"({"meta":{"api-version":"1.1","_last-serial":)" + json +
        R"(},"name":"x","versions":[],"files":[]})");
    ASSERT_TRUE(IsOk(page)) << json;
    EXPECT_EQ(page->last_serial, expected) << json;
    auto root = ParseRoot(R"({"meta":{"api-version":"1.0","_last-serial":)" + json +
                          R"(},"projects":[{"name":"a","_last-serial":)" + json + "}]}");
    ASSERT_TRUE(IsOk(root)) << json;
    EXPECT_EQ(root->last_serial, expected) << json;
    ASSERT_EQ(root->projects.size(), 1u);
    EXPECT_EQ(root->projects[0].last_serial, expected) << json;
  }
  // Still JSON: a malformed value fails the page.
  EXPECT_FALSE(ParseProject(R"({"meta":{"api-version":"1.1","_last-serial":[1,}},"name":"x","versions":[],"files":[]})")
                   .has_value());
}

TEST(SimpleJsonTest, MissingApiVersionMeansOnePointZero) {
  auto root = ParseRoot(R"({"meta":{},"projects":[]})");
  ASSERT_TRUE(IsOk(root));
  EXPECT_EQ(root->api_version, "1.0");
  EXPECT_TRUE(root->projects.empty());
}

TEST(SimpleJsonTest, RootEntryWithoutNameIsRejectedWithItsIndex) {
  auto root =
      ParseRoot(R"({"meta":{"api-version":"1.0"},"projects":[{"name":"a"},{"_last-serial":3}]})");
  ASSERT_TRUE(IsError(root, Errc::kUpstreamIndex));
  EXPECT_EQ(root.error().detail, "projects[1] has no \"name\"");
}

TEST(SimpleJsonTest, ParsesThePypiProjectExample) {
  auto page = ParseProject(std::string(kPypiProject));
  ASSERT_TRUE(IsOk(page));
  EXPECT_EQ(page->api_version, "1.4");
  EXPECT_EQ(page->last_serial, 22406780);
  EXPECT_EQ(page->name, "beautifulsoup4");
  EXPECT_EQ(page->status.status, "active");
  EXPECT_EQ(page->status.reason, std::nullopt);
  EXPECT_EQ(page->versions, (std::vector<std::string>{"4.0.1", "4.12.3", "4.13.0b2"}));
  ASSERT_EQ(page->files.size(), 1u);
  const UpstreamFile& file = page->files[0];
  EXPECT_EQ(file.filename, "beautifulsoup4-4.12.3-py3-none-any.whl");
  EXPECT_EQ(file.url, kBs4Url);
  EXPECT_EQ(file.hashes, (std::map<std::string, std::string>{{"sha256", std::string(kBs4Sha256)}}));
  EXPECT_EQ(file.requires_python, ">=3.6.0");
  EXPECT_EQ(file.size, 147925u);
  EXPECT_EQ(file.upload_time, "2024-01-17T16:53:12.779164Z");
  EXPECT_EQ(file.yanked, Yanked{});
  EXPECT_EQ(file.core_metadata,
            (CoreMetadata{true, {{"sha256", std::string(kBs4MetadataSha256)}}}));
}

TEST(SimpleJsonTest, ProjectWithoutStatusIsActive) {
  auto page = ParseProject(PageWithFile(MinimalFile()));
  ASSERT_TRUE(IsOk(page));
  EXPECT_EQ(page->status, ProjectStatus{});
  EXPECT_EQ(page->status.status, "active");
}

TEST(SimpleJsonTest, ParsesArchivedStatusWithReason) {
  auto page = ParseProject(
      R"({"meta":{"api-version":"1.4"},"name":"x","project-status":{"status":"archived","reason":"moved to y"},"files":[]})");
  ASSERT_TRUE(IsOk(page));
  EXPECT_EQ(page->status.status, "archived");
  EXPECT_EQ(page->status.reason, "moved to y");
  EXPECT_TRUE(page->files.empty());
  EXPECT_TRUE(page->versions.empty());
}

TEST(SimpleJsonTest, RequiresPythonNullIsUnset) {
  EXPECT_EQ(ParseOneFile(MinimalFile(R"("requires-python":null)")).requires_python, std::nullopt);
  EXPECT_EQ(ParseOneFile(MinimalFile()).requires_python, std::nullopt);
  EXPECT_EQ(ParseOneFile(MinimalFile(R"("requires-python":"")")).requires_python, "");
}

TEST(SimpleJsonTest, RequiresPythonIsKeptVerbatimAndUnescaped) {
  EXPECT_EQ(ParseOneFile(MinimalFile(R"("requires-python":">=2.7.*, <4,\"&")")).requires_python,
            ">=2.7.*, <4,\"&");
}

TEST(SimpleJsonTest, YankedFalseTrueOrReason) {
  EXPECT_EQ(ParseOneFile(MinimalFile()).yanked, (Yanked{false, ""}));
  EXPECT_EQ(ParseOneFile(MinimalFile(R"("yanked":false)")).yanked, (Yanked{false, ""}));
  EXPECT_EQ(ParseOneFile(MinimalFile(R"("yanked":true)")).yanked, (Yanked{true, ""}));
  EXPECT_EQ(ParseOneFile(MinimalFile(R"("yanked":"broken build")")).yanked,
            (Yanked{true, "broken build"}));
}

TEST(SimpleJsonTest, EmptyYankedReasonReadsAsNotYanked) {
  // PEP 592/691: a yanked reason is non-empty and `yanked` is read by truthiness, as pip does.
  EXPECT_EQ(ParseOneFile(MinimalFile(R"("yanked":"")")).yanked, (Yanked{false, ""}));
  EXPECT_EQ(ParseOneFile(MinimalFile(R"("yanked":null)")).yanked, (Yanked{false, ""}));
}

TEST(SimpleJsonTest, YankedOfAnotherTypeIsRejected) {
  auto page = ParseProject(PageWithFile(MinimalFile(R"("yanked":1)")));
  ASSERT_TRUE(IsError(page, Errc::kProjectPage));
  EXPECT_EQ(page.error().detail, "files[0].yanked must be a boolean or a reason string");
}

TEST(SimpleJsonTest, CoreMetadataTrueFalseHashesOrAbsent) {
  EXPECT_EQ(ParseOneFile(MinimalFile()).core_metadata, (CoreMetadata{false, {}}));
  EXPECT_EQ(ParseOneFile(MinimalFile(R"("core-metadata":false)")).core_metadata,
            (CoreMetadata{false, {}}));
  EXPECT_EQ(ParseOneFile(MinimalFile(R"("core-metadata":true)")).core_metadata,
            (CoreMetadata{true, {}}));
  EXPECT_EQ(ParseOneFile(MinimalFile(R"("core-metadata":{"sha256":"ABCDEF"})")).core_metadata,
            (CoreMetadata{true, {{"sha256", "abcdef"}}}));
  EXPECT_EQ(ParseOneFile(MinimalFile(R"("core-metadata":{})")).core_metadata,
            (CoreMetadata{true, {}}));
}

TEST(SimpleJsonTest, DistInfoMetadataIsTheFallback) {
  EXPECT_EQ(ParseOneFile(MinimalFile(R"("dist-info-metadata":{"sha256":"aa"})")).core_metadata,
            (CoreMetadata{true, {{"sha256", "aa"}}}));
  EXPECT_EQ(ParseOneFile(MinimalFile(R"("dist-info-metadata":true)")).core_metadata,
            (CoreMetadata{true, {}}));
}

TEST(SimpleJsonTest, CoreMetadataWinsOverDistInfoMetadataInEitherOrder) {
  EXPECT_EQ(
      ParseOneFile(MinimalFile(R"("dist-info-metadata":{"sha256":"aa"},"core-metadata":false)"))
          .core_metadata,
      (CoreMetadata{false, {}}));
  EXPECT_EQ(
      ParseOneFile(MinimalFile(R"("core-metadata":{"sha256":"bb"},"dist-info-metadata":true)"))
          .core_metadata,
      (CoreMetadata{true, {{"sha256", "bb"}}}));
}

TEST(SimpleJsonTest, DataDistInfoMetadataIsIgnored) {
  EXPECT_EQ(ParseOneFile(MinimalFile(R"("data-dist-info-metadata":{"sha256":"aa"})")).core_metadata,
            (CoreMetadata{false, {}}));
  EXPECT_EQ(ParseOneFile(MinimalFile(R"("data-dist-info-metadata":true)")).core_metadata,
            (CoreMetadata{false, {}}));
}

TEST(SimpleJsonTest, HashNamesAndHexAreLowercased) {
  const UpstreamFile file = ParseOneFile(
      R"("filename":"x-1.0.tar.gz","url":"x-1.0.tar.gz","hashes":{"SHA256":"2D711642B726B04401627CA9FBAC32F5C8530FB1903CC4DB02258717921A4881","Sha512":"AbCd"})");
  EXPECT_EQ(file.hashes, (std::map<std::string, std::string>{{"sha256", std::string(kSha256)},
                                                             {"sha512", "abcd"}}));
}

TEST(SimpleJsonTest, EmptyHashesIsAccepted) {
  const UpstreamFile file =
      ParseOneFile(R"("filename":"x-1.0.tar.gz","url":"x-1.0.tar.gz","hashes":{})");
  EXPECT_TRUE(file.hashes.empty());
}

TEST(SimpleJsonTest, SizeBeyondThirtyTwoBitsIsKept) {
  EXPECT_EQ(ParseOneFile(MinimalFile(R"("size":5000000000)")).size, 5000000000u);
  EXPECT_EQ(ParseOneFile(MinimalFile(R"("size":18446744073709551615)")).size,
            UINT64_C(18446744073709551615));
}

TEST(SimpleJsonTest, NegativeSizeIsRejected) {
  auto page = ParseProject(PageWithFile(MinimalFile(R"("size":-1)")));
  ASSERT_TRUE(IsError(page, Errc::kProjectPage));
  EXPECT_EQ(page.error().detail, "files[0].size must be a non-negative integer");
}

TEST(SimpleJsonTest, UploadTimeWithAndWithoutFractionIsVerbatim) {
  EXPECT_EQ(ParseOneFile(MinimalFile(R"("upload-time":"2024-11-06T22:37:10Z")")).upload_time,
            "2024-11-06T22:37:10Z");
  EXPECT_EQ(ParseOneFile(MinimalFile(R"("upload-time":null)")).upload_time, std::nullopt);
}

TEST(SimpleJsonTest, UnknownKeysAreIgnoredAtEveryLevel) {
  const std::string body = R"({
    "_private": {"deep": [1, {"x": [true, null]}], "s": "}]"},
    "meta": {"api-version": "1.1", "_future": [1, 2], "_last-serial": 7, "tracks": ["a"]},
    "name": "x",
    "alternate-locations": ["https://example.org/"],
    "project-status": {"status": "deprecated", "since": {"v": 1}},
    "versions": ["1.0"],
    "files": [
      {"gpg-sig": false, "filename": "x-1.0.tar.gz", "future": {"a": [{}]},
       "url": "x-1.0.tar.gz", "hashes": {"sha256": "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"},
       "provenance": "https://example.org/p", "core-metadata": {"sha256": "aa"}, "zzz": 1.5e10}
    ],
    "~": "last"
  })";
  auto page = ParseProject(body);
  ASSERT_TRUE(IsOk(page));
  EXPECT_EQ(page->api_version, "1.1");
  EXPECT_EQ(page->last_serial, 7);
  EXPECT_EQ(page->status.status, "deprecated");
  ASSERT_EQ(page->files.size(), 1u);
  UpstreamFile expected;
  expected.filename = "x-1.0.tar.gz";
  expected.url = "x-1.0.tar.gz";
  expected.hashes = {{"sha256", std::string(kSha256)}};
  expected.core_metadata = CoreMetadata{true, {{"sha256", "aa"}}};
  EXPECT_EQ(page->files[0], expected);
}

TEST(SimpleJsonTest, UnknownKeysInRootEntriesAreIgnored) {
  auto root = ParseRoot(
      R"({"x":{"y":[1]},"meta":{"api-version":"1.4","z":null},"projects":[{"id":1,"name":"A","extra":[{}],"_last-serial":5}]})");
  ASSERT_TRUE(IsOk(root));
  ASSERT_EQ(root->projects.size(), 1u);
  EXPECT_EQ(root->projects[0].name, "A");
  EXPECT_EQ(root->projects[0].last_serial, 5);
}

TEST(SimpleJsonTest, EscapedKeysAreRecognized) {
  const UpstreamFile file = ParseOneFile(
      R"("file\u006eame":"x-1.0.tar.gz","url":"x-1.0.tar.gz","hashes":{"sha\u0032\u00356":"AB"},"yanked":"\u00e9\"")");
  EXPECT_EQ(file.filename, "x-1.0.tar.gz");
  EXPECT_EQ(file.hashes, (std::map<std::string, std::string>{{"sha256", "ab"}}));
  EXPECT_EQ(file.yanked, (Yanked{true, "\xc3\xa9\""}));
}

TEST(SimpleJsonTest, NestedUnknownValuesAreCheckedUpToADepthLimit) {
  // Unknown values are walked (so malformed JSON in them is caught) up to 64 levels; deeper
  // ones are rejected rather than recursing without bound.
  const std::string fifty = std::string(50, '[') + std::string(50, ']');
  auto page = ParseProject(R"({"meta":{"api-version":"1.0"},"_x":)" + fifty + R"(,"files":[]})");
  ASSERT_TRUE(IsOk(page));
  EXPECT_TRUE(page->files.empty());
  const std::string deep = std::string(5000, '[') + std::string(5000, ']');
  auto too_deep =
      ParseProject(R"({"meta":{"api-version":"1.0"},"_x":)" + deep + R"(,"files":[]})");
  ASSERT_TRUE(IsError(too_deep, Errc::kProjectPage));
}

// On-Demand skips values it is not asked for without validating them; the parser walks unknown
// values so that pages a strict client (pip, uv) would reject are rejected here too.
TEST(SimpleJsonTest, MalformedUnknownValuesAreRejected) {
  for (std::string_view unknown :
       {"[1,}", "[1 2]", "{\"a\" 1}", "{\"a\":}", "tru", "01", "[}", "\"\\x\""}) {
    SCOPED_TRACE(unknown);
    auto page = ParseProject(R"({"meta":{"api-version":"1.0"},"_x":)" + std::string(unknown) +
                             R"(,"files":[]})");
    EXPECT_TRUE(IsError(page, Errc::kProjectPage));
  }
}

TEST(SimpleJsonTest, ApiVersionOfAnotherMajorIsRejected) {
  auto page = ParseProject(R"({"meta":{"api-version":"2.0"},"name":"x","files":[]})");
  ASSERT_TRUE(IsError(page, Errc::kProjectPage));
  EXPECT_EQ(page.error().detail, "unsupported api-version \"2.0\" (cistern reads major version 1)");
  auto root = ParseRoot(R"({"meta":{"api-version":"2.0"},"projects":[]})");
  ASSERT_TRUE(IsError(root, Errc::kUpstreamIndex));
  EXPECT_EQ(root.error().detail, "unsupported api-version \"2.0\" (cistern reads major version 1)");
}

TEST(SimpleJsonTest, NewerMinorApiVersionIsAccepted) {
  auto page = ParseProject(R"({"meta":{"api-version":"1.99"},"name":"x","files":[]})");
  ASSERT_TRUE(IsOk(page));
  EXPECT_EQ(page->api_version, "1.99");
}

TEST(SimpleJsonTest, IsSupportedApiVersionReadsTheMajorOnly) {
  EXPECT_TRUE(IsSupportedApiVersion("1.0"));
  EXPECT_TRUE(IsSupportedApiVersion("1.4"));
  EXPECT_TRUE(IsSupportedApiVersion("1.99"));
  EXPECT_TRUE(IsSupportedApiVersion("1"));
  EXPECT_FALSE(IsSupportedApiVersion("2.0"));
  EXPECT_FALSE(IsSupportedApiVersion("0.9"));
  EXPECT_FALSE(IsSupportedApiVersion("11.0"));
  EXPECT_FALSE(IsSupportedApiVersion(""));
  EXPECT_FALSE(IsSupportedApiVersion(".1"));
  EXPECT_FALSE(IsSupportedApiVersion("v1.0"));
  EXPECT_FALSE(IsSupportedApiVersion("+1.0"));
}

TEST(SimpleJsonTest, IsNewerMinorApiVersionIsAboveOnePointFourOnly) {
  EXPECT_TRUE(IsNewerMinorApiVersion("1.5"));
  EXPECT_TRUE(IsNewerMinorApiVersion("1.10"));
  EXPECT_FALSE(IsNewerMinorApiVersion("1.4"));
  EXPECT_FALSE(IsNewerMinorApiVersion("1.0"));
  EXPECT_FALSE(IsNewerMinorApiVersion("1"));
  EXPECT_FALSE(IsNewerMinorApiVersion("2.5"));
  EXPECT_FALSE(IsNewerMinorApiVersion("1.x"));
  EXPECT_FALSE(IsNewerMinorApiVersion("1.5a"));
}

TEST(SimpleJsonTest, FileWithoutARequiredKeyIsRejectedWithItsIndex) {
  const std::string good = "{" + MinimalFile() + "}";
  const std::vector<std::string> incomplete = {
      R"({"url":"x-1.0.tar.gz","hashes":{}})",
      R"({"filename":"x-1.0.tar.gz","hashes":{}})",
      R"({"filename":"x-1.0.tar.gz","url":"x-1.0.tar.gz"})",
  };
  for (const std::string& file : incomplete) {
    SCOPED_TRACE(file);
    auto page = ParseProject(R"({"meta":{"api-version":"1.0"},"name":"x","files":[)" + good + "," +
                             good + "," + file + "]}");
    ASSERT_TRUE(IsError(page, Errc::kProjectPage));
    EXPECT_EQ(page.error().detail,
              "files[2] lacks a required key (filename, url and hashes are required by PEP 691)");
  }
}

TEST(SimpleJsonTest, WrongTypesAreRejectedNamingTheKey) {
  struct Case {
    std::string file;
    std::string detail;
  };
  const std::vector<Case> cases = {
      {R"("filename":1,"url":"u","hashes":{})", "files[0].filename must be a string"},
      {R"("filename":"f","url":null,"hashes":{})", "files[0].url must be a string"},
      {R"("filename":"f","url":"u","hashes":[])", "files[0].hashes must be an object"},
      {R"("filename":"f","url":"u","hashes":{"sha256":1})",
       "files[0].hashes.sha256 must be a string"},
      {R"("filename":"f","url":"u","hashes":{},"core-metadata":"yes")",
       "files[0].core-metadata must be a boolean or an object of hashes"},
      {R"("filename":"f","url":"u","hashes":{},"size":"12")",
       "files[0].size must be a non-negative integer"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.file);
    auto page = ParseProject(PageWithFile(c.file));
    ASSERT_TRUE(IsError(page, Errc::kProjectPage));
    EXPECT_EQ(page.error().detail, c.detail);
  }
}

TEST(SimpleJsonTest, MissingMetaOrFilesIsNotAProjectPage) {
  for (std::string body :
       {R"({"name":"x","files":[]})", R"({"meta":{"api-version":"1.0"}})", R"({})"}) {
    SCOPED_TRACE(body);
    auto page = ParseProject(body);
    ASSERT_TRUE(IsError(page, Errc::kProjectPage));
    EXPECT_EQ(page.error().detail, "not a PEP 691 project page: \"meta\" or \"files\" is missing");
  }
}

TEST(SimpleJsonTest, ARootIndexIsNotAProjectPage) {
  auto page = ParseProject(std::string(kPypiRoot));
  ASSERT_TRUE(IsError(page, Errc::kProjectPage));
  EXPECT_EQ(page.error().detail, "not a PEP 691 project page: \"meta\" or \"files\" is missing");
}

TEST(SimpleJsonTest, TopLevelArrayIsRejected) {
  auto page = ParseProject("[]");
  ASSERT_TRUE(IsError(page, Errc::kProjectPage));
  EXPECT_EQ(page.error().detail, "the top level must be an object");
}

TEST(SimpleJsonTest, EveryStrictPrefixOfAProjectPageIsAnError) {
  const std::string whole(kPypiProject);
  ASSERT_EQ(whole.back(), '}');
  SimpleJsonParser parser;
  for (size_t cut = 0; cut < whole.size(); ++cut) {
    std::string body = whole.substr(0, cut);
    auto page = parser.ParseProject(body);
    EXPECT_TRUE(IsError(page, Errc::kProjectPage)) << "prefix of " << cut << " bytes";
  }
  std::string body = whole;
  ASSERT_TRUE(IsOk(parser.ParseProject(body)));
}

TEST(SimpleJsonTest, EveryStrictPrefixOfARootIndexIsAnError) {
  const std::string whole(kPypiRoot);
  ASSERT_EQ(whole.back(), '}');
  SimpleJsonParser parser;
  for (size_t cut = 0; cut < whole.size(); ++cut) {
    std::string body = whole.substr(0, cut);
    auto root = parser.ParseRoot(body);
    EXPECT_TRUE(IsError(root, Errc::kUpstreamIndex)) << "prefix of " << cut << " bytes";
  }
  std::string body = whole;
  ASSERT_TRUE(IsOk(parser.ParseRoot(body)));
}

TEST(SimpleJsonTest, HtmlErrorPageIsRejected) {
  auto page = ParseProject(
      "<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head>"
      "<body><h1>Service Unavailable</h1></body></html>\n");
  ASSERT_TRUE(IsError(page, Errc::kProjectPage));
  EXPECT_EQ(page.error().detail, "the top level must be an object");
  auto root = ParseRoot("<html><body>captive portal</body></html>");
  ASSERT_TRUE(IsError(root, Errc::kUpstreamIndex));
  EXPECT_EQ(root.error().detail, "the top level must be an object");
}

TEST(SimpleJsonTest, EmptyBodyIsRejected) {
  EXPECT_TRUE(IsError(ParseProject(""), Errc::kProjectPage));
  EXPECT_TRUE(IsError(ParseProject(" \n"), Errc::kProjectPage));
  EXPECT_TRUE(IsError(ParseRoot(""), Errc::kUpstreamIndex));
}

TEST(SimpleJsonTest, TrailingGarbageIsRejected) {
  const std::string page(kPypiProject);
  for (std::string tail : {"x", "}", " {}", "\n{\"meta\":{}}", "]", ",", "null", "<html>"}) {
    SCOPED_TRACE(tail);
    auto parsed = ParseProject(page + tail);
    EXPECT_TRUE(IsError(parsed, Errc::kProjectPage));
  }
  auto root = ParseRoot(std::string(kPypiRoot) + "garbage");
  EXPECT_TRUE(IsError(root, Errc::kUpstreamIndex));
}

TEST(SimpleJsonTest, TrailingWhitespaceIsAccepted) {
  auto page = ParseProject(std::string(kPypiProject) + "\n \r\n\t");
  ASSERT_TRUE(IsOk(page));
  EXPECT_EQ(page->files.size(), 1u);
}

TEST(SimpleJsonTest, InvalidUtf8IsRejected) {
  auto page = ParseProject(PageWithFile(MinimalFile("\"requires-python\":\"\xff\"")));
  EXPECT_TRUE(IsError(page, Errc::kProjectPage));
}

TEST(SimpleJsonTest, ParserIsReusableAfterAnError) {
  SimpleJsonParser parser;
  std::string bad = "{\"meta\":";
  EXPECT_TRUE(IsError(parser.ParseProject(bad), Errc::kProjectPage));
  std::string good(kPypiProject);
  auto page = parser.ParseProject(good);
  ASSERT_TRUE(IsOk(page));
  EXPECT_EQ(page->files.size(), 1u);
}

// Feeds `body` to `sink` in chunks that end at each offset of `cuts` (ascending), then the rest.
net::Task<net::Result<void>> Feed(net::StringSink& sink, std::string body,
                                  std::vector<size_t> cuts) {
  size_t begin = 0;
  cuts.push_back(body.size());
  for (size_t end : cuts) {
    const std::span<const uint8_t> chunk(reinterpret_cast<const uint8_t*>(body.data()) + begin,
                                         end - begin);
    auto fed = co_await sink.OnData(chunk);
    if (!fed) {
      co_return fed;
    }
    begin = end;
  }
  co_return net::Result<void>{};
}

// What the engine parses after receiving `body` through a StringSink in chunks split at `cuts`.
Result<ProjectPage> ParseThroughSink(const std::string& body, std::vector<size_t> cuts,
                                     std::optional<uint64_t> content_length) {
  net::StringSink sink(1 << 20);
  net::ResponseHead head;
  head.status = 200;
  head.content_length = content_length;
  EXPECT_TRUE(sink.OnHead(head).has_value());
  auto fed = RunTask(Feed(sink, body, std::move(cuts)));
  EXPECT_TRUE(fed.has_value() && fed->has_value());
  std::string received = sink.TakeBody();
  EXPECT_EQ(received, body);
  SimpleJsonParser parser;
  return parser.ParseProject(received);
}

TEST(SimpleJsonTest, BodyReceivedWholeParsesLikeTheOriginal) {
  const std::string body(kPypiProject);
  auto expected = ParseProject(body);
  ASSERT_TRUE(IsOk(expected));
  auto with_length = ParseThroughSink(body, {}, body.size());
  ASSERT_TRUE(IsOk(with_length));
  ExpectSamePage(*with_length, *expected);
  auto without_length = ParseThroughSink(body, {}, std::nullopt);
  ASSERT_TRUE(IsOk(without_length));
  ExpectSamePage(*without_length, *expected);
}

TEST(SimpleJsonTest, BodyReceivedByteByByteParsesLikeTheOriginal) {
  const std::string body(kPypiProject);
  auto expected = ParseProject(body);
  ASSERT_TRUE(IsOk(expected));
  std::vector<size_t> cuts;
  for (size_t i = 1; i < body.size(); ++i) {
    cuts.push_back(i);
  }
  auto page = ParseThroughSink(body, cuts, std::nullopt);
  ASSERT_TRUE(IsOk(page));
  ExpectSamePage(*page, *expected);
}

TEST(SimpleJsonTest, BodySplitAtEveryPositionParsesLikeTheOriginal) {
  const std::string body(kPypiProject);
  auto expected = ParseProject(body);
  ASSERT_TRUE(IsOk(expected));
  for (size_t cut = 0; cut <= body.size(); ++cut) {
    SCOPED_TRACE(cut);
    auto page = ParseThroughSink(body, {cut}, std::nullopt);
    ASSERT_TRUE(IsOk(page));
    ExpectSamePage(*page, *expected);
  }
}

}  // namespace
}  // namespace cistern::engine
