#pragma once

// The planner: pure. Given a project's upstream page, what the mirror already holds for it, and
// the rules, it decides which files the new page lists, which must be fetched, which are already
// in place, and which the mirror must drop. No I/O, so every decision is testable with values.
//
// Rules are the seam for subset mirroring (PEP 425 tags, requires-python, pre-releases, latest-N,
// size, upload time, dependency closures). Today a full mirror keeps every file.

#include <optional>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/pypi/index_model.h"
#include "engine/pypi/project_name.h"
#include "net/url.h"
#include "store/digest.h"
#include "store/records.h"
#include "store/relative_path.h"

namespace cistern::engine {

// File rules for subset mirrors. Defaults keep everything (a full mirror).
struct FileRules {
  // Drop yanked files from pages instead of serving them with the yank marker (PEP 592 allows
  // either). Default: keep them, marked.
  bool exclude_yanked = false;
};

// An upstream URL as pip reads it: raw spaces and non-ASCII bytes, which some indexes leave
// unencoded, are percent-encoded (§1.0); control characters stay and are rejected by the parse.
std::string EncodeLoose(std::string_view url);

// A hash the download must match, in the strongest algorithm the page offered.
struct ExpectedDigest {
  std::string algorithm;  // "sha512", "sha384", "sha256", ... (lowercase hashlib names)
  std::string hex;        // lowercase
};

// The PEP 658 metadata file of a planned file.
struct PlannedMetadata {
  net::Url url;
  store::RelativePath path;
  std::optional<store::Sha256Digest> sha256;  // what the page declared; nullopt: not declared
  bool stored = false;                        // the database records it at `path`
};

struct PlannedFile {
  UpstreamFile upstream;
  net::Url url;                                  // absolute
  store::RelativePath path;                      // where it lives in the mirror
  std::optional<store::Sha256Digest> sha256;     // declared sha256; nullopt: compute while fetching
  std::optional<ExpectedDigest> verify;          // a stronger declared digest; without sha256,
                                                 // the strongest declared (even md5)
  bool stored = false;                           // recorded with this sha256 (any, if undeclared)
  std::optional<PlannedMetadata> metadata;
};

// A file the planner would not mirror, and why (hostile name, unusable URL).
struct RejectedFile {
  std::string filename;
  Error error;
};

struct ProjectPlan {
  std::vector<PlannedFile> files;         // what the new page lists, in upstream order
  std::vector<std::string> remove;        // stored paths the new page no longer lists
  std::vector<RejectedFile> rejected;     // named in warnings; the rest of the project proceeds
  ProjectStatus status;
  std::vector<std::string> versions;
};

// Plans one project.
// `page_url` resolves relative file URLs (PEP 691). `stored` is what the database holds for the
// project. Quarantined projects (PEP 792) list no files.
// Errors: none today; a malformed file entry is a `RejectedFile`, not a failed plan.
ProjectPlan PlanProject(const ProjectName& name, const ProjectPage& page, const net::Url& page_url,
                        const std::vector<store::FileRecord>& stored, const FileRules& rules);

}  // namespace cistern::engine
