#pragma once

// What cistern reads from an upstream index, independent of its wire format (PEP 691 JSON,
// `simple_json.h`, or the PEP 503 HTML form, `simple_html.h`). Strings are kept as the upstream
// sent them; nothing here is validated for use as a path: see `file_location.h` for that.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cistern::engine {

// One entry of the index root.
struct IndexEntry {
  std::string name;                   // as upstream sent it (PyPI: the display name)
  std::optional<int64_t> last_serial;  // PyPI's `_last-serial`; absent on other indexes
};

// The index root (`/simple/`).
struct RootIndex {
  std::string api_version;            // "1.4"; "1.0" when upstream omitted it
  std::optional<int64_t> last_serial;  // meta._last-serial; HTML: a `<!--SERIAL n-->` comment
  std::vector<IndexEntry> projects;
};

// PEP 592: false, true, or a reason (true with a reason).
struct Yanked {
  bool yanked = false;
  std::string reason;
  friend bool operator==(const Yanked&, const Yanked&) = default;
};

// PEP 658/714 `core-metadata`: absent (unknown), false, true, or a map of hashes.
struct CoreMetadata {
  bool available = false;
  std::map<std::string, std::string> hashes;  // lowercase algorithm -> lowercase hex
  friend bool operator==(const CoreMetadata&, const CoreMetadata&) = default;
};

// One distribution file on a project page.
struct UpstreamFile {
  std::string filename;
  std::string url;                               // as sent: absolute or relative to the page
  std::map<std::string, std::string> hashes;     // lowercase algorithm -> lowercase hex
  std::optional<std::string> requires_python;    // verbatim; null and absent both give nullopt
  std::optional<uint64_t> size;                  // PEP 700, mandatory from api-version 1.1
  std::optional<std::string> upload_time;        // PEP 700, verbatim
  Yanked yanked;
  CoreMetadata core_metadata;
  friend bool operator==(const UpstreamFile&, const UpstreamFile&) = default;
};

// PEP 792 project status.
struct ProjectStatus {
  std::string status = "active";  // active, archived, quarantined, deprecated, or unknown values
  std::optional<std::string> reason;
  friend bool operator==(const ProjectStatus&, const ProjectStatus&) = default;
};

// A project page (`/simple/<name>/`).
struct ProjectPage {
  std::string api_version;
  std::optional<int64_t> last_serial;  // meta._last-serial; HTML: a `<!--SERIAL n-->` comment
  std::string name;                    // as upstream sent it; HTML: empty unless "Links for NAME"
  std::vector<std::string> versions;   // PEP 700; empty when absent (always from HTML)
  std::vector<UpstreamFile> files;
  ProjectStatus status;
  // HTML only: the page's `<base href>`, against which relative file URLs resolve; nullopt when
  // absent (and always from JSON).
  std::optional<std::string> base_url;
};

}  // namespace cistern::engine
