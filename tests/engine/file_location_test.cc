#include "engine/pypi/file_location.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "tests/engine/test_util.h"

namespace cistern::engine {
namespace {

using testing::IsError;
using testing::IsOk;

using namespace std::string_literals;

constexpr std::string_view kSha256Hex =
    "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881";
constexpr std::string_view kBlakeDirs =
    "ab/cd/a47579c528bf5086b85268a26a10b3a6c9ebed4c0e469be3d8420ab2d906";

store::Sha256Digest Digest() { return *store::Sha256Digest::FromHex(kSha256Hex); }

net::Url ParseUrl(std::string_view text) {
  auto url = net::Url::Parse(text);
  EXPECT_TRUE(url.has_value()) << text;
  return url ? *url : net::Url();
}

store::RelativePath Path(std::string_view text) {
  auto path = store::RelativePath::Parse(text);
  EXPECT_TRUE(path.has_value()) << text;
  return std::move(*path);
}

struct HostileName {
  std::string name;
  std::string shown;   // as the message quotes it
  std::string reason;  // the message's reason
};

std::vector<HostileName> HostileNames() {
  return {
      {"../x", "../x", "contains a path separator"},
      {"/abs", "/abs", "contains a path separator"},
      {"a/b.whl", "a/b.whl", "contains a path separator"},
      {"a\\b", "a\\x5cb", "contains a path separator"},
      {"a\0b"s, "a\\x00b", "contains a control character"},
      {"a\x01"
       "b",
       "a\\x01b", "contains a control character"},
      {"a\x7f"
       "b",
       "a\\x7fb", "contains a control character"},
      {"a\nb", "a\\x0ab", "contains a control character"},
      {"", "", "empty"},
      {".", ".", "a relative directory name"},
      {"..", "..", "a relative directory name"},
      {".hidden", ".hidden", "starts with '.'"},
      {std::string(256, 'a'), std::string(256, 'a'), "longer than 255 bytes"},
      {"x\xff.whl", "x\\xff.whl", "not valid UTF-8"},
      {"x\xc0\xaf.whl", "x\\xc0\\xaf.whl", "not valid UTF-8"},
      {"x\xed\xa0\x80.whl", "x\\xed\\xa0\\x80.whl", "not valid UTF-8"},
      {"x\xf4\x90\x80\x80.whl", "x\\xf4\\x90\\x80\\x80.whl", "not valid UTF-8"},
      {"x\xc3", "x\\xc3", "not valid UTF-8"},
      {"x\xe2\x82.whl", "x\\xe2\\x82.whl", "not valid UTF-8"},
      {"x\xf8\x88\x80\x80\x80", "x\\xf8\\x88\\x80\\x80\\x80", "not valid UTF-8"},
      {"x\x80", "x\\x80", "not valid UTF-8"},
  };
}

TEST(FileLocationTest, ValidateFilenameRejectsHostileNamesAndNamesThem) {
  for (const HostileName& hostile : HostileNames()) {
    SCOPED_TRACE(hostile.shown);
    auto valid = ValidateFilename(hostile.name);
    ASSERT_TRUE(IsError(valid, Errc::kInvalidFile));
    EXPECT_EQ(valid.error().detail,
              "rejected file name \"" + hostile.shown + "\": " + hostile.reason);
    EXPECT_EQ(valid.error().file, hostile.shown);
  }
}

TEST(FileLocationTest, MirrorPathForRejectsHostileNamesEvenWithADigest) {
  const net::Url url = ParseUrl("https://example.org/files/x-1.0.tar.gz");
  for (const HostileName& hostile : HostileNames()) {
    SCOPED_TRACE(hostile.shown);
    auto path = MirrorPathFor(url, hostile.name, Digest());
    ASSERT_TRUE(IsError(path, Errc::kInvalidFile));
    EXPECT_EQ(path.error().detail,
              "rejected file name \"" + hostile.shown + "\": " + hostile.reason);
  }
}

TEST(FileLocationTest, ValidateFilenameAcceptsOrdinaryAndNonAsciiNames) {
  for (const std::string& name : std::vector<std::string>{
           "numpy-2.1.0-cp312-cp312-manylinux_2_17_x86_64.whl", "x-1.0.tar.gz",
           "na\xc3\xafve-1.0.tar.gz", "torch-2.0.0+cpu-cp311-none-any.whl", "x-1.0!a b%c#d?e.zip",
           "\xf0\x9f\x90\x8d-1.0.tar.gz", "x.", "\xf4\x8f\xbf\xbf.whl", std::string(255, 'a')}) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(IsOk(ValidateFilename(name)));
  }
}

TEST(FileLocationTest, KeepsThePypiLayoutPath) {
  const net::Url url = ParseUrl("https://files.pythonhosted.org/packages/" +
                                std::string(kBlakeDirs) + "/x-1.0-py3-none-any.whl");
  for (const std::optional<store::Sha256Digest>& sha256 :
       {std::optional<store::Sha256Digest>(), std::optional(Digest())}) {
    auto path = MirrorPathFor(url, "x-1.0-py3-none-any.whl", sha256);
    ASSERT_TRUE(IsOk(path));
    EXPECT_EQ(path->str(), "packages/" + std::string(kBlakeDirs) + "/x-1.0-py3-none-any.whl");
  }
}

TEST(FileLocationTest, PypiLayoutWorksOnAnyHostAndWithAQuery) {
  const net::Url url = ParseUrl("http://127.0.0.1:8080/packages/" + std::string(kBlakeDirs) +
                                "/x-1.0.tar.gz?download=1#frag");
  auto path = MirrorPathFor(url, "x-1.0.tar.gz", std::nullopt);
  ASSERT_TRUE(IsOk(path));
  EXPECT_EQ(path->str(), "packages/" + std::string(kBlakeDirs) + "/x-1.0.tar.gz");
}

TEST(FileLocationTest, RejectsAUrlWhoseLastSegmentNamesAnotherFile) {
  const std::string url_text =
      "https://files.pythonhosted.org/packages/" + std::string(kBlakeDirs) + "/evil-1.0.tar.gz";
  auto path = MirrorPathFor(ParseUrl(url_text), "x-1.0.tar.gz", Digest());
  ASSERT_TRUE(IsError(path, Errc::kInvalidFile));
  EXPECT_EQ(path.error().detail,
            "rejected file name \"x-1.0.tar.gz\": its URL " + url_text + " names another file");
  EXPECT_EQ(path.error().file, "x-1.0.tar.gz");
}

TEST(FileLocationTest, RejectsAUrlWhoseLastSegmentDecodesToAnotherName) {
  // Each decodes to something other than the listed name: a slash, a NUL, a trailing space.
  for (std::string_view segment : {"x%2F1.0.tar.gz", "x-1.0.tar.gz%00", "x-1.0.tar.g%7A%20"}) {
    SCOPED_TRACE(segment);
    auto path = MirrorPathFor(ParseUrl("https://example.org/dl/" + std::string(segment)),
                              "x-1.0.tar.gz", Digest());
    EXPECT_TRUE(IsError(path, Errc::kInvalidFile));
  }
}

TEST(FileLocationTest, DecodesPercentEncodedPlusInTheUrl) {
  const std::string name = "torch-2.0.0+cpu-cp311-none-any.whl";
  for (std::string_view segment :
       {"torch-2.0.0%2Bcpu-cp311-none-any.whl", "torch-2.0.0%2bcpu-cp311-none-any.whl",
        "torch-2.0.0+cpu-cp311-none-any.whl"}) {
    SCOPED_TRACE(segment);
    auto path = MirrorPathFor(ParseUrl("https://download.example.org/packages/" +
                                       std::string(kBlakeDirs) + "/" + std::string(segment)),
                              name, std::nullopt);
    ASSERT_TRUE(IsOk(path));
    EXPECT_EQ(path->str(), "packages/" + std::string(kBlakeDirs) + "/" + name);
  }
}

TEST(FileLocationTest, AcceptsPercentEncodedNonAsciiName) {
  const std::string name = "na\xc3\xafve-1.0.tar.gz";
  auto path =
      MirrorPathFor(ParseUrl("https://example.org/files/na%C3%AFve-1.0.tar.gz"), name, Digest());
  ASSERT_TRUE(IsOk(path));
  EXPECT_EQ(path->str(),
            "packages/2d/71/1642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881/" + name);
}

TEST(FileLocationTest, DerivesTheLayoutFromSha256ForOtherUrls) {
  for (std::string_view url :
       {"https://example.org/simple/x/x-1.0.tar.gz",
        // Upper-case hex, a short hash directory, or an extra segment is not PyPI's layout.
        "https://example.org/packages/AB/CD/"
        "A47579C528BF5086B85268A26A10B3A6C9EBED4C0E469BE3D8420AB2D906/x-1.0.tar.gz",
        "https://example.org/packages/ab/cd/a47579/x-1.0.tar.gz",
        "https://example.org/packages/ab/cd/"
        "a47579c528bf5086b85268a26a10b3a6c9ebed4c0e469be3d8420ab2d906/y/x-1.0.tar.gz",
        "https://example.org/packages/ab/cd/"
        "g47579c528bf5086b85268a26a10b3a6c9ebed4c0e469be3d8420ab2d906/x-1.0.tar.gz",
        "https://example.org/mirror/packages/ab/cd/"
        "a47579c528bf5086b85268a26a10b3a6c9ebed4c0e469be3d8420ab2d906/x-1.0.tar.gz"}) {
    SCOPED_TRACE(url);
    auto path = MirrorPathFor(ParseUrl(url), "x-1.0.tar.gz", Digest());
    ASSERT_TRUE(IsOk(path));
    EXPECT_EQ(path->str(),
              "packages/2d/71/1642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881/"
              "x-1.0.tar.gz");
  }
}

TEST(FileLocationTest, ALocalMirrorKeepsPypiLayoutBelowItsWebRootAndOnlyThere) {
  const std::string layout =
      "packages/ab/cd/a47579c528bf5086b85268a26a10b3a6c9ebed4c0e469be3d8420ab2d906/x-1.0.tar.gz";
  auto local = net::Url::Parse("file:///media/usb/pypi/web/" + layout, net::Schemes::kHttpOrFile);
  ASSERT_TRUE(local.has_value());
  auto path = MirrorPathFor(*local, "x-1.0.tar.gz", std::nullopt);
  ASSERT_TRUE(IsOk(path));
  EXPECT_EQ(path->str(), layout);
  // Over http(s) the layout must start the path, as on PyPI.
  auto path_prefixed = MirrorPathFor(ParseUrl("https://example.org/mirror/" + layout),
                                     "x-1.0.tar.gz", Digest());
  ASSERT_TRUE(IsOk(path_prefixed));
  EXPECT_NE(path_prefixed->str(), layout);
  // A local path whose tail is not the layout gets the derived path.
  auto other = net::Url::Parse("file:///srv/files/x-1.0.tar.gz", net::Schemes::kHttpOrFile);
  ASSERT_TRUE(other.has_value());
  auto derived = MirrorPathFor(*other, "x-1.0.tar.gz", Digest());
  ASSERT_TRUE(IsOk(derived));
  EXPECT_EQ(derived->str(),
            "packages/2d/71/1642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881/"
            "x-1.0.tar.gz");
}

TEST(FileLocationTest, WithoutSha256AnotherLayoutGetsAStablePathFromTheUrl) {
  const std::string url = "https://example.org/simple/x/x-1.0.tar.gz";
  auto path = MirrorPathFor(ParseUrl(url), "x-1.0.tar.gz", std::nullopt);
  ASSERT_TRUE(IsOk(path));
  const std::string hex = store::Sha256Of(std::span<const uint8_t>(
                                              reinterpret_cast<const uint8_t*>(url.data()),
                                              url.size()))
                              .Hex();
  EXPECT_EQ(path->str(), "packages/" + hex.substr(0, 2) + "/" + hex.substr(2, 2) + "/" +
                             hex.substr(4) + "/x-1.0.tar.gz");
  // The same URL (a fragment is no part of it) gives the same path; another URL another one.
  auto again = MirrorPathFor(ParseUrl(url + "#md5=00"), "x-1.0.tar.gz", std::nullopt);
  ASSERT_TRUE(IsOk(again));
  EXPECT_EQ(again->str(), path->str());
  auto other = MirrorPathFor(ParseUrl("https://example.org/simple/y/x-1.0.tar.gz"),
                             "x-1.0.tar.gz", std::nullopt);
  ASSERT_TRUE(IsOk(other));
  EXPECT_NE(other->str(), path->str());
  // A hostile name is still refused.
  auto hostile = MirrorPathFor(ParseUrl("https://example.org/simple/x/..%2Fx.tar.gz"),
                               "../x.tar.gz", std::nullopt);
  ASSERT_TRUE(IsError(hostile, Errc::kInvalidFile));
}

TEST(FileLocationTest, DotSegmentsInTheUrlCannotEscapeTheTree) {
  // Url normalisation removes dot segments before the layout check; the path is then derived.
  auto path =
      MirrorPathFor(ParseUrl("https://example.org/packages/ab/cd/../../../../etc/x-1.0.tar.gz"),
                    "x-1.0.tar.gz", Digest());
  ASSERT_TRUE(IsOk(path));
  EXPECT_EQ(path->str(),
            "packages/2d/71/1642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881/"
            "x-1.0.tar.gz");
}

TEST(FileLocationTest, MetadataPathIsBesideTheFile) {
  auto metadata =
      MetadataPathFor(Path("packages/" + std::string(kBlakeDirs) + "/x-1.0-py3-none-any.whl"));
  ASSERT_TRUE(IsOk(metadata));
  EXPECT_EQ(metadata->str(),
            "packages/" + std::string(kBlakeDirs) + "/x-1.0-py3-none-any.whl.metadata");
}

TEST(FileLocationTest, MetadataPathFitsNameMaxExactly) {
  const std::string name(246, 'a');  // 246 + ".metadata" = 255 bytes
  auto metadata = MetadataPathFor(Path("packages/ab/cd/" + name));
  ASSERT_TRUE(IsOk(metadata));
  EXPECT_EQ(metadata->filename(), name + ".metadata");
}

TEST(FileLocationTest, MetadataPathBeyondNameMaxIsRejected) {
  const std::string name(247, 'a');
  auto metadata = MetadataPathFor(Path("packages/ab/cd/" + name));
  ASSERT_TRUE(IsError(metadata, Errc::kInvalidFile));
  EXPECT_EQ(metadata.error().detail,
            "rejected file name \"" + name + "\": too long to add \".metadata\" within 255 bytes");
}

TEST(FileLocationTest, PageRelativeUrlEncodesReservedAndNonAsciiBytes) {
  const store::RelativePath path =
      Path("packages/" + std::string(kBlakeDirs) + "/a+b c%d#e?f\xc3\xa9!~_.-Z9.whl");
  EXPECT_EQ(PageRelativeUrl(path), "../../packages/" + std::string(kBlakeDirs) +
                                       "/a%2Bb%20c%25d%23e%3Ff%C3%A9%21~_.-Z9.whl");
}

TEST(FileLocationTest, PageRelativeUrlKeepsAPlainPath) {
  EXPECT_EQ(PageRelativeUrl(Path("packages/" + std::string(kBlakeDirs) + "/x-1.0.tar.gz")),
            "../../packages/" + std::string(kBlakeDirs) + "/x-1.0.tar.gz");
}

TEST(FileLocationTest, PageRelativeUrlResolvesBackToTheFile) {
  // From /simple/<name>/ the two `..` reach the web root (pypi-mirror-protocol.md §2.5).
  const std::string name = "torch-2.0.0+cpu-cp311-none-any.whl";
  const store::RelativePath path = Path("packages/" + std::string(kBlakeDirs) + "/" + name);
  auto resolved = ParseUrl("https://mirror.example/simple/torch/").Resolve(PageRelativeUrl(path));
  ASSERT_TRUE(resolved.has_value());
  EXPECT_EQ(resolved->str(), "https://mirror.example/packages/" + std::string(kBlakeDirs) +
                                 "/torch-2.0.0%2Bcpu-cp311-none-any.whl");
  auto again = MirrorPathFor(*resolved, name, std::nullopt);
  ASSERT_TRUE(IsOk(again));
  EXPECT_EQ(*again, path);
}

}  // namespace
}  // namespace cistern::engine
