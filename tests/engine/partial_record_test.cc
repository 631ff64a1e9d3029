// The record beside a resumable partial: what is written is read back; anything else is refused,
// so a damaged record means "start from zero", never a wrong resume.
#include "engine/internal/partial_record.h"

#include <gtest/gtest.h>

namespace cistern::engine::internal {
namespace {

PartialRecord Sample() {
  return PartialRecord{"https://files.example/packages/aa/bb/x-1.0.whl", uint64_t{4194304},
                       *store::Sha256Digest::FromHex(std::string(64, 'a')), "\"5f1c-400000\"",
                       "Tue, 01 Oct 2024 10:00:00 GMT"};
}

TEST(PartialRecordTest, RoundTrips) {
  const PartialRecord record = Sample();
  const std::string text = EncodePartialRecord(record);
  EXPECT_TRUE(text.starts_with("cistern-partial 1\nurl https://files.example/")) << text;
  auto decoded = DecodePartialRecord(text);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, record);
  EXPECT_EQ(decoded->validator(), "\"5f1c-400000\"");
}

TEST(PartialRecordTest, OptionalFieldsMayBeAbsent) {
  PartialRecord record = Sample();
  record.size.reset();
  record.etag.clear();
  auto decoded = DecodePartialRecord(EncodePartialRecord(record));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, record);
  EXPECT_EQ(decoded->validator(), "Tue, 01 Oct 2024 10:00:00 GMT");
  record.last_modified.clear();
  decoded = DecodePartialRecord(EncodePartialRecord(record));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_TRUE(decoded->validator().empty());
}

TEST(PartialRecordTest, UnknownNamesAreIgnored) {
  const std::string text = EncodePartialRecord(Sample()) + "future-field something\n";
  auto decoded = DecodePartialRecord(text);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(*decoded, Sample());
}

TEST(PartialRecordTest, RefusesWhatItCouldNotHaveWritten) {
  const std::string good = EncodePartialRecord(Sample());
  const std::string sha = "sha256 " + std::string(64, 'a') + "\n";
  for (const std::string& text : {
           std::string(),
           std::string("cistern-partial 2\n") + good.substr(good.find('\n') + 1),  // version
           good.substr(0, good.size() - 1),                                         // truncated
           std::string("cistern-partial 1\n") + sha,                                // no url
           std::string("cistern-partial 1\nurl https://x/\n"),                      // no sha256
           std::string("cistern-partial 1\nurl https://x/\nsha256 zz\n"),
           std::string("cistern-partial 1\nurl https://x/\n") + sha + "size 12x\n",
           std::string("cistern-partial 1\nurl https://x/\n") + sha + "sizeless\n",
       }) {
    EXPECT_FALSE(DecodePartialRecord(text).has_value()) << text;
  }
}

}  // namespace
}  // namespace cistern::engine::internal
