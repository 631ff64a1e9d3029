#include "store/digest.h"

#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "store/bytes.h"

namespace cistern::store {
namespace {

constexpr std::string_view kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr std::string_view kAbcSha256 =
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

TEST(Sha256DigestTest, MatchesKnownVectors) {
  EXPECT_EQ(Sha256Of(AsBytes("")).Hex(), kEmptySha256);
  EXPECT_EQ(Sha256Of(AsBytes("abc")).Hex(), kAbcSha256);
}

TEST(Sha256DigestTest, HexRoundTripsAndParsesUpperCase) {
  std::optional<Sha256Digest> digest = Sha256Digest::FromHex(kAbcSha256);
  ASSERT_TRUE(digest.has_value());
  EXPECT_EQ(digest->Hex(), kAbcSha256);
  EXPECT_EQ(digest->bytes()[0], 0xba);
  EXPECT_EQ(digest->bytes()[31], 0xad);
  EXPECT_EQ(*digest, Sha256Of(AsBytes("abc")));

  std::string upper(kAbcSha256);
  for (char& c : upper) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  std::optional<Sha256Digest> from_upper = Sha256Digest::FromHex(upper);
  ASSERT_TRUE(from_upper.has_value());
  EXPECT_EQ(from_upper->Hex(), kAbcSha256);
}

TEST(Sha256DigestTest, FromHexRejectsWrongLengthAndNonHex) {
  const std::string valid(kAbcSha256);
  EXPECT_FALSE(Sha256Digest::FromHex("").has_value());
  EXPECT_FALSE(Sha256Digest::FromHex(valid.substr(0, 63)).has_value());
  EXPECT_FALSE(Sha256Digest::FromHex(valid + "0").has_value());
  EXPECT_FALSE(Sha256Digest::FromHex(" " + valid.substr(1)).has_value());
  EXPECT_FALSE(Sha256Digest::FromHex("g" + valid.substr(1)).has_value());
  EXPECT_FALSE(Sha256Digest::FromHex(valid.substr(0, 62) + "0x").has_value());
}

TEST(Sha256DigestTest, OrdersByBytes) {
  auto low = Sha256Digest::FromHex(std::string(63, '0') + "1");
  auto high = Sha256Digest::FromHex("1" + std::string(63, '0'));
  ASSERT_TRUE(low && high);
  EXPECT_LT(*low, *high);
  EXPECT_NE(*low, *high);
  EXPECT_EQ(Sha256Digest().Hex(), std::string(64, '0'));
}

TEST(Sha256HasherTest, ChunkedUpdatesEqualWholeAtEverySplit) {
  std::string data;
  for (int i = 0; i < 300; ++i) {
    data.push_back(static_cast<char>(i * 7));
  }
  const Sha256Digest whole = Sha256Of(AsBytes(data));
  for (size_t split = 0; split <= data.size(); ++split) {
    Sha256Hasher hasher;
    hasher.Update(AsBytes(std::string_view(data).substr(0, split)));
    hasher.Update(AsBytes(std::string_view(data).substr(split)));
    ASSERT_EQ(hasher.Finish(), whole) << "split at " << split;
  }
  Sha256Hasher bytewise;
  for (const char c : data) {
    bytewise.Update(AsBytes(std::string_view(&c, 1)));
  }
  EXPECT_EQ(bytewise.Finish(), whole);
}

TEST(Sha256HasherTest, FinishResetsForReuseAndSurvivesMove) {
  Sha256Hasher hasher;
  hasher.Update(AsBytes("abc"));
  EXPECT_EQ(hasher.Finish().Hex(), kAbcSha256);
  EXPECT_EQ(hasher.Finish().Hex(), kEmptySha256);
  hasher.Update(AsBytes("ab"));
  Sha256Hasher moved = std::move(hasher);
  moved.Update(AsBytes("c"));
  EXPECT_EQ(moved.Finish().Hex(), kAbcSha256);
}

TEST(Xxh3Test, MatchesKnownValueAndStreamingEqualsWhole) {
  // XXH3_64bits("") with seed 0, from xxHash's test vectors.
  EXPECT_EQ(Xxh3Of(AsBytes("")), 0x2D06800538D394C2ULL);
  const std::string data = "the quick brown fox jumps over the lazy dog, repeatedly and at length";
  const uint64_t whole = Xxh3Of(AsBytes(data));
  EXPECT_NE(whole, Xxh3Of(AsBytes(data + ".")));
  for (size_t split = 0; split <= data.size(); ++split) {
    Xxh3Hasher hasher;
    hasher.Update(AsBytes(std::string_view(data).substr(0, split)));
    hasher.Update(AsBytes(std::string_view(data).substr(split)));
    ASSERT_EQ(hasher.Finish(), whole) << "split at " << split;
  }
}

}  // namespace
}  // namespace cistern::store
