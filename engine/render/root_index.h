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
  int64_t serial = 0;
};

std::string RenderRootHtml(const std::vector<RootEntry>& entries);
std::string RenderRootJson(const std::vector<RootEntry>& entries, std::optional<int64_t> serial);

}  // namespace cistern::engine
