#pragma once

// PEP 503 project names. A `ProjectName` is always valid and normalized, so it is safe to use as
// a directory name under simple/ and as a database key; raw upstream names never are.

#include <compare>
#include <string>
#include <string_view>

#include "engine/error.h"

namespace cistern::engine {

// True when `name` matches the PEP 508 name rule
// `^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$` (case-insensitive, ASCII only).
bool IsValidProjectName(std::string_view name) noexcept;

// PEP 503: lowercase, and every run of `-`, `_`, `.` becomes one `-`. Does not validate.
std::string NormalizeProjectName(std::string_view name);

class ProjectName {
 public:
  // Validates `name` (display or normalized form) and normalizes it.
  // Errors: Errc::kInvalidName, with the name (non-printable bytes escaped) in the detail.
  [[nodiscard]] static Result<ProjectName> Parse(std::string_view name);

  const std::string& str() const noexcept { return name_; }

  friend bool operator==(const ProjectName&, const ProjectName&) = default;
  friend auto operator<=>(const ProjectName&, const ProjectName&) = default;

 private:
  explicit ProjectName(std::string normalized) : name_(std::move(normalized)) {}
  std::string name_;
};

// Escapes bytes outside printable ASCII as \xNN, for error messages about hostile input.
std::string EscapeForMessage(std::string_view text);

}  // namespace cistern::engine
