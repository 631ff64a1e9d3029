#include "store/error.h"

#include <cerrno>
#include <string>

#include <gtest/gtest.h>

namespace cistern::store {
namespace {

TEST(ErrorTest, CategoryIsNamedAndMessagesAreReadable) {
  const std::error_code code = Errc::kLocked;
  EXPECT_STREQ(code.category().name(), "cistern.store");
  EXPECT_EQ(code.message(), "locked by another process");
  EXPECT_EQ(Describe(MakeError(Errc::kCorrupt, "read x")), "read x: corrupt data");
}

TEST(ErrorTest, ErrnoErrorKeepsSystemCodeAndClassifies) {
  const Error no_space = ErrnoError(ENOSPC, "write /m/incoming/.tmp-1");
  EXPECT_EQ(no_space.code, std::errc::no_space_on_device);
  EXPECT_EQ(no_space.code.category(), std::system_category());
  EXPECT_TRUE(IsNoSpace(no_space));
  EXPECT_FALSE(IsPermission(no_space));
  EXPECT_EQ(no_space.detail, "write /m/incoming/.tmp-1");

  EXPECT_TRUE(IsNoSpace(ErrnoError(EDQUOT, "q")));
  EXPECT_TRUE(IsNoSpace(MakeError(Errc::kNoSpace, "rocksdb")));
  for (const int err : {EACCES, EPERM, EROFS}) {
    EXPECT_TRUE(IsPermission(ErrnoError(err, "p"))) << err;
  }
  EXPECT_TRUE(IsPermission(MakeError(Errc::kPermission, "p")));
  EXPECT_FALSE(IsPermission(ErrnoError(ENOTDIR, "p")));
  EXPECT_TRUE(IsNotFound(ErrnoError(ENOENT, "p")));
  EXPECT_TRUE(IsNotFound(MakeError(Errc::kNotFound, "p")));
  EXPECT_TRUE(IsCorrupt(MakeError(Errc::kCorrupt, "p")));
  EXPECT_FALSE(IsCorrupt(MakeError(Errc::kIo, "p")));
}

TEST(ErrorTest, EscapeForMessageEscapesNonPrintables) {
  EXPECT_EQ(EscapeForMessage(std::string("a\0b\x7f\xff\"\\c", 8)), "a\\x00b\\x7f\\xff\\x22\\x5cc");
}

}  // namespace
}  // namespace cistern::store
