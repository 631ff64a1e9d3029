#include "store/records.h"

#include <string>

#include <gtest/gtest.h>

#include "store/bytes.h"
#include "tests/store/result_helpers.h"

namespace cistern::store {
namespace {

using testing::IsOk;

FileRecord SampleFile() {
  FileRecord file;
  file.path = "packages/ab/cd/numpy-2.1.0.tar.gz";
  file.project = "numpy";
  file.sha256 = Sha256Of(AsBytes("numpy"));
  file.size = 0x0123456789ULL;
  file.url = "https://files.example/packages/ab/cd/numpy-2.1.0.tar.gz";
  file.state = FileState::kPresent;
  file.generation = Generation{42};
  return file;
}

ProjectRecord SampleProject() {
  return ProjectRecord{"numpy", "NumPy", Serial{-7}, 0xfedcba9876543210ULL, Generation{9},
                       /*files=*/3, /*bytes=*/123'456'789};
}

TEST(RecordsTest, ProjectRecordRoundTrips) {
  const ProjectRecord project = SampleProject();
  const std::string bytes = Encode(project);
  EXPECT_EQ(bytes[0], static_cast<char>(kProjectRecordVersion));
  EXPECT_EQ(bytes.size(), 1 + (4 + 5) + (4 + 5) + 8 + 8 + 8 + 8 + 8);
  auto decoded = DecodeProjectRecord(bytes);
  ASSERT_TRUE(IsOk(decoded));
  EXPECT_EQ(*decoded, project);
}

TEST(RecordsTest, VersionOneProjectRecordIsReadWithoutCounts) {
  // A version 1 record: the same fields up to the generation, no counts.
  std::string bytes = Encode(SampleProject());
  bytes.resize(bytes.size() - 16);
  bytes[0] = 1;
  auto decoded = DecodeProjectRecord(bytes);
  ASSERT_TRUE(IsOk(decoded));
  EXPECT_FALSE(decoded->counted);
  EXPECT_EQ(decoded->files, 0u);
  EXPECT_EQ(decoded->name, "numpy");
  EXPECT_EQ(decoded->generation, Generation{9});

  bytes[0] = 3;
  auto future = DecodeProjectRecord(bytes);
  ASSERT_FALSE(future.has_value());
  EXPECT_EQ(future.error().detail, "project record value: unknown version 3 (this build reads 1 to 2)");
}

TEST(RecordsTest, FileRecordRoundTripsWithLittleEndianSize) {
  const FileRecord file = SampleFile();
  const std::string bytes = Encode(file);
  // version, path, project, then the digest, then size (little-endian).
  const size_t size_offset = 1 + 4 + file.path.size() + 4 + file.project.size() + 32;
  EXPECT_EQ(bytes.substr(size_offset, 8), std::string("\x89\x67\x45\x23\x01\x00\x00\x00", 8));
  auto decoded = DecodeFileRecord(bytes);
  ASSERT_TRUE(IsOk(decoded));
  EXPECT_EQ(*decoded, file);
}

TEST(RecordsTest, JournalValueRoundTripsWithAndWithoutDigest) {
  JournalEntry added{Generation{3}, "a/b.whl", JournalAction::kAdded, 10, Sha256Of(AsBytes("x"))};
  auto decoded = DecodeJournalValue(EncodeJournalValue(added), Generation{3}, "a/b.whl");
  ASSERT_TRUE(IsOk(decoded));
  EXPECT_EQ(*decoded, added);

  JournalEntry removed{Generation{4}, "a/b.whl", JournalAction::kRemoved, 0, std::nullopt};
  const std::string bytes = EncodeJournalValue(removed);
  EXPECT_EQ(bytes.size(), 1 + 1 + 8 + 1);
  auto decoded_removed = DecodeJournalValue(bytes, Generation{4}, "a/b.whl");
  ASSERT_TRUE(IsOk(decoded_removed));
  EXPECT_EQ(*decoded_removed, removed);
}

TEST(RecordsTest, TruncationAtEveryLengthIsCorrupt) {
  const std::string project = Encode(SampleProject());
  for (size_t n = 0; n < project.size(); ++n) {
    auto decoded = DecodeProjectRecord(project.substr(0, n));
    ASSERT_FALSE(decoded.has_value()) << "length " << n;
    EXPECT_EQ(decoded.error().code, Errc::kCorrupt) << "length " << n;
  }
  const std::string file = Encode(SampleFile());
  for (size_t n = 0; n < file.size(); ++n) {
    auto decoded = DecodeFileRecord(file.substr(0, n));
    ASSERT_FALSE(decoded.has_value()) << "length " << n;
    EXPECT_EQ(decoded.error().code, Errc::kCorrupt) << "length " << n;
  }
  const std::string journal = EncodeJournalValue(
      JournalEntry{Generation{1}, "p", JournalAction::kReplaced, 5, Sha256Of(AsBytes("p"))});
  for (size_t n = 0; n < journal.size(); ++n) {
    auto decoded = DecodeJournalValue(journal.substr(0, n), Generation{1}, "p");
    ASSERT_FALSE(decoded.has_value()) << "length " << n;
    EXPECT_EQ(decoded.error().code, Errc::kCorrupt) << "length " << n;
  }
}

TEST(RecordsTest, TruncationMessageNamesTheField) {
  const std::string bytes = Encode(SampleProject());
  auto decoded = DecodeProjectRecord(bytes.substr(0, 3));
  ASSERT_FALSE(decoded.has_value());
  EXPECT_EQ(decoded.error().detail, "project record value: truncated in field name (3 bytes)");
}

TEST(RecordsTest, UnknownVersionIsCorrupt) {
  std::string bytes = Encode(SampleFile());
  bytes[0] = 2;
  auto decoded = DecodeFileRecord(bytes);
  ASSERT_FALSE(decoded.has_value());
  EXPECT_EQ(decoded.error().code, Errc::kCorrupt);
  EXPECT_EQ(decoded.error().detail, "file record value: unknown version 2 (this build reads 1)");
}

TEST(RecordsTest, TrailingBytesAndBadEnumsAreCorrupt) {
  auto trailing = DecodeProjectRecord(Encode(SampleProject()) + "x");
  ASSERT_FALSE(trailing.has_value());
  EXPECT_EQ(trailing.error().detail, "project record value: 1 trailing bytes");

  std::string file = Encode(SampleFile());
  file[file.size() - 9] = 7;  // the state byte precedes the 8-byte generation
  auto bad_state = DecodeFileRecord(file);
  ASSERT_FALSE(bad_state.has_value());
  EXPECT_EQ(bad_state.error().detail, "file record value: unknown file state 7");

  std::string journal =
      EncodeJournalValue(JournalEntry{Generation{1}, "p", JournalAction::kAdded, 5, std::nullopt});
  journal[1] = 9;
  auto bad_action = DecodeJournalValue(journal, Generation{1}, "p");
  ASSERT_FALSE(bad_action.has_value());
  EXPECT_EQ(bad_action.error().detail, "journal entry 1 p value: unknown journal action 9");
}

}  // namespace
}  // namespace cistern::store
