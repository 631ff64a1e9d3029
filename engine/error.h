#pragma once

// engine::Error: what failed, to which project and file, and why. The engine adds the project and
// the file name to errors that come from net/ and store/, so a user reads
//   "numpy: numpy-2.1.0-cp312-cp312-manylinux_2_17_x86_64.whl: GET https://...: connection reset"
// instead of a bare "connection reset".

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>

#include <tl/expected.hpp>

#include "net/error.h"
#include "store/error.h"

namespace cistern::engine {

enum class Errc {
  kUpstreamIndex = 1,  // the index root could not be fetched or parsed
  kProjectPage,        // one project's page could not be fetched or parsed
  kStalePage,          // a page older than the serial the index promised
  kFileFetch,          // a file could not be fetched (status, transport)
  kHashMismatch,       // a file's bytes do not match the digest the page declared
  kSizeMismatch,       // a file's length does not match the size the page declared
  kInvalidName,        // a project name that is not a valid PEP 508 name
  kInvalidFile,        // a hostile or unusable file name or URL
  kLocal,              // local I/O (disk, permissions, database)
  kLocked,             // another process holds the mirror lock
  kConfig,             // invalid options
  kCancelled,          // the run was interrupted
  kDeletionGuard,      // the index lost more projects than the deletion guard allows
};

const std::error_category& engine_category() noexcept;
std::error_code make_error_code(Errc e) noexcept;

// Which layer the error came from; decides the exit status (a store error is local I/O).
enum class Origin : uint8_t { kEngine, kNet, kStore };

struct Error {
  std::error_code code;
  Origin origin = Origin::kEngine;
  std::string project;  // normalized project name, empty when not about one project
  std::string file;     // file name, empty when not about one file
  std::string detail;   // what happened, with the URL or path
  bool transient = false;  // worth retrying later in this run (reset, timeout, 429, 5xx)
  // The server's Retry-After on a 429 or 503, when it sent a valid one (see engine/retrier.h).
  std::optional<std::chrono::seconds> retry_after{};

  // "project: file: detail", leaving out the parts that are empty.
  std::string Message() const;
};

template <class T>
using Result = tl::expected<T, Error>;

// Builds an error of this module.
Error MakeError(Errc code, std::string detail, std::string project = {}, std::string file = {});

// Wraps a lower module's error, keeping its code and detail, adding project and file.
Error FromNet(const net::Error& error, std::string project = {}, std::string file = {});
Error FromStore(const store::Error& error, std::string project = {}, std::string file = {});

// True when the error came from local storage (exit status 5).
bool IsLocal(const Error& error) noexcept;

}  // namespace cistern::engine

namespace std {
template <>
struct is_error_code_enum<cistern::engine::Errc> : true_type {};
}  // namespace std
