#include "engine/render/root_index.h"

#include <fmt/format.h>

#include "engine/render/escape.h"

namespace cistern::engine {

std::string RenderRootHtml(const std::vector<RootEntry>& entries) {
  std::string out;
  out.reserve(256 + entries.size() * 64);
  out +=
      "<!DOCTYPE html>\n<html>\n  <head>\n"
      "    <meta name=\"pypi:repository-version\" content=\"1.4\">\n"
      "    <title>Simple index</title>\n  </head>\n  <body>\n";
  for (const RootEntry& entry : entries) {
    out += "    <a href=\"";
    AppendHtmlEscaped(out, entry.name);
    out += "/\">";
    AppendHtmlEscaped(out, entry.display_name);
    out += "</a><br/>\n";
  }
  out += "  </body>\n</html>\n";
  return out;
}

std::string RenderRootJson(const std::vector<RootEntry>& entries, std::optional<int64_t> serial) {
  std::string out;
  out.reserve(128 + entries.size() * 64);
  out += "{\"meta\":{\"api-version\":\"1.4\"";
  if (serial) {
    out += fmt::format(",\"_last-serial\":{}", *serial);
  }
  out += "},\"projects\":[";
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    out += "{\"name\":";
    AppendJsonString(out, entries[i].display_name);
    if (entries[i].serial > 0) {
      out += fmt::format(",\"_last-serial\":{}", entries[i].serial);
    }
    out += '}';
  }
  out += "]}\n";
  return out;
}

}  // namespace cistern::engine
