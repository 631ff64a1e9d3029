#include "store/relative_path.h"

#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <gtest/gtest.h>

#include "tests/store/result_helpers.h"

namespace cistern::store {
namespace {

using testing::IsOk;

struct HostileCase {
  std::string input;
  std::string expected_detail;  // the whole message: it quotes the input and gives the reason
};

TEST(RelativePathTest, AcceptsOrdinaryMirrorPaths) {
  for (const std::string_view text :
       {"simple/index.html", "packages/ab/cd/ef0123/numpy-2.1.0.tar.gz", "a", "a/b/c",
        "packages/x/caf\xc3\xa9-1.0.whl", "emoji/\xf0\x9f\x90\x8d.txt", "a..b/c.", "a./b"}) {
    auto path = RelativePath::Parse(text);
    ASSERT_TRUE(IsOk(path)) << text;
    EXPECT_EQ(path->str(), text);
  }
}

TEST(RelativePathTest, RejectsHostileInputsNamingInputAndReason) {
  const std::string long_segment(256, 'x');
  const std::vector<HostileCase> cases = {
      {"", "invalid relative path \"\": empty path"},
      {"../x", "invalid relative path \"../x\": segment \"..\" is not allowed"},
      {"/abs", "invalid relative path \"/abs\": absolute path"},
      {"a\\b", "invalid relative path \"a\\x5cb\": backslash at byte 1"},
      {std::string("a\0b", 3),
       "invalid relative path \"a\\x00b\": control character \\x00 at byte 1"},
      {"a//b", "invalid relative path \"a//b\": empty segment"},
      {"a/", "invalid relative path \"a/\": empty segment"},
      {".hidden",
       "invalid relative path \".hidden\": segment \".hidden\" starts with '.' "
       "(reserved for the tree's own files)"},
      {"a/.tmp-123",
       "invalid relative path \"a/.tmp-123\": segment \".tmp-123\" starts with '.' "
       "(reserved for the tree's own files)"},
      {"a/./b", "invalid relative path \"a/./b\": segment \".\" is not allowed"},
      {"a/..", "invalid relative path \"a/..\": segment \"..\" is not allowed"},
      {"a/" + long_segment,
       "invalid relative path \"a/" + long_segment + "\": segment of 256 bytes exceeds 255"},
      {"a/\xff", "invalid relative path \"a/\\xff\": invalid UTF-8 at byte 2"},
      {"\xc0\xaf",
       "invalid relative path \"\\xc0\\xaf\": invalid UTF-8 at byte 0"},  // overlong '/'
      {"\xed\xa0\x80", "invalid relative path \"\\xed\\xa0\\x80\": invalid UTF-8 at byte 0"},
      {"x\xe2\x82", "invalid relative path \"x\\xe2\\x82\": invalid UTF-8 at byte 1"},
      {"a\x7f", "invalid relative path \"a\\x7f\": control character \\x7f at byte 1"},
      {"a\nb", "invalid relative path \"a\\x0ab\": control character \\x0a at byte 1"},
  };
  for (const HostileCase& c : cases) {
    auto path = RelativePath::Parse(c.input);
    ASSERT_FALSE(path.has_value()) << "accepted: " << EscapeForMessage(c.input);
    EXPECT_EQ(path.error().code, Errc::kInvalidPath);
    EXPECT_EQ(path.error().detail, c.expected_detail);
  }
}

TEST(RelativePathTest, AcceptsSegmentOfExactly255Bytes) {
  const std::string segment(255, 'y');
  auto path = RelativePath::Parse("a/" + segment);
  ASSERT_TRUE(IsOk(path));
  EXPECT_EQ(path->filename(), segment);
}

TEST(RelativePathTest, RejectsPathLongerThan4096Bytes) {
  std::string text;
  while (text.size() < 4096) {
    text += "abcdefg/";  // 8 bytes per segment
  }
  text.pop_back();  // 4095 bytes, valid
  ASSERT_TRUE(IsOk(RelativePath::Parse(text)));
  text += "xx";  // 4097 bytes
  auto path = RelativePath::Parse(text);
  ASSERT_FALSE(path.has_value());
  EXPECT_EQ(path.error().code, Errc::kInvalidPath);
  EXPECT_EQ(path.error().detail, "invalid relative path \"" + text.substr(0, 64) +
                                     "\": (truncated) path of 4097 bytes exceeds 4096");
}

TEST(RelativePathTest, FilenameAndParentSplitAtLastSlash) {
  auto path = RelativePath::Parse("packages/ab/x-1.0.tar.gz");
  ASSERT_TRUE(IsOk(path));
  EXPECT_EQ(path->filename(), "x-1.0.tar.gz");
  std::optional<RelativePath> parent = path->parent();
  ASSERT_TRUE(parent.has_value());
  EXPECT_EQ(parent->str(), "packages/ab");
  EXPECT_EQ(parent->parent()->str(), "packages");
  EXPECT_FALSE(parent->parent()->parent().has_value());
  EXPECT_EQ(path->segments(), (std::vector<std::string_view>{"packages", "ab", "x-1.0.tar.gz"}));
}

TEST(RelativePathTest, ChildAppendsOneValidatedSegment) {
  auto base = RelativePath::Parse("simple/numpy");
  ASSERT_TRUE(IsOk(base));
  auto child = base->Child("index.html");
  ASSERT_TRUE(IsOk(child));
  EXPECT_EQ(child->str(), "simple/numpy/index.html");

  auto slash = base->Child("a/b");
  ASSERT_FALSE(slash.has_value());
  EXPECT_EQ(slash.error().code, Errc::kInvalidPath);
  EXPECT_EQ(slash.error().detail, "invalid relative path \"a/b\": segment contains '/'");

  auto dotdot = base->Child("..");
  ASSERT_FALSE(dotdot.has_value());
  EXPECT_EQ(dotdot.error().detail,
            "invalid relative path \"simple/numpy/..\": segment \"..\" is not allowed");
  EXPECT_FALSE(base->Child("").has_value());
}

TEST(RelativePathTest, ComparesAndHashesByString) {
  auto a = RelativePath::Parse("a/b");
  auto a2 = RelativePath::Parse("a/b");
  auto b = RelativePath::Parse("a/c");
  ASSERT_TRUE(a && a2 && b);
  EXPECT_EQ(*a, *a2);
  EXPECT_NE(*a, *b);
  EXPECT_LT(*a, *b);
  std::unordered_set<RelativePath> set = {*a, *a2, *b};
  EXPECT_EQ(set.size(), 2u);
  EXPECT_EQ(std::hash<RelativePath>{}(*a), std::hash<RelativePath>{}(*a2));
}

}  // namespace
}  // namespace cistern::store
