#pragma once

// Which serializations of the Simple API an upstream may answer with, and the one place that
// turns a body of either kind into the wire-independent model (engine/pypi/index_model.h), for
// the HTTP and the file:// upstreams alike.
//
// PEP 691 JSON is the default and the only form accepted unless the operator allows HTML: a
// `text/html` answer is what a captive portal or an error page looks like too, and an HTML page
// read as an index would be an empty or bogus mirror (protocol §4). With `auto` or `html`, PEP 503
// HTML (`text/html`, `application/vnd.pypi.simple.v1+html`) is read as well.
//
// Thread safety: one IndexReader per thread (the JSON parser keeps buffers).

#include <optional>
#include <string>
#include <string_view>

#include "engine/error.h"
#include "engine/pypi/index_model.h"
#include "engine/pypi/simple_html.h"
#include "engine/pypi/simple_json.h"
#include "net/url.h"

namespace cistern::engine {

enum class UpstreamFormat {
  kJson,  // PEP 691 JSON only (PyPI, bandersnatch, devpi, cistern)
  kAuto,  // JSON preferred, PEP 503 HTML accepted
  kHtml,  // ask for HTML (an index whose JSON is broken or missing)
};

// "json", "auto", "html". Errors: Errc::kConfig naming the value and the choices.
[[nodiscard]] Result<UpstreamFormat> ParseUpstreamFormat(std::string_view text);

// The Accept header an HTTP upstream sends (PEP 691's recommended q-values for `auto`).
std::string_view AcceptHeaderFor(UpstreamFormat format) noexcept;

enum class BodyType { kJson, kHtml };

// What a response's media type (lowercase, without parameters) holds, if `format` accepts it.
std::optional<BodyType> AcceptedBodyType(std::string_view media_type,
                                         UpstreamFormat format) noexcept;

// Why a media type was refused, for "GET URL: <this>" messages: names what was expected and, for
// HTML under `json`, the setting that allows it.
std::string RefusedTypeMessage(std::string_view media_type, UpstreamFormat format,
                               std::string_view what);

class IndexReader {
 public:
  // Errors: Errc::kUpstreamIndex naming the key or JSON error, or an unknown major version.
  // `body` may be grown (simdjson's padding).
  [[nodiscard]] Result<RootIndex> ParseRoot(BodyType type, std::string& body);

  // Errors: Errc::kProjectPage as for the root (the caller adds the project and the URL).
  // Relative file URLs of an HTML page with `<base href>` are resolved here, against the base
  // resolved against `page_url`, so that later steps resolve every file URL against the page URL
  // alone. A base that does not resolve is an error: the page's links cannot be followed.
  [[nodiscard]] Result<ProjectPage> ParseProject(BodyType type, std::string& body,
                                                 const net::Url& page_url);

 private:
  SimpleJsonParser json_;
  SimpleHtmlParser html_;
};

}  // namespace cistern::engine
