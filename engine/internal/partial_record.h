#pragma once

// The record kept beside a resumable partial (store::Tree::WriteResumableRecord; the store does
// not read it): what a later attempt, in this run or the next, needs to resume the download
// safely. Text, one "name value" per line, after a version line:
//
//   cistern-partial 1
//   url https://files.example/packages/aa/bb/x-1.0.whl
//   size 4194304
//   sha256 <64 hex digits>
//   etag "5f1c-400000"
//   last-modified Tue, 01 Oct 2024 10:00:00 GMT
//
// `size`, `etag` and `last-modified` are optional. Unknown names are ignored (a later version may
// add some); an unknown version, a missing url or sha256, or a malformed value make the record
// unreadable, and an unreadable record means "start from zero".

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "store/digest.h"

namespace cistern::engine::internal {

struct PartialRecord {
  std::string url;               // what the bytes were fetched from
  std::optional<uint64_t> size;  // the declared size
  store::Sha256Digest sha256;    // the declared digest the whole file must have
  std::string etag;              // a strong ETag as received (quotes included); empty: none
  std::string last_modified;     // a Last-Modified usable for If-Range; empty: none

  // The If-Range value for resuming: the ETag, else the Last-Modified date; empty when the
  // partial cannot be resumed safely (no strong validator).
  const std::string& validator() const { return etag.empty() ? last_modified : etag; }

  friend bool operator==(const PartialRecord&, const PartialRecord&) = default;
};

std::string EncodePartialRecord(const PartialRecord& record);

// nullopt for anything EncodePartialRecord could not have written (see above).
std::optional<PartialRecord> DecodePartialRecord(std::string_view text);

}  // namespace cistern::engine::internal
