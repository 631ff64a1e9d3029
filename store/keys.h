// The key layout of the metadata database: column family names and how keys are built and
// parsed. This is the only file that knows it (format.md, "Keys").
//
//   projects       <name>                                   -> ProjectRecord
//   files          <path>                                   -> FileRecord
//   project_files  <name> '\0' <path>                       -> empty (index: a project's files)
//   journal        <generation: uint64 big-endian> <path>   -> journal value
//   meta           <key>                                    -> UTF-8 text
//   removals       <path>                                   -> empty (committed, not yet unlinked)
//
// Big-endian generations make byte order equal numeric order, so a scan from generation G visits
// entries in generation order. Names never contain '\0' (enforced by WriteBatch), so the prefix
// "<name>\0" matches that project's files and no other project's.
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "store/records.h"

namespace cistern::store::keys {

inline constexpr std::string_view kProjectsFamily = "projects";
inline constexpr std::string_view kFilesFamily = "files";
inline constexpr std::string_view kProjectFilesFamily = "project_files";
inline constexpr std::string_view kJournalFamily = "journal";
inline constexpr std::string_view kMetaFamily = "meta";
inline constexpr std::string_view kRemovalsFamily = "removals";

// meta keys
inline constexpr std::string_view kSchemaVersion = "schema_version";

inline constexpr size_t kGenerationBytes = 8;

std::string ProjectKey(std::string_view name);
std::string FileKey(std::string_view path);

// "<project>\0<path>".
std::string ProjectFileKey(std::string_view project, std::string_view path);
// "<project>\0": every key of that project's files starts with it.
std::string ProjectFilePrefix(std::string_view project);
// The path part of a project_files key that starts with `prefix`; nullopt if it does not.
std::optional<std::string_view> PathFromProjectFileKey(std::string_view key,
                                                       std::string_view prefix);

// Eight big-endian bytes of `generation`, then `path`.
std::string JournalKey(Generation generation, std::string_view path);
// The first key at or after every entry of `generation` (the eight bytes alone).
std::string JournalSeekKey(Generation generation);

struct JournalKeyParts {
  Generation generation{};
  std::string_view path;  // Lifetime: a view into the parsed key
};
// Errors: Errc::kCorrupt if the key is shorter than `kGenerationBytes`.
[[nodiscard]] Result<JournalKeyParts> ParseJournalKey(std::string_view key);

}  // namespace cistern::store::keys
