// The values stored in the metadata database: `ProjectRecord`, `FileRecord` and `JournalEntry`,
// and their versioned binary encoding.
//
// Encoding (format.md, "Values"): a version byte, then the fields in declaration order;
// integers are fixed-width little-endian, strings are a uint32 little-endian length followed by
// the bytes. Decoders reject an unknown version, a truncated value, trailing bytes and
// out-of-range enumerators with Errc::kCorrupt, so a damaged database is reported, never
// misread. New fields mean a new version; decoders keep reading every older version.
// Thread safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "store/digest.h"
#include "store/error.h"

namespace cistern::store {

// The upstream index's serial for a project (PyPI's `_last-serial`).
enum class Serial : int64_t {};
// A sync run's number; each committed change is recorded under the generation that made it.
enum class Generation : uint64_t {};

enum class FileState : uint8_t { kPresent = 1 };

struct FileRecord {
  std::string path;     // RelativePath string under web/, e.g. "packages/ab/cd/x-1.0.tar.gz"
  std::string project;  // normalized name of the owning project; must not contain '\0'
  Sha256Digest sha256;
  uint64_t size = 0;  // bytes
  std::string url;    // where it was fetched from
  FileState state = FileState::kPresent;
  Generation generation{};  // the generation that last wrote this record

  friend bool operator==(const FileRecord&, const FileRecord&) = default;
};

struct ProjectRecord {
  std::string name;  // normalized (PEP 503); the key; must not be empty or contain '\0'
  std::string display_name;
  Serial serial{};
  uint64_t page_hash = 0;  // XXH3-64 of the rendered page bytes, to skip unchanged rewrites
  Generation generation{};
  // What the committed page serves: its file records (.metadata included) and their bytes, so
  // `cistern status` sums projects instead of scanning every file. A version 1 record has none:
  // `counted` is false.
  uint64_t files = 0;
  uint64_t bytes = 0;
  bool counted = true;

  friend bool operator==(const ProjectRecord&, const ProjectRecord&) = default;
};

enum class JournalAction : uint8_t { kAdded = 1, kReplaced = 2, kRemoved = 3 };

// "added", "replaced", "removed" (as `cistern log` prints them); "unknown" for other values.
std::string_view JournalActionName(JournalAction action);

struct JournalEntry {
  Generation generation{};
  std::string path;
  JournalAction action = JournalAction::kAdded;
  uint64_t size = 0;                   // bytes after the change; 0 for kRemoved
  std::optional<Sha256Digest> sha256;  // after the change; usually nullopt for kRemoved

  friend bool operator==(const JournalEntry&, const JournalEntry&) = default;
};

// Current encoding versions (the first byte of each value).
inline constexpr uint8_t kProjectRecordVersion = 2;  // still reads 1
inline constexpr uint8_t kFileRecordVersion = 1;
inline constexpr uint8_t kJournalValueVersion = 1;

std::string Encode(const ProjectRecord& record);
std::string Encode(const FileRecord& record);

// Encodes the value part of a journal entry: action, size and digest. `generation` and `path`
// live in the key (keys.h) and are not repeated.
std::string EncodeJournalValue(const JournalEntry& entry);

// Errors: Errc::kCorrupt naming what is wrong (version, truncation, trailing bytes, enum value).
[[nodiscard]] Result<ProjectRecord> DecodeProjectRecord(std::string_view bytes);
[[nodiscard]] Result<FileRecord> DecodeFileRecord(std::string_view bytes);

// Decodes a journal value; `generation` and `path` come from the entry's key.
// Errors: Errc::kCorrupt.
[[nodiscard]] Result<JournalEntry> DecodeJournalValue(std::string_view bytes, Generation generation,
                                                      std::string path);

}  // namespace cistern::store
