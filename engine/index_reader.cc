#include "engine/index_reader.h"

#include <fmt/format.h>

#include "engine/planner.h"

namespace cistern::engine {
namespace {

constexpr std::string_view kJsonType = "application/vnd.pypi.simple.v1+json";
constexpr std::string_view kHtmlType = "application/vnd.pypi.simple.v1+html";
constexpr std::string_view kLegacyHtmlType = "text/html";

bool HasScheme(std::string_view url) {
  const size_t colon = url.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return false;
  }
  for (char c : url.substr(0, colon)) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '+' || c == '-' || c == '.';
    if (!ok) {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<UpstreamFormat> ParseUpstreamFormat(std::string_view text) {
  if (text == "json") {
    return UpstreamFormat::kJson;
  }
  if (text == "auto") {
    return UpstreamFormat::kAuto;
  }
  if (text == "html") {
    return UpstreamFormat::kHtml;
  }
  return tl::make_unexpected(MakeError(
      Errc::kConfig,
      fmt::format("upstream format \"{}\" is not one of \"json\", \"auto\", \"html\"", text)));
}

std::string_view AcceptHeaderFor(UpstreamFormat format) noexcept {
  switch (format) {
    case UpstreamFormat::kJson:
      // Only JSON, so a server that cannot give it answers something we detect (protocol §1.1).
      return kJsonType;
    case UpstreamFormat::kAuto:
      return "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
             "text/html;q=0.01";
    case UpstreamFormat::kHtml:
      return "application/vnd.pypi.simple.v1+html, text/html;q=0.01";
  }
  return kJsonType;
}

std::optional<BodyType> AcceptedBodyType(std::string_view media_type,
                                         UpstreamFormat format) noexcept {
  // A server may answer JSON to an HTML request (it picks): read what it says it sent.
  if (media_type == kJsonType) {
    return BodyType::kJson;
  }
  if (format != UpstreamFormat::kJson && (media_type == kHtmlType || media_type == kLegacyHtmlType)) {
    return BodyType::kHtml;
  }
  return std::nullopt;
}

std::string RefusedTypeMessage(std::string_view media_type, UpstreamFormat format,
                               std::string_view what) {
  const bool html = media_type == kHtmlType || media_type == kLegacyHtmlType;
  if (format == UpstreamFormat::kJson && html) {
    return fmt::format("expected {} but got Content-Type \"{}\" ({} is HTML: an error page, a "
                       "captive portal or a PEP 503 HTML-only index; for the latter set [mirror] "
                       "upstream_format = \"auto\" in cistern.toml)",
                       kJsonType, media_type, what);
  }
  if (format == UpstreamFormat::kJson) {
    return fmt::format("expected {} but got Content-Type \"{}\" ({} is not a PEP 691 JSON "
                       "response; is this a PyPI-compatible index?)",
                       kJsonType, media_type, what);
  }
  return fmt::format("expected {}, {} or {} but got Content-Type \"{}\" ({} is not a Simple API "
                     "response; is this a PyPI-compatible index?)",
                     kJsonType, kHtmlType, kLegacyHtmlType, media_type, what);
}

Result<RootIndex> IndexReader::ParseRoot(BodyType type, std::string& body) {
  return type == BodyType::kJson ? json_.ParseRoot(body) : html_.ParseRoot(body);
}

Result<ProjectPage> IndexReader::ParseProject(BodyType type, std::string& body,
                                              const net::Url& page_url) {
  if (type == BodyType::kJson) {
    return json_.ParseProject(body);
  }
  auto page = html_.ParseProject(body);
  if (!page || !page->base_url) {
    return page;
  }
  // <base href>: relative links resolve against it (HTML's rule, which pip follows).
  auto base = page_url.Resolve(EncodeLoose(*page->base_url));
  if (!base) {
    return tl::make_unexpected(MakeError(
        Errc::kProjectPage, fmt::format("<base href=\"{}\"> does not resolve: {}",
                                        *page->base_url, base.error().message())));
  }
  for (UpstreamFile& file : page->files) {
    if (HasScheme(file.url)) {
      continue;
    }
    // A link that does not resolve stays as it is, and the planner reports it for its file.
    if (auto resolved = base->Resolve(EncodeLoose(file.url))) {
      file.url = resolved->str();
    }
  }
  page->base_url.reset();
  return page;
}

}  // namespace cistern::engine
