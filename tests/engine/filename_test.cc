#include "engine/pypi/filename.h"

#include <gtest/gtest.h>

namespace cistern::engine {
namespace {

TEST(FilenameTest, WheelVersionIsTheSecondField) {
  EXPECT_EQ(VersionFromFilename("foo_bar-1.0.post1-py3-none-any.whl"), "1.0.post1");
  EXPECT_EQ(VersionFromFilename("plat_wheels-1.0-1-py3-none-any.whl"), "1.0");
  EXPECT_EQ(VersionFromFilename(
                "many_files-1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"),
            "1.0");
}

TEST(FilenameTest, SdistVersionFollowsTheLastDash) {
  EXPECT_EQ(VersionFromFilename("a_b_c-0.1.tar.gz"), "0.1");
  EXPECT_EQ(VersionFromFilename("Legacy.Sdists-0.8.tar.bz2"), "0.8");
  EXPECT_EQ(VersionFromFilename("Legacy.Sdists-0.9.zip"), "0.9");
  EXPECT_EQ(VersionFromFilename("old-name-2004d.tgz"), "2004d");
}

TEST(FilenameTest, EggVersionIsTheSecondField) {
  EXPECT_EQ(VersionFromFilename("foo-1.2-py2.7.egg"), "1.2");
}

TEST(FilenameTest, NamesWithoutAReadableVersionGiveNothing) {
  EXPECT_EQ(VersionFromFilename("foo-1.0.win32.exe"), std::nullopt);
  EXPECT_EQ(VersionFromFilename("foo.tar.gz"), std::nullopt);
  EXPECT_EQ(VersionFromFilename("foo-.tar.gz"), std::nullopt);
  EXPECT_EQ(VersionFromFilename("foo-1.0-py3.whl"), std::nullopt);
  EXPECT_EQ(VersionFromFilename(".tar.gz"), std::nullopt);
}

}  // namespace
}  // namespace cistern::engine
