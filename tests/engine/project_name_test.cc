#include "engine/pypi/project_name.h"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "tests/engine/test_util.h"

namespace cistern::engine {
namespace {

using testing::IsError;
using testing::IsOk;

using namespace std::string_literals;

TEST(ProjectNameTest, NormalizesTheSpecExamplesToOneName) {
  // pypi-mirror-protocol.md §3.1, the table from the spec "Names and normalization".
  for (std::string_view raw :
       {"Friendly-Bard", "friendly.bard", "FRIENDLY__bard", "FrIeNdLy-._.-bArD", "friendly-bard"}) {
    SCOPED_TRACE(raw);
    auto name = ProjectName::Parse(raw);
    ASSERT_TRUE(IsOk(name));
    EXPECT_EQ(name->str(), "friendly-bard");
  }
}

TEST(ProjectNameTest, NormalizeCollapsesEachSeparatorRunAndLowercases) {
  EXPECT_EQ(NormalizeProjectName("Zope.Interface"), "zope-interface");
  EXPECT_EQ(NormalizeProjectName("a-_-b.c"), "a-b-c");
  EXPECT_EQ(NormalizeProjectName("0-._.-._.-0"), "0-0");
  EXPECT_EQ(NormalizeProjectName("ABC123"), "abc123");
}

TEST(ProjectNameTest, NormalizeDoesNotValidate) {
  // packaging's canonicalize_name turns "_x" into "-x"; validation is Parse's job.
  EXPECT_EQ(NormalizeProjectName("_x"), "-x");
}

TEST(ProjectNameTest, AcceptsSingleCharacterAndDigitNames) {
  auto zero = ProjectName::Parse("0");
  ASSERT_TRUE(IsOk(zero));
  EXPECT_EQ(zero->str(), "0");
  auto upper = ProjectName::Parse("Z");
  ASSERT_TRUE(IsOk(upper));
  EXPECT_EQ(upper->str(), "z");
}

TEST(ProjectNameTest, NamesThatNormalizeAlikeCompareEqual) {
  auto a = ProjectName::Parse("Foo_Bar");
  auto b = ProjectName::Parse("foo.bar");
  auto c = ProjectName::Parse("FOO-BAR");
  ASSERT_TRUE(IsOk(a));
  ASSERT_TRUE(IsOk(b));
  ASSERT_TRUE(IsOk(c));
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(*b, *c);
}

TEST(ProjectNameTest, RejectsInvalidNamesAndQuotesThemEscaped) {
  // Each input and how it appears in the error message (non-printable bytes as \xNN).
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"_x", "_x"},
      {"x_", "x_"},
      {"-", "-"},
      {"", ""},
      {"caf\xc3\xa9", "caf\\xc3\\xa9"},
      {"a/b", "a/b"},
      {"..", ".."},
      {"a\0b"s, "a\\x00b"},
      {"a b", "a b"},
      {".x", ".x"},
      {"x.", "x."},
      {"a\"b", "a\\x22b"},
  };
  for (const auto& [raw, shown] : cases) {
    SCOPED_TRACE(EscapeForMessage(raw));
    EXPECT_FALSE(IsValidProjectName(raw));
    auto name = ProjectName::Parse(raw);
    ASSERT_TRUE(IsError(name, Errc::kInvalidName));
    EXPECT_EQ(name.error().detail,
              "invalid project name \"" + shown +
                  "\" (PEP 508 allows ASCII letters, digits and inner '-', '_', '.')");
  }
}

TEST(ProjectNameTest, EscapeForMessageEscapesControlsQuotesBackslashAndHighBytes) {
  EXPECT_EQ(EscapeForMessage("plain-1.0.tar.gz"), "plain-1.0.tar.gz");
  EXPECT_EQ(EscapeForMessage("a\x01\x7f\xff\\\"z"), "a\\x01\\x7f\\xff\\x5c\\x22z");
  EXPECT_EQ(EscapeForMessage("\0"s), "\\x00");
}

}  // namespace
}  // namespace cistern::engine
