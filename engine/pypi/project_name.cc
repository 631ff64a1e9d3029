#include "engine/pypi/project_name.h"

#include <fmt/format.h>

namespace cistern::engine {
namespace {

bool IsAsciiAlnum(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool IsSeparator(char c) noexcept { return c == '-' || c == '_' || c == '.'; }

char ToLowerAscii(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

bool IsValidProjectName(std::string_view name) noexcept {
  if (name.empty() || !IsAsciiAlnum(name.front()) || !IsAsciiAlnum(name.back())) {
    return false;
  }
  for (char c : name) {
    if (!IsAsciiAlnum(c) && !IsSeparator(c)) {
      return false;
    }
  }
  return true;
}

std::string NormalizeProjectName(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  bool in_separator_run = false;
  for (char c : name) {
    if (IsSeparator(c)) {
      if (!in_separator_run) {
        out.push_back('-');
      }
      in_separator_run = true;
    } else {
      out.push_back(ToLowerAscii(c));
      in_separator_run = false;
    }
  }
  return out;
}

Result<ProjectName> ProjectName::Parse(std::string_view name) {
  if (!IsValidProjectName(name)) {
    return tl::make_unexpected(MakeError(
        Errc::kInvalidName, fmt::format("invalid project name \"{}\" (PEP 508 allows ASCII letters, "
                                        "digits and inner '-', '_', '.')",
                                        EscapeForMessage(name))));
  }
  return ProjectName(NormalizeProjectName(name));
}

std::string EscapeForMessage(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7f || c == '\\' || c == '"') {
      out += fmt::format("\\x{:02x}", byte);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace cistern::engine
