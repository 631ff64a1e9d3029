#pragma once

// Renders a mirrored project's pages: `index.html` (PEP 503; the same bytes serve as
// `index.v1_html`) and `index.v1_json` (PEP 691/700/714/792). Pure functions: the same input gives
// the same bytes, which is what lets the sync skip rewriting unchanged pages.
//
// Choices (pypi-mirror-protocol.md §2.2-§2.8): one `#sha256=` fragment and `hashes.sha256` only;
// `data-core-metadata` and `data-dist-info-metadata` with identical values in HTML, `core-metadata`
// only in JSON; `data-yanked` always with a value; optional JSON keys omitted, never null; HTML
// declares repository version 1.4 (frozen by PEP 833), JSON declares 1.4 (project-status passed
// through); the page carries the project serial (`meta._last-serial`, `<!--SERIAL n-->`) so a
// downstream mirror can detect staleness.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/pypi/index_model.h"
#include "store/digest.h"

namespace cistern::engine {

// A file as the mirror serves it.
struct MirrorFile {
  std::string filename;
  std::string href;  // relative to the project page, percent-encoded, without fragment
  store::Sha256Digest sha256;
  uint64_t size = 0;
  std::optional<std::string> requires_python;
  std::optional<std::string> upload_time;
  Yanked yanked;
  std::optional<store::Sha256Digest> core_metadata;  // set only when the .metadata file is on disk
};

struct MirrorProject {
  std::string name;  // normalized
  std::optional<int64_t> serial;
  std::vector<std::string> versions;
  std::vector<MirrorFile> files;
  ProjectStatus status;
};

std::string RenderProjectHtml(const MirrorProject& project);
std::string RenderProjectJson(const MirrorProject& project);

}  // namespace cistern::engine
