// Errors of the store module: `Errc`, its `std::error_category` ("cistern.store"), the `Error`
// carrier and `Result<T>`.
//
// A store `Error` says what failed (`code`) and where (`detail`, which names the path or key).
// System failures keep their `std::system_category` code (ENOSPC stays ENOSPC); ask the
// classifiers below (`IsNoSpace`, `IsPermission`, ...) instead of listing codes at call sites.
// RocksDB statuses are mapped onto `Errc` by the one file that uses RocksDB (metadata_db.cc),
// keeping RocksDB's own text in `detail`.
#pragma once

#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

#include <tl/expected.hpp>

namespace cistern::store {

enum class Errc {
  kInvalidPath = 1,  // a path that RelativePath rejects, or a symlink/non-directory in the tree
  kIo,               // a read, write or sync failed (RocksDB IOError without a finer subcode)
  kNoSpace,          // the disk or quota is full (RocksDB IOError/NoSpace)
  kPermission,       // the store may not write where it must
  kCorrupt,          // bytes on disk do not decode, or the schema is newer than this build
  kNotFound,         // a file or record that must exist does not
  kLocked,           // another process holds the mirror's lock
  kDatabase,         // any other RocksDB failure
  kInvalidArgument,  // a record that cannot be stored (e.g. a project name containing NUL)
};

// The category of `Errc`; its name() is "cistern.store".
const std::error_category& StoreCategory() noexcept;

std::error_code make_error_code(Errc e) noexcept;

struct Error {
  std::error_code code;  // Errc or std::system_category (errno)
  std::string detail;    // what was being done and to which path: "rename /m/incoming/.tmp-.. ..."
};

template <class T>
using Result = tl::expected<T, Error>;

// Builds an `Error` from an errno value, keeping it as a `std::system_category` code.
// `detail` should name the operation and the path, e.g. "mkdir /mirror/web/packages".
Error ErrnoError(int err, std::string detail);

// Builds an `Error` with one of our codes.
Error MakeError(Errc code, std::string detail);

// Escapes `text` for an error message: printable ASCII stays, everything else (and '"', '\\')
// becomes \xNN.
std::string EscapeForMessage(std::string_view text);

// "<detail>: <code message>", for logs and for the CLI.
std::string Describe(const Error& error);

// True for ENOSPC, EDQUOT and Errc::kNoSpace: the disk or a quota is full.
bool IsNoSpace(const Error& error) noexcept;

// True for EACCES, EPERM, EROFS and Errc::kPermission: the store may not write there.
bool IsPermission(const Error& error) noexcept;

// True for Errc::kNotFound and ENOENT.
bool IsNotFound(const Error& error) noexcept;

// True for Errc::kCorrupt.
bool IsCorrupt(const Error& error) noexcept;

}  // namespace cistern::store

template <>
struct std::is_error_code_enum<cistern::store::Errc> : std::true_type {};
