#pragma once

// Renders the root index: `simple/index.html` (PEP 503; also served as `index.v1_html`) and
// `simple/index.v1_json` (PEP 691 with PyPI's per-project `_last-serial`, which a bandersnatch
// downstream requires, pypi-mirror-protocol.md §2.4). Entries are written in the order given;
// callers pass them sorted by normalized name so the bytes are deterministic.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cistern::engine {

struct RootEntry {
  std::string name;          // normalized: the directory under simple/
  std::string display_name;  // as upstream spells it
  // The project's serial; 0 when the upstream gave none (an HTML-only or file:// index). Then
  // `_last-serial` is left out: a mirror of this mirror must not read 0 as "unchanged since 0"
  // and never fetch the page again.
  int64_t serial = 0;
};

std::string RenderRootHtml(const std::vector<RootEntry>& entries);
std::string RenderRootJson(const std::vector<RootEntry>& entries, std::optional<int64_t> serial);

}  // namespace cistern::engine
