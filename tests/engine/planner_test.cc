#include "engine/planner.h"

#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/engine/test_util.h"

namespace cistern::engine {
namespace {

// Two PyPI-layout directories (BLAKE2b-256 of the content on PyPI; any 64 hex digits here).
constexpr std::string_view kDirA =
    "ab/cd/a47579c528bf5086b85268a26a10b3a6c9ebed4c0e469be3d8420ab2d906";
constexpr std::string_view kDirB =
    "ef/01/0f0e0d0c0b0a09080706050403020100f0e0d0c0b0a09080706050403020";
constexpr std::string_view kShaA =
    "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881";
constexpr std::string_view kShaB =
    "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d";
constexpr std::string_view kShaMeta =
    "18ac3e7343f016890c510e93f935261169d9e3f565436429830faf0934f4f8e4";
constexpr std::string_view kSha512 =
    "a4abd4448c49562d828115d13a1fccea927f52b4d5459297f8b43e42da89238bc13626e43dcb38ddb082488927ec9"
    "04fb42057443983e88585179d50551afe62";

class PlannerTest : public ::testing::Test {
 protected:
  static ProjectName Name() { return *ProjectName::Parse("Example.Pkg"); }
  static net::Url PageUrl() { return *net::Url::Parse("https://pypi.org/simple/example-pkg/"); }

  static std::string PypiUrl(std::string_view dir, std::string_view filename) {
    return "https://files.pythonhosted.org/packages/" + std::string(dir) + "/" +
           std::string(filename);
  }
  static std::string PypiPath(std::string_view dir, std::string_view filename) {
    return "packages/" + std::string(dir) + "/" + std::string(filename);
  }

  static UpstreamFile File(std::string filename, std::string url, std::string_view sha256) {
    UpstreamFile file;
    file.filename = std::move(filename);
    file.url = std::move(url);
    if (!sha256.empty()) {
      file.hashes.emplace("sha256", std::string(sha256));
    }
    file.size = 100;
    return file;
  }

  // A wheel at PyPI's layout in kDirA and an sdist in kDirB.
  static ProjectPage Page() {
    ProjectPage page;
    page.api_version = "1.1";
    page.name = "Example.Pkg";
    page.versions = {"1.0"};
    page.files.push_back(File("example_pkg-1.0-py3-none-any.whl",
                              PypiUrl(kDirA, "example_pkg-1.0-py3-none-any.whl"), kShaA));
    page.files.push_back(
        File("example_pkg-1.0.tar.gz", PypiUrl(kDirB, "example_pkg-1.0.tar.gz"), kShaB));
    return page;
  }

  static store::FileRecord Record(std::string path, std::string_view sha256) {
    store::FileRecord record;
    record.path = std::move(path);
    record.project = "example-pkg";
    record.sha256 = *store::Sha256Digest::FromHex(sha256);
    record.size = 100;
    return record;
  }

  static std::vector<std::string> Paths(const ProjectPlan& plan) {
    std::vector<std::string> paths;
    for (const PlannedFile& file : plan.files) {
      paths.push_back(file.path.str());
    }
    return paths;
  }

