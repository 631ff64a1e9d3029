#pragma once

// PEP 503 / PEP 691 HTML parser for the index root and project pages, for upstreams that serve
// only the HTML serialization (static PEP 503 trees, older devpi, Artifactory, simple servers).
//
// Follows the spec "Simple repository API" (HTML serialization; PEPs 503, 592, 629, 658, 714 and
// 792) and HTML5's parsing rules. Where the spec is loose it reads what pip reads, except where
// pip's leniency would make a mirror drop a yank or fetch a file nobody promised: a bare
// `data-yanked` is a yank, and a `data-core-metadata` that is neither "true" nor a hash promises
// no metadata file. It also reads uv's `data-size` and `data-upload-time`, `<base href>`, and
// PyPI's and bandersnatch's `<!--SERIAL n-->` comment. Markup is read by `html_tokenizer.h`,
// linear in the body and tolerant of anything: the one error is a `pypi:repository-version` of
// another major version.
//
// Thread safety: the parser holds no state; one parser may be shared by any number of threads.

#include <string_view>

#include "engine/error.h"
#include "engine/pypi/index_model.h"

namespace cistern::engine {

class SimpleHtmlParser {
 public:
  // Parses a root index body: one entry per `<a href>`, named by the anchor's text (PEP 503), or
  // when that is empty by the last non-empty path segment of `href`, percent-decoded. Entries
  // have no `last_serial`; the root's comes from a `<!--SERIAL n-->` comment.
  // Errors: Errc::kUpstreamIndex when `pypi:repository-version` names another major version.
  // Lifetime: `body` is only read during the call; the result owns its strings.
  [[nodiscard]] Result<RootIndex> ParseRoot(std::string_view body) const;

  // Parses a project page body: one file per `<a href>`. `versions` stays empty (the HTML form
  // has none) and `name` is read from "Links for NAME" in `<title>` or `<h1>`, else empty.
  // Errors: Errc::kProjectPage when `pypi:repository-version` names another major version (the
  // caller adds the project).
  // Lifetime: `body` is only read during the call; the result owns its strings.
  [[nodiscard]] Result<ProjectPage> ParseProject(std::string_view body) const;
};

}  // namespace cistern::engine
