#include "store/error.h"

#include <cerrno>
#include <cstdint>
#include <utility>

namespace cistern::store {
namespace {

class StoreErrorCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "cistern.store"; }

  std::string message(int value) const override {
    switch (static_cast<Errc>(value)) {
      case Errc::kInvalidPath:
        return "invalid path";
      case Errc::kIo:
        return "I/O error";
      case Errc::kNoSpace:
        return "no space left on device";
      case Errc::kPermission:
        return "permission denied";
      case Errc::kCorrupt:
        return "corrupt data";
      case Errc::kNotFound:
        return "not found";
      case Errc::kLocked:
        return "locked by another process";
      case Errc::kDatabase:
        return "database error";
      case Errc::kInvalidArgument:
        return "invalid argument";
    }
    return "unknown store error " + std::to_string(value);
  }
};

}  // namespace

const std::error_category& StoreCategory() noexcept {
  static const StoreErrorCategory category;
  return category;
}

std::error_code make_error_code(Errc e) noexcept { return {static_cast<int>(e), StoreCategory()}; }

std::string EscapeForMessage(std::string_view text) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (const char ch : text) {
    const auto c = static_cast<uint8_t>(ch);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
      out.push_back(ch);
    } else {
      out += "\\x";
      out.push_back(kDigits[c >> 4]);
      out.push_back(kDigits[c & 0x0f]);
    }
  }
  return out;
}

Error ErrnoError(int err, std::string detail) {
  return Error{std::error_code(err, std::system_category()), std::move(detail)};
}

Error MakeError(Errc code, std::string detail) {
  return Error{make_error_code(code), std::move(detail)};
}

std::string Describe(const Error& error) { return error.detail + ": " + error.code.message(); }

bool IsNoSpace(const Error& error) noexcept {
  if (error.code == Errc::kNoSpace) {
    return true;
  }
  if (error.code.category() == std::system_category()) {
    return error.code.value() == ENOSPC || error.code.value() == EDQUOT;
  }
  return false;
}

bool IsPermission(const Error& error) noexcept {
  if (error.code == Errc::kPermission) {
    return true;
  }
  if (error.code.category() == std::system_category()) {
    const int value = error.code.value();
    return value == EACCES || value == EPERM || value == EROFS;
  }
  return false;
}

bool IsNotFound(const Error& error) noexcept {
  if (error.code == Errc::kNotFound) {
    return true;
  }
  return error.code.category() == std::system_category() && error.code.value() == ENOENT;
}

bool IsCorrupt(const Error& error) noexcept { return error.code == Errc::kCorrupt; }

}  // namespace cistern::store
