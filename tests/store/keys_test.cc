#include "store/keys.h"

#include <string>

#include <gtest/gtest.h>

#include "tests/store/result_helpers.h"

namespace cistern::store {
namespace {

using testing::IsOk;

TEST(KeysTest, JournalKeysOrderNumericallyByGeneration) {
  // As decimal text "10" < "2"; as big-endian bytes 2 < 10.
  EXPECT_LT(keys::JournalKey(Generation{2}, "z"), keys::JournalKey(Generation{10}, "a"));
  EXPECT_LT(keys::JournalKey(Generation{255}, "z"), keys::JournalKey(Generation{256}, "a"));
  EXPECT_LT(keys::JournalKey(Generation{10}, "a"), keys::JournalKey(Generation{10}, "b"));
  EXPECT_LT(keys::JournalSeekKey(Generation{10}), keys::JournalKey(Generation{10}, "a"));
  EXPECT_LT(keys::JournalKey(Generation{9}, "zzz"), keys::JournalSeekKey(Generation{10}));
}

TEST(KeysTest, JournalKeyIsBigEndianGenerationThenPath) {
  const std::string key = keys::JournalKey(Generation{0x0102030405060708ULL}, "p/q");
  EXPECT_EQ(key, std::string("\x01\x02\x03\x04\x05\x06\x07\x08p/q", 11));
  auto parts = keys::ParseJournalKey(key);
  ASSERT_TRUE(IsOk(parts));
  EXPECT_EQ(parts->generation, Generation{0x0102030405060708ULL});
  EXPECT_EQ(parts->path, "p/q");
}

TEST(KeysTest, ParseJournalKeyRejectsShortKey) {
  auto parts = keys::ParseJournalKey(std::string("\x00\x01", 2));
  ASSERT_FALSE(parts.has_value());
  EXPECT_EQ(parts.error().code, Errc::kCorrupt);
  EXPECT_EQ(parts.error().detail, "journal key of 2 bytes is shorter than a generation");
}

TEST(KeysTest, ProjectFilePrefixDoesNotMatchLongerProjectName) {
  const std::string prefix = keys::ProjectFilePrefix("foo");
  EXPECT_EQ(prefix, std::string("foo\0", 4));
  EXPECT_EQ(keys::PathFromProjectFileKey(keys::ProjectFileKey("foo", "a/b"), prefix), "a/b");
  EXPECT_EQ(keys::PathFromProjectFileKey(keys::ProjectFileKey("foo-bar", "a/b"), prefix),
            std::nullopt);
  // '\0' sorts before every other byte, so all of foo's keys precede foo-bar's and foo.bar's.
  EXPECT_LT(keys::ProjectFileKey("foo", "zzz"), keys::ProjectFileKey("foo-bar", "a"));
}

}  // namespace
}  // namespace cistern::store
