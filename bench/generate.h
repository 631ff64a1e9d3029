// Deterministic inputs for the micro benchmarks: PyPI-shaped PEP 691 and HTML pages and root
// indexes, and the equivalent engine values. Generated before the timed loops; the same arguments
// always give the same bytes, so runs are comparable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/pypi/index_model.h"
#include "engine/render/project_page.h"
#include "store/records.h"

namespace cistern::bench {

// 64 lowercase hex digits derived from `seed` (splitmix64; not a real digest).
std::string Hex64(uint64_t seed);

// The name of file `index` of the generated project "bench-project".
std::string GeneratedFilename(size_t index);

// A project page as PyPI sends it (pypi-mirror-protocol.md §1.3): `files` files, each with a
// PyPI-layout URL, sha256, requires-python, size, upload-time, yanked, core-metadata,
// data-dist-info-metadata and provenance, about 800 bytes per file.
std::string GenerateProjectJson(size_t files);

// A root index as PyPI sends it (§1.2): `projects` entries with display names and serials.
std::string GenerateRootJson(size_t projects);

// The same files as GenerateProjectJson in Warehouse's HTML template (§1.3): the PyPI-layout URL
// with a `#sha256=` fragment, escaped requires-python, data-yanked on the same files,
// data-dist-info-metadata and data-core-metadata, and the serial comment; about 500 bytes per
// file.
std::string GenerateProjectHtml(size_t files);

// A root index in the HTML form (§1.2, as bandersnatch writes it): `projects` anchors with
// display names, the serial in a trailing comment.
std::string GenerateRootHtml(size_t projects);

// The same files as GenerateProjectJson, as the mirror would serve them.
engine::MirrorProject GenerateMirrorProject(size_t files);

// Records for every `stride`-th file of GenerateProjectJson(files), as a previous sync stored them.
std::vector<store::FileRecord> GenerateStoredRecords(const engine::ProjectPage& page,
                                                     size_t stride);

}  // namespace cistern::bench
