#include "engine/planner.h"

#include <array>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "engine/pypi/file_location.h"
#include "engine/pypi/filename.h"

namespace cistern::engine {
namespace {

// Verification strength, strongest first (pypi-mirror-protocol.md §4: sha512 > sha384 > sha256;
// md5 and sha1 are integrity checks only).
constexpr std::array<std::string_view, 6> kByStrength = {"sha512", "sha384", "sha256",
                                                         "sha224", "sha1",   "md5"};

// The digest checked besides sha256: a stronger declared one, or, when the page declares no
// sha256 (other indexes), the strongest it declares at all, even md5 (integrity only).
std::optional<ExpectedDigest> ExtraDigest(const std::map<std::string, std::string>& hashes) {
  const bool has_sha256 = hashes.contains("sha256");
  for (std::string_view algorithm : kByStrength) {
    if (algorithm == "sha256" && has_sha256) {
      return std::nullopt;  // sha256 is checked anyway; weaker ones add nothing
    }
    if (auto it = hashes.find(std::string(algorithm)); it != hashes.end()) {
      return ExpectedDigest{it->first, it->second};
    }
  }
  return std::nullopt;
}

RejectedFile Reject(const ProjectName& name, const UpstreamFile& file, Error error) {
  error.project = name.str();
  if (error.file.empty()) {
    error.file = EscapeForMessage(file.filename);
  }
  return RejectedFile{file.filename, std::move(error)};
}

}  // namespace

std::string EncodeLoose(std::string_view url) {
  std::string out;
  out.reserve(url.size());
  for (char c : url) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte == ' ' || byte >= 0x80) {
      out += fmt::format("%{:02X}", byte);
    } else {
      out += c;
    }
  }
  return out;
}

ProjectPlan PlanProject(const ProjectName& name, const ProjectPage& page, const net::Url& page_url,
                        const std::vector<store::FileRecord>& stored, const FileRules& rules) {
  ProjectPlan plan;
  plan.status = page.status;
  plan.versions = page.versions;

  std::unordered_map<std::string, const store::FileRecord*> stored_by_path;
  for (const store::FileRecord& record : stored) {
    stored_by_path.emplace(record.path, &record);
  }

  // PEP 792: an index must not offer a quarantined project's files.
  const bool quarantined = page.status.status == "quarantined";
  static const std::vector<UpstreamFile> kNoFiles;
  std::unordered_set<std::string> listed;
  for (const UpstreamFile& file : quarantined ? kNoFiles : page.files) {
    if (rules.exclude_yanked && file.yanked.yanked) {
      continue;
    }
    if (auto valid = ValidateFilename(file.filename); !valid) {
      plan.rejected.push_back(Reject(name, file, valid.error()));
      continue;
    }
    auto url = page_url.Resolve(EncodeLoose(file.url));
    if (!url) {
      plan.rejected.push_back(Reject(
          name, file,
          MakeError(Errc::kInvalidFile, fmt::format("unusable URL \"{}\": {}",
                                                    EscapeForMessage(file.url), url.error().detail))));
      continue;
    }
    std::optional<store::Sha256Digest> sha256;
    if (auto it = file.hashes.find("sha256"); it != file.hashes.end()) {
      sha256 = store::Sha256Digest::FromHex(it->second);
      if (!sha256) {
        plan.rejected.push_back(Reject(
            name, file,
            MakeError(Errc::kInvalidFile, fmt::format("malformed sha256 \"{}\"",
                                                      EscapeForMessage(it->second)))));
        continue;
      }
    }
    auto path = MirrorPathFor(*url, file.filename, sha256);
    if (!path) {
      plan.rejected.push_back(Reject(name, file, path.error()));
      continue;
    }
    if (!listed.insert(path->str()).second) {
      plan.rejected.push_back(Reject(
          name, file, MakeError(Errc::kInvalidFile, "listed twice on the page")));
      continue;
    }

    PlannedFile planned{.upstream = file,
                        .url = std::move(*url),
                        .path = std::move(*path),
                        .sha256 = sha256,
                        .verify = ExtraDigest(file.hashes),
                        .stored = false,
                        .metadata = std::nullopt};
    // Without a declared sha256 the recorded file at this path stands: the path is the upstream's
    // content address (PyPI's layout) or comes from the file's URL (other layouts, MirrorPathFor),
    // and nothing else could tell a changed file.
    if (auto it = stored_by_path.find(planned.path.str()); it != stored_by_path.end()) {
      planned.stored = !sha256 || it->second->sha256 == *sha256;
    }

    if (file.core_metadata.available) {
      auto metadata_path = MetadataPathFor(planned.path);
      auto metadata_url = net::Url::Parse(
          planned.url.str() + ".metadata",
          planned.url.is_file() ? net::Schemes::kHttpOrFile : net::Schemes::kHttp);
      if (metadata_path && metadata_url) {
        std::optional<store::Sha256Digest> metadata_sha256;
        if (auto it = file.core_metadata.hashes.find("sha256");
            it != file.core_metadata.hashes.end()) {
          metadata_sha256 = store::Sha256Digest::FromHex(it->second);
        }
        PlannedMetadata metadata{.url = std::move(*metadata_url),
                                 .path = std::move(*metadata_path),
                                 .sha256 = metadata_sha256,
                                 .stored = false};
        if (auto it = stored_by_path.find(metadata.path.str()); it != stored_by_path.end()) {
          metadata.stored = !metadata_sha256 || it->second->sha256 == *metadata_sha256;
        }
        listed.insert(metadata.path.str());
        planned.metadata = std::move(metadata);
      }
    }
    plan.files.push_back(std::move(planned));
  }

  // PEP 700: `versions` covers every file's version. An index without it (API 1.0) gets one
  // derived from the file names, so the JSON page cistern writes stays valid.
  if (plan.versions.empty()) {
    std::set<std::string> versions;
    for (const PlannedFile& file : plan.files) {
      if (auto version = VersionFromFilename(file.upstream.filename)) {
        versions.insert(std::move(*version));
      }
    }
    plan.versions.assign(versions.begin(), versions.end());
  }

  for (const store::FileRecord& record : stored) {
    if (!listed.contains(record.path)) {
      plan.remove.push_back(record.path);
    }
  }
  return plan;
}

}  // namespace cistern::engine