  static ProjectPlan Plan(const ProjectPage& page,
                          const std::vector<store::FileRecord>& stored = {}, FileRules rules = {}) {
    return PlanProject(Name(), page, PageUrl(), stored, rules);
  }
};

TEST_F(PlannerTest, NewProjectFetchesEveryFile) {
  const ProjectPage page = Page();
  const ProjectPlan plan = Plan(page);
  ASSERT_EQ(plan.files.size(), 2u);
  EXPECT_EQ(Paths(plan),
            (std::vector<std::string>{PypiPath(kDirA, "example_pkg-1.0-py3-none-any.whl"),
                                      PypiPath(kDirB, "example_pkg-1.0.tar.gz")}));
  EXPECT_EQ(plan.files[0].url.str(), PypiUrl(kDirA, "example_pkg-1.0-py3-none-any.whl"));
  EXPECT_EQ(plan.files[0].sha256, store::Sha256Digest::FromHex(kShaA));
  EXPECT_EQ(plan.files[1].sha256, store::Sha256Digest::FromHex(kShaB));
  for (const PlannedFile& file : plan.files) {
    EXPECT_FALSE(file.stored);
    EXPECT_EQ(file.verify.has_value(), false);
    EXPECT_EQ(file.metadata.has_value(), false);
  }
  EXPECT_EQ(plan.files[0].upstream, page.files[0]);
  EXPECT_TRUE(plan.remove.empty());
  EXPECT_TRUE(plan.rejected.empty());
  EXPECT_EQ(plan.versions, (std::vector<std::string>{"1.0"}));
  EXPECT_EQ(plan.status, ProjectStatus{});
}

TEST_F(PlannerTest, StoredFileWithTheSameDigestIsStored) {
  const ProjectPlan plan =
      Plan(Page(), {Record(PypiPath(kDirA, "example_pkg-1.0-py3-none-any.whl"), kShaA)});
  ASSERT_EQ(plan.files.size(), 2u);
  EXPECT_TRUE(plan.files[0].stored);
  EXPECT_FALSE(plan.files[1].stored);
  EXPECT_TRUE(plan.remove.empty());
}

TEST_F(PlannerTest, StoredFileWithAnotherDigestIsFetchedAgain) {
  const ProjectPlan plan =
      Plan(Page(), {Record(PypiPath(kDirA, "example_pkg-1.0-py3-none-any.whl"), kShaB)});
  ASSERT_EQ(plan.files.size(), 2u);
  EXPECT_FALSE(plan.files[0].stored);
  EXPECT_TRUE(plan.remove.empty());
}

TEST_F(PlannerTest, StoredPathNoLongerListedIsRemoved) {
  const std::string gone = PypiPath(kDirB, "example_pkg-0.9.tar.gz");
  const std::string gone_metadata = PypiPath(kDirB, "example_pkg-0.9-py3-none-any.whl.metadata");
  const ProjectPlan plan =
      Plan(Page(), {Record(gone, kShaA), Record(PypiPath(kDirB, "example_pkg-1.0.tar.gz"), kShaB),
                    Record(gone_metadata, kShaMeta)});
  EXPECT_EQ(plan.remove, (std::vector<std::string>{gone, gone_metadata}));
  ASSERT_EQ(plan.files.size(), 2u);
  EXPECT_TRUE(plan.files[1].stored);
}

TEST_F(PlannerTest, QuarantinedProjectListsNoFilesAndRemovesEverythingStored) {
  ProjectPage page = Page();
  page.status = ProjectStatus{"quarantined", "malware report"};
  const std::vector<store::FileRecord> stored = {
      Record(PypiPath(kDirA, "example_pkg-1.0-py3-none-any.whl"), kShaA),
      Record(PypiPath(kDirA, "example_pkg-1.0-py3-none-any.whl.metadata"), kShaMeta)};
  const ProjectPlan plan = Plan(page, stored);
  EXPECT_TRUE(plan.files.empty());
  EXPECT_TRUE(plan.rejected.empty());
  EXPECT_EQ(plan.remove, (std::vector<std::string>{stored[0].path, stored[1].path}));
  EXPECT_EQ(plan.status, page.status);
}

TEST_F(PlannerTest, ArchivedProjectKeepsItsFiles) {
  ProjectPage page = Page();
  page.status = ProjectStatus{"archived", std::nullopt};
  const ProjectPlan plan = Plan(page);
  EXPECT_EQ(plan.files.size(), 2u);
  EXPECT_EQ(plan.status.status, "archived");
}

TEST_F(PlannerTest, HostileFilenameIsRejectedAndTheRestPlanned) {
  ProjectPage page = Page();
  page.files.insert(page.files.begin() + 1,
                    File("../../etc/passwd", "https://evil.example/../../etc/passwd", kShaA));
  page.files.push_back(File("x\x01.whl", "https://evil.example/x%01.whl", kShaA));
  const ProjectPlan plan = Plan(page);
  EXPECT_EQ(Paths(plan),
            (std::vector<std::string>{PypiPath(kDirA, "example_pkg-1.0-py3-none-any.whl"),
                                      PypiPath(kDirB, "example_pkg-1.0.tar.gz")}));
  ASSERT_EQ(plan.rejected.size(), 2u);
  EXPECT_EQ(plan.rejected[0].filename, "../../etc/passwd");
  EXPECT_EQ(plan.rejected[0].error.code, Errc::kInvalidFile);
  EXPECT_EQ(plan.rejected[0].error.project, "example-pkg");
  EXPECT_EQ(plan.rejected[0].error.file, "../../etc/passwd");
  EXPECT_EQ(plan.rejected[0].error.Message(),
            "example-pkg: ../../etc/passwd: rejected file name \"../../etc/passwd\": contains a "
            "path separator");
  EXPECT_EQ(plan.rejected[1].filename, "x\x01.whl");
  EXPECT_EQ(plan.rejected[1].error.Message(),
            "example-pkg: x\\x01.whl: rejected file name \"x\\x01.whl\": contains a control "
            "character");
}

TEST_F(PlannerTest, UrlNamingAnotherFileIsRejected) {
  ProjectPage page = Page();
  page.files[1].url = PypiUrl(kDirB, "other-1.0.tar.gz");
  const ProjectPlan plan = Plan(page);
  ASSERT_EQ(plan.files.size(), 1u);
  ASSERT_EQ(plan.rejected.size(), 1u);
  EXPECT_EQ(plan.rejected[0].filename, "example_pkg-1.0.tar.gz");
  EXPECT_EQ(plan.rejected[0].error.Message(),
            "example-pkg: example_pkg-1.0.tar.gz: rejected file name \"example_pkg-1.0.tar.gz\": "
            "its URL " +
                PypiUrl(kDirB, "other-1.0.tar.gz") + " names another file");
}

TEST_F(PlannerTest, UnusableUrlIsRejected) {
  ProjectPage page = Page();
  page.files[0].url = "ftp://example.org/example_pkg-1.0-py3-none-any.whl";
  const ProjectPlan plan = Plan(page);
  ASSERT_EQ(plan.files.size(), 1u);
  ASSERT_EQ(plan.rejected.size(), 1u);
  EXPECT_EQ(plan.rejected[0].error.code, Errc::kInvalidFile);
  EXPECT_EQ(plan.rejected[0].error.project, "example-pkg");
  EXPECT_EQ(plan.rejected[0].error.file, "example_pkg-1.0-py3-none-any.whl");
  EXPECT_TRUE(plan.rejected[0].error.detail.starts_with(
      "unusable URL \"ftp://example.org/example_pkg-1.0-py3-none-any.whl\": "))
      << plan.rejected[0].error.detail;
}

TEST_F(PlannerTest, MalformedSha256IsRejected) {
  ProjectPage page = Page();
  page.files[0].hashes["sha256"] = "abc";
  const ProjectPlan plan = Plan(page);
  ASSERT_EQ(plan.files.size(), 1u);
  ASSERT_EQ(plan.rejected.size(), 1u);
  EXPECT_EQ(plan.rejected[0].error.Message(),
            "example-pkg: example_pkg-1.0-py3-none-any.whl: malformed sha256 \"abc\"");
}

TEST_F(PlannerTest, RelativeUrlsResolveAgainstThePageUrl) {
  ProjectPage page;
  page.files.push_back(
      File("example_pkg-1.0-py3-none-any.whl",
           "../../packages/" + std::string(kDirA) + "/example_pkg-1.0-py3-none-any.whl", kShaA));
  page.files.push_back(File("example_pkg-1.0.tar.gz", "example_pkg-1.0.tar.gz", kShaB));
  page.files.push_back(File("example_pkg-0.9.tar.gz", "/files/example_pkg-0.9.tar.gz", kShaA));
  const ProjectPlan plan = Plan(page);
  ASSERT_TRUE(plan.rejected.empty());
  ASSERT_EQ(plan.files.size(), 3u);
  EXPECT_EQ(plan.files[0].url.str(), "https://pypi.org/packages/" + std::string(kDirA) +
                                         "/example_pkg-1.0-py3-none-any.whl");
  EXPECT_EQ(plan.files[0].path.str(), PypiPath(kDirA, "example_pkg-1.0-py3-none-any.whl"));
  EXPECT_EQ(plan.files[1].url.str(), "https://pypi.org/simple/example-pkg/example_pkg-1.0.tar.gz");
  EXPECT_EQ(plan.files[1].path.str(),
            "packages/3e/23/e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d/"
            "example_pkg-1.0.tar.gz");
  EXPECT_EQ(plan.files[2].url.str(), "https://pypi.org/files/example_pkg-0.9.tar.gz");
  EXPECT_EQ(plan.files[2].path.str(),
            "packages/2d/71/1642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881/"
            "example_pkg-0.9.tar.gz");
}

TEST_F(PlannerTest, FileListedTwiceIsRejectedTheSecondTime) {
  ProjectPage page = Page();
  page.files.push_back(page.files[0]);
  const ProjectPlan plan = Plan(page);
  EXPECT_EQ(plan.files.size(), 2u);
  ASSERT_EQ(plan.rejected.size(), 1u);
  EXPECT_EQ(plan.rejected[0].filename, "example_pkg-1.0-py3-none-any.whl");
  EXPECT_EQ(plan.rejected[0].error.Message(),
            "example-pkg: example_pkg-1.0-py3-none-any.whl: listed twice on the page");
}

TEST_F(PlannerTest, VerifiesWithTheStrongestOfferedDigest) {
  ProjectPage page = Page();
  page.files[0].hashes.emplace("sha512", std::string(kSha512));
  page.files[0].hashes.emplace("md5", "0cc175b9c0f1b6a831c399e269772661");
  page.files[1].hashes.emplace("sha384", "ab");
  page.files[1].hashes.emplace("sha1", "cd");
  const ProjectPlan plan = Plan(page);
  ASSERT_EQ(plan.files.size(), 2u);
  ASSERT_TRUE(plan.files[0].verify.has_value());
  EXPECT_EQ(plan.files[0].verify->algorithm, "sha512");
  EXPECT_EQ(plan.files[0].verify->hex, kSha512);
  ASSERT_TRUE(plan.files[1].verify.has_value());
  EXPECT_EQ(plan.files[1].verify->algorithm, "sha384");
  EXPECT_EQ(plan.files[1].verify->hex, "ab");
}

TEST_F(PlannerTest, WeakerDigestsThanSha256AreNotVerified) {
  ProjectPage page = Page();
  page.files[0].hashes.emplace("md5", "0cc175b9c0f1b6a831c399e269772661");
  page.files[0].hashes.emplace("sha1", "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8");
  page.files[0].hashes.emplace("blake2b_256", "ff");
  const ProjectPlan plan = Plan(page);
  ASSERT_EQ(plan.files.size(), 2u);
  EXPECT_EQ(plan.files[0].verify.has_value(), false);
  EXPECT_EQ(plan.files[0].sha256, store::Sha256Digest::FromHex(kShaA));
}

TEST_F(PlannerTest, Sha512WithoutSha256KeepsThePypiPathAndComputesSha256) {
  ProjectPage page = Page();
  page.files[0].hashes = {{"sha512", std::string(kSha512)}};
  const ProjectPlan plan = Plan(page);
  ASSERT_EQ(plan.files.size(), 2u);
  EXPECT_EQ(plan.files[0].sha256, std::nullopt);
  EXPECT_EQ(plan.files[0].path.str(), PypiPath(kDirA, "example_pkg-1.0-py3-none-any.whl"));
  ASSERT_TRUE(plan.files[0].verify.has_value());
  EXPECT_EQ(plan.files[0].verify->algorithm, "sha512");
}

TEST_F(PlannerTest, RawSpacesAndNonAsciiInAFileUrlArePercentEncodedAsPipDoes) {
  // Some indexes leave them unencoded (§1.0); a control character is still refused.
  ProjectPage page = Page();
  page.files[1] = File("na\xc3\xafve pkg-1.0.tar.gz", PypiUrl(kDirB, "na\xc3\xafve pkg-1.0.tar.gz"),
                       kShaB);
  page.files.push_back(File("tab-1.0.tar.gz", PypiUrl(kDirB, "tab\t-1.0.tar.gz"), kShaB));
  const ProjectPlan plan = Plan(page);
  ASSERT_EQ(plan.files.size(), 2u);
  EXPECT_EQ(plan.files[1].url.str(), PypiUrl(kDirB, "na%C3%AFve%20pkg-1.0.tar.gz"));
  EXPECT_EQ(plan.files[1].path.str(), PypiPath(kDirB, "na\xc3\xafve pkg-1.0.tar.gz"));
  ASSERT_EQ(plan.rejected.size(), 1u);
  EXPECT_EQ(plan.rejected[0].filename, "tab-1.0.tar.gz");
}

TEST_F(PlannerTest, WithoutSha256TheStrongestDeclaredDigestIsVerifiedEvenAWeakOne) {
  // §2.6: verify against the strongest upstream hash offered; md5 or sha1 is better than none.
  ProjectPage page = Page();
  page.files[0].hashes = {{"md5", "0cc175b9c0f1b6a831c399e269772661"}};
  page.files[1].hashes = {{"md5", "0cc175b9c0f1b6a831c399e269772661"},
                          {"sha1", "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8"}};
  const ProjectPlan plan = Plan(page);
  ASSERT_EQ(plan.files.size(), 2u);
  ASSERT_TRUE(plan.files[0].verify.has_value());
  EXPECT_EQ(plan.files[0].verify->algorithm, "md5");
  ASSERT_TRUE(plan.files[1].verify.has_value());
  EXPECT_EQ(plan.files[1].verify->algorithm, "sha1");
  EXPECT_EQ(plan.files[1].sha256, std::nullopt);
}

TEST_F(PlannerTest, ARecordedFileWithoutADeclaredSha256IsStoredNotFetchedAgain) {
  // The path is the upstream's content address: a recorded file there is the same file.
  ProjectPage page = Page();
  page.files[0].hashes = {{"md5", "0cc175b9c0f1b6a831c399e269772661"}};
  page.files[0].core_metadata = CoreMetadata{true, {}};
  const ProjectPlan plan =
      Plan(page, {Record(PypiPath(kDirA, "example_pkg-1.0-py3-none-any.whl"), kShaB),
                  Record(PypiPath(kDirA, "example_pkg-1.0-py3-none-any.whl.metadata"), kShaMeta)});
  ASSERT_EQ(plan.files.size(), 2u);
  EXPECT_TRUE(plan.files[0].stored);
  ASSERT_TRUE(plan.files[0].metadata.has_value());
  EXPECT_TRUE(plan.files[0].metadata->stored);
  EXPECT_TRUE(plan.remove.empty());
}

TEST_F(PlannerTest, MetadataIsPlannedOnlyWhenCoreMetadataIsTruthy) {
  ProjectPage page = Page();
  page.files[0].core_metadata = CoreMetadata{true, {{"sha256", std::string(kShaMeta)}}};
  page.files[1].core_metadata = CoreMetadata{false, {}};
  page.files.push_back(File("example_pkg-0.9-py3-none-any.whl",
                            PypiUrl(kDirB, "example_pkg-0.9-py3-none-any.whl"), kShaA));
  page.files[2].core_metadata = CoreMetadata{true, {}};
  const ProjectPlan plan = Plan(page);
  ASSERT_EQ(plan.files.size(), 3u);

  ASSERT_TRUE(plan.files[0].metadata.has_value());
  const PlannedMetadata& metadata = *plan.files[0].metadata;
  EXPECT_EQ(metadata.url.str(), PypiUrl(kDirA, "example_pkg-1.0-py3-none-any.whl.metadata"));
  EXPECT_EQ(metadata.path.str(), PypiPath(kDirA, "example_pkg-1.0-py3-none-any.whl.metadata"));
  EXPECT_EQ(metadata.sha256, store::Sha256Digest::FromHex(kShaMeta));
  EXPECT_FALSE(metadata.stored);

  EXPECT_EQ(plan.files[1].metadata.has_value(), false);

  ASSERT_TRUE(plan.files[2].metadata.has_value());
  EXPECT_EQ(plan.files[2].metadata->path.str(),
            PypiPath(kDirB, "example_pkg-0.9-py3-none-any.whl.metadata"));
  EXPECT_EQ(plan.files[2].metadata->sha256, std::nullopt);
}

TEST_F(PlannerTest, StoredMetadataIsStoredAndKept) {
  ProjectPage page = Page();
  page.files[0].core_metadata = CoreMetadata{true, {{"sha256", std::string(kShaMeta)}}};
  const std::string metadata_path = PypiPath(kDirA, "example_pkg-1.0-py3-none-any.whl.metadata");
  const ProjectPlan plan = Plan(page, {Record(metadata_path, kShaMeta)});
  ASSERT_EQ(plan.files.size(), 2u);
  ASSERT_TRUE(plan.files[0].metadata.has_value());
  EXPECT_TRUE(plan.files[0].metadata->stored);
  EXPECT_FALSE(plan.files[0].stored);
  EXPECT_TRUE(plan.remove.empty());
}

TEST_F(PlannerTest, MetadataNoLongerAdvertisedIsRemoved) {
  const std::string metadata_path = PypiPath(kDirA, "example_pkg-1.0-py3-none-any.whl.metadata");
  const ProjectPlan plan = Plan(Page(), {Record(metadata_path, kShaMeta)});
  EXPECT_EQ(plan.remove, (std::vector<std::string>{metadata_path}));
}

TEST_F(PlannerTest, MetadataIsSkippedWhenItsNameWouldExceedNameMax) {
  ProjectPage page;
  const std::string name = std::string(240, 'a') + "-1.whl";    // 246 bytes: .metadata fits
  const std::string longer = std::string(241, 'a') + "-1.whl";  // 247 bytes: it does not
  page.files.push_back(File(name, PypiUrl(kDirA, name), kShaA));
  page.files.push_back(File(longer, PypiUrl(kDirB, longer), kShaB));
  page.files[0].core_metadata = CoreMetadata{true, {}};
  page.files[1].core_metadata = CoreMetadata{true, {}};
  const ProjectPlan plan = Plan(page);
  ASSERT_EQ(plan.files.size(), 2u);
  EXPECT_TRUE(plan.files[0].metadata.has_value());
  EXPECT_FALSE(plan.files[1].metadata.has_value());
}

TEST_F(PlannerTest, YankedFilesAreKeptByDefault) {
  ProjectPage page = Page();
  page.files[0].yanked = Yanked{true, "broken"};
  const ProjectPlan plan = Plan(page);
  ASSERT_EQ(plan.files.size(), 2u);
  EXPECT_EQ(plan.files[0].upstream.yanked, (Yanked{true, "broken"}));
}

TEST_F(PlannerTest, ExcludeYankedDropsYankedFilesAndRemovesTheirCopies) {
  ProjectPage page = Page();
  page.files[0].yanked = Yanked{true, ""};
  const std::string yanked_path = PypiPath(kDirA, "example_pkg-1.0-py3-none-any.whl");
  const ProjectPlan plan =
      Plan(page, {Record(yanked_path, kShaA)}, FileRules{.exclude_yanked = true});
  EXPECT_EQ(Paths(plan), (std::vector<std::string>{PypiPath(kDirB, "example_pkg-1.0.tar.gz")}));
  EXPECT_EQ(plan.remove, (std::vector<std::string>{yanked_path}));
  EXPECT_TRUE(plan.rejected.empty());
}

TEST_F(PlannerTest, VersionsAreDerivedFromFileNamesWhenTheIndexListsNone) {
  // PEP 700: an API 1.0 index has no `versions`; the page cistern writes must still cover every
  // file's version.
  ProjectPage page = Page();
  page.api_version = "1.0";
  page.versions.clear();
  page.files.push_back(File("example_pkg-0.9.zip", PypiUrl(kDirB, "example_pkg-0.9.zip"), kShaA));
  const ProjectPlan plan = Plan(page);
  EXPECT_EQ(plan.versions, (std::vector<std::string>{"0.9", "1.0"}));
}

}  // namespace
}  // namespace cistern::engine
