#include "engine/render/project_page.h"

#include <fmt/format.h>

#include "engine/render/escape.h"

namespace cistern::engine {
namespace {

constexpr std::string_view kApiVersion = "1.4";

bool IsActive(const ProjectStatus& status) { return status.status == "active"; }

// PEP 700's `upload-time`: "yyyy-mm-ddThh:mm:ss" with an optional fraction, then "Z". uv rejects a
// whole page for a value it cannot parse (protocol §2.3: bandersnatch writes ""), so any other
// value is left out, as an absent one is.
bool IsUploadTime(std::string_view text) {
  auto number = [&text](size_t at, size_t digits, int low, int high) {
    if (at + digits > text.size()) {
      return false;
    }
    int value = 0;
    for (size_t i = at; i < at + digits; ++i) {
      if (text[i] < '0' || text[i] > '9') {
        return false;
      }
      value = value * 10 + (text[i] - '0');
    }
    return value >= low && value <= high;
  };
  auto is = [&text](size_t at, char c) { return at < text.size() && text[at] == c; };
  if (!(number(0, 4, 0, 9999) && is(4, '-') && number(5, 2, 1, 12) && is(7, '-') &&
        number(8, 2, 1, 31) && is(10, 'T') && number(11, 2, 0, 23) && is(13, ':') &&
        number(14, 2, 0, 59) && is(16, ':') && number(17, 2, 0, 60))) {
    return false;
  }
  size_t at = 19;
  if (is(at, '.')) {
    const size_t first = ++at;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
      ++at;
    }
    if (at == first) {
      return false;
    }
  }
  return is(at, 'Z') && at + 1 == text.size();
}

}  // namespace

std::string RenderProjectHtml(const MirrorProject& project) {
  std::string out;
  out.reserve(512 + project.files.size() * 320);
  out += "<!DOCTYPE html>\n<html>\n  <head>\n";
  out += fmt::format("    <meta name=\"pypi:repository-version\" content=\"{}\">\n", kApiVersion);
  if (!IsActive(project.status)) {
    out += "    <meta name=\"pypi:project-status\" content=\"";
    AppendHtmlEscaped(out, project.status.status);
    out += "\">\n";
    if (project.status.reason) {
      out += "    <meta name=\"pypi:project-status-reason\" content=\"";
      AppendHtmlEscaped(out, *project.status.reason);
      out += "\">\n";
    }
  }
  out += "    <title>Links for ";
  AppendHtmlEscaped(out, project.name);
  out += "</title>\n  </head>\n  <body>\n    <h1>Links for ";
  AppendHtmlEscaped(out, project.name);
  out += "</h1>\n";
  for (const MirrorFile& file : project.files) {
    out += "    <a href=\"";
    AppendHtmlEscaped(out, file.href);
    out += "#sha256=";
    out += file.sha256.Hex();
    out += '"';
    if (file.requires_python) {
      out += " data-requires-python=\"";
      AppendHtmlEscaped(out, *file.requires_python);
      out += '"';
    }
    if (file.yanked.yanked) {
      // pip reads a bare `data-yanked` as not yanked: always give a value (§2.2).
      out += " data-yanked=\"";
      AppendHtmlEscaped(out, file.yanked.reason);
      out += '"';
    }
    if (file.core_metadata) {
      // PEP 714: both attributes, identical values.
      const std::string value = "sha256=" + file.core_metadata->Hex();
      out += fmt::format(" data-core-metadata=\"{0}\" data-dist-info-metadata=\"{0}\"", value);
    }
    out += '>';
    AppendHtmlEscaped(out, file.filename);
    out += "</a><br/>\n";
  }
  out += "  </body>\n</html>\n";
  if (project.serial) {
    out += fmt::format("<!--SERIAL {}-->\n", *project.serial);
  }
  return out;
}

std::string RenderProjectJson(const MirrorProject& project) {
  std::string out;
  out.reserve(256 + project.files.size() * 400);
  out += fmt::format("{{\"meta\":{{\"api-version\":\"{}\"", kApiVersion);
  if (project.serial) {
    out += fmt::format(",\"_last-serial\":{}", *project.serial);
  }
  out += "},\"name\":";
  AppendJsonString(out, project.name);
  if (!IsActive(project.status)) {
    out += ",\"project-status\":{\"status\":";
    AppendJsonString(out, project.status.status);
    if (project.status.reason) {
      out += ",\"reason\":";
      AppendJsonString(out, *project.status.reason);
    }
    out += '}';
  }
  out += ",\"versions\":[";
  for (size_t i = 0; i < project.versions.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    AppendJsonString(out, project.versions[i]);
  }
  out += "],\"files\":[";
  for (size_t i = 0; i < project.files.size(); ++i) {
    const MirrorFile& file = project.files[i];
    if (i > 0) {
      out += ',';
    }
    out += "{\"filename\":";
    AppendJsonString(out, file.filename);
    out += ",\"url\":";
    AppendJsonString(out, file.href);
    out += fmt::format(",\"hashes\":{{\"sha256\":\"{}\"}}", file.sha256.Hex());
    if (file.requires_python) {
      out += ",\"requires-python\":";
      AppendJsonString(out, *file.requires_python);
    }
    out += fmt::format(",\"size\":{}", file.size);
    if (file.upload_time && IsUploadTime(*file.upload_time)) {
      out += ",\"upload-time\":";
      AppendJsonString(out, *file.upload_time);
    }
    out += ",\"yanked\":";
    if (!file.yanked.yanked) {
      out += "false";
    } else if (file.yanked.reason.empty()) {
      out += "true";
    } else {
      AppendJsonString(out, file.yanked.reason);
    }
    if (file.core_metadata) {
      out += fmt::format(",\"core-metadata\":{{\"sha256\":\"{}\"}}", file.core_metadata->Hex());
    }
    out += '}';
  }
  out += "]}\n";
  return out;
}

}  // namespace cistern::engine
