#include "engine/error.h"

namespace cistern::engine {
namespace {

class EngineCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "cistern.engine"; }
  std::string message(int value) const override {
    switch (static_cast<Errc>(value)) {
      case Errc::kUpstreamIndex:
        return "upstream index unavailable";
      case Errc::kProjectPage:
        return "project page unavailable";
      case Errc::kStalePage:
        return "stale project page";
      case Errc::kFileFetch:
        return "file fetch failed";
      case Errc::kHashMismatch:
        return "hash mismatch";
      case Errc::kSizeMismatch:
        return "size mismatch";
      case Errc::kInvalidName:
        return "invalid project name";
      case Errc::kInvalidFile:
        return "invalid file name or URL";
      case Errc::kLocal:
        return "local I/O failure";
      case Errc::kLocked:
        return "mirror is locked";
      case Errc::kConfig:
        return "invalid configuration";
      case Errc::kCancelled:
        return "interrupted";
      case Errc::kDeletionGuard:
        return "deletion guard";
    }
    return "unknown engine error";
  }
};

}  // namespace

const std::error_category& engine_category() noexcept {
  static const EngineCategory category;
  return category;
}

std::error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), engine_category()};
}

std::string Error::Message() const {
  std::string out;
  for (const std::string* part : {&project, &file}) {
    if (!part->empty()) {
      out += *part;
      out += ": ";
    }
  }
  out += detail.empty() ? code.message() : detail;
  return out;
}

Error MakeError(Errc code, std::string detail, std::string project, std::string file) {
  return Error{make_error_code(code), Origin::kEngine, std::move(project), std::move(file),
               std::move(detail)};
}

Error FromNet(const net::Error& error, std::string project, std::string file) {
  return Error{error.code, Origin::kNet, std::move(project), std::move(file), error.message(),
               net::IsTransient(error) && !net::IsCancelled(error)};
}

Error FromStore(const store::Error& error, std::string project, std::string file) {
  return Error{error.code, Origin::kStore, std::move(project), std::move(file),
               error.detail.empty() ? error.code.message() : store::Describe(error)};
}

bool IsLocal(const Error& error) noexcept {
  return error.origin == Origin::kStore || error.code == Errc::kLocal;
}

}  // namespace cistern::engine
