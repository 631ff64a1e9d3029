#pragma once

// PEP 691 JSON parser for the index root and project pages.
//
// Follows the spec "Simple repository API": unknown keys are ignored, an unknown major
// `api-version` is an error, hashes are lowercased, `requires-python: null` is "unset", `yanked`
// is a bool or a reason string, `core-metadata` wins over the deprecated `dist-info-metadata`, and
// Warehouse's `data-dist-info-metadata` is ignored (PEP 714). Thread safety: one parser per thread.

#include <memory>
#include <string>

#include "engine/error.h"
#include "engine/pypi/index_model.h"

namespace cistern::engine {

class SimpleJsonParser {
 public:
  SimpleJsonParser();
  ~SimpleJsonParser();
  SimpleJsonParser(const SimpleJsonParser&) = delete;
  SimpleJsonParser& operator=(const SimpleJsonParser&) = delete;

  // Parses a root index body. `body` may be grown to add the padding simdjson needs.
  // Errors: Errc::kUpstreamIndex naming the key or JSON error.
  [[nodiscard]] Result<RootIndex> ParseRoot(std::string& body);

  // Parses a project page body. `body` may be grown to add the padding simdjson needs.
  // Errors: Errc::kProjectPage naming the key or JSON error (the caller adds the project).
  [[nodiscard]] Result<ProjectPage> ParseProject(std::string& body);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Checks an `api-version` string: "1.x" is accepted, another major is an error (PEP 629).
[[nodiscard]] bool IsSupportedApiVersion(std::string_view version) noexcept;

// True for "1.x" with x above 4, the newest minor version cistern knows: PEP 629 asks clients to
// warn (the page is still read; keys it does not know are not mirrored).
[[nodiscard]] bool IsNewerMinorApiVersion(std::string_view version) noexcept;

}  // namespace cistern::engine
