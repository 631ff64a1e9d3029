#include "store/records.h"

#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <utility>

namespace cistern::store {
namespace {

class Writer {
 public:
  explicit Writer(uint8_t version) { out_.push_back(static_cast<char>(version)); }

  void U8(uint8_t value) { out_.push_back(static_cast<char>(value)); }

  void U64(uint64_t value) {
    for (int i = 0; i < 8; ++i) {
      out_.push_back(static_cast<char>(static_cast<uint8_t>(value >> (8 * i))));
    }
  }

  void String(std::string_view value) {
    // Paths are at most 4 KiB and URLs a few KiB; 4 GiB cannot come from a valid caller.
    const uint64_t size = value.size();
    if (size > std::numeric_limits<uint32_t>::max()) {
      std::abort();
    }
    for (int i = 0; i < 4; ++i) {
      out_.push_back(static_cast<char>(static_cast<uint8_t>(size >> (8 * i))));
    }
    out_.append(value);
  }

  void Digest(const Sha256Digest& digest) {
    for (const uint8_t b : digest.bytes()) {
      out_.push_back(static_cast<char>(b));
    }
  }

  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

// Reads fields in order; the first failure sticks and names the field.
class Reader {
 public:
  Reader(std::string_view bytes, std::string what) : bytes_(bytes), what_(std::move(what)) {}

  bool ok() const { return !error_.has_value(); }

  // Checks the version byte against `expected`.
  bool Version(uint8_t expected) { return Version(expected, expected).has_value(); }

  // Reads a version byte in [oldest, newest]; nullopt (and the failure) otherwise.
  std::optional<uint8_t> Version(uint8_t oldest, uint8_t newest) {
    uint8_t version = 0;
    if (!U8("version", version)) {
      return std::nullopt;
    }
    if (version < oldest || version > newest) {
      Fail("unknown version " + std::to_string(version) + " (this build reads " +
           (oldest == newest ? std::to_string(newest)
                             : std::to_string(oldest) + " to " + std::to_string(newest)) +
           ")");
      return std::nullopt;
    }
    return version;
  }

  bool U8(std::string_view field, uint8_t& value) {
    if (!Need(field, 1)) {
      return false;
    }
    value = static_cast<uint8_t>(bytes_[pos_++]);
    return true;
  }

  bool U64(std::string_view field, uint64_t& value) {
    if (!Need(field, 8)) {
      return false;
    }
    value = 0;
    for (size_t i = 0; i < 8; ++i) {
      value |= static_cast<uint64_t>(static_cast<uint8_t>(bytes_[pos_ + i])) << (8 * i);
    }
    pos_ += 8;
    return true;
  }

  bool String(std::string_view field, std::string& value) {
    if (!Need(field, 4)) {
      return false;
    }
    size_t size = 0;
    for (size_t i = 0; i < 4; ++i) {
      size |= static_cast<size_t>(static_cast<uint8_t>(bytes_[pos_ + i])) << (8 * i);
    }
    pos_ += 4;
    if (!Need(field, size)) {
      return false;
    }
    value.assign(bytes_.substr(pos_, size));
    pos_ += size;
    return true;
  }

  bool Digest(std::string_view field, Sha256Digest& digest) {
    if (!Need(field, Sha256Digest::kSize)) {
      return false;
    }
    Sha256Digest::Bytes bytes{};
    for (size_t i = 0; i < bytes.size(); ++i) {
      bytes[i] = static_cast<uint8_t>(bytes_[pos_ + i]);
    }
    pos_ += bytes.size();
    digest = Sha256Digest(bytes);
    return true;
  }

  bool Fail(std::string reason) {
    if (!error_) {
      error_ = MakeError(Errc::kCorrupt, what_ + " value: " + std::move(reason));
    }
    return false;
  }

  // Call after the last field: rejects trailing bytes and returns the sticky error, if any.
  std::optional<Error> Finish() {
    if (!error_ && pos_ != bytes_.size()) {
      Fail(std::to_string(bytes_.size() - pos_) + " trailing bytes");
    }
    return error_;
  }

 private:
  bool Need(std::string_view field, size_t count) {
    if (error_) {
      return false;
    }
    if (bytes_.size() - pos_ < count) {
      return Fail("truncated in field " + std::string(field) + " (" +
                  std::to_string(bytes_.size()) + " bytes)");
    }
    return true;
  }

  std::string_view bytes_;
  std::string what_;
  size_t pos_ = 0;
  std::optional<Error> error_;
};

}  // namespace

std::string Encode(const ProjectRecord& record) {
  Writer w(kProjectRecordVersion);
  w.String(record.name);
  w.String(record.display_name);
  w.U64(static_cast<uint64_t>(static_cast<int64_t>(record.serial)));
  w.U64(record.page_hash);
  w.U64(static_cast<uint64_t>(record.generation));
  w.U64(record.files);
  w.U64(record.bytes);
  return w.Take();
}

std::string Encode(const FileRecord& record) {
  Writer w(kFileRecordVersion);
  w.String(record.path);
  w.String(record.project);
  w.Digest(record.sha256);
  w.U64(record.size);
  w.String(record.url);
  w.U8(static_cast<uint8_t>(record.state));
  w.U64(static_cast<uint64_t>(record.generation));
  return w.Take();
}

std::string EncodeJournalValue(const JournalEntry& entry) {
  Writer w(kJournalValueVersion);
  w.U8(static_cast<uint8_t>(entry.action));
  w.U64(entry.size);
  w.U8(entry.sha256.has_value() ? 1 : 0);
  if (entry.sha256) {
    w.Digest(*entry.sha256);
  }
  return w.Take();
}

Result<ProjectRecord> DecodeProjectRecord(std::string_view bytes) {
  Reader r(bytes, "project record");
  ProjectRecord record;
  uint64_t serial = 0;
  uint64_t generation = 0;
  // Each read after a failure is a no-op, so the first failure is the one reported.
  const std::optional<uint8_t> version = r.Version(1, kProjectRecordVersion);
  r.String("name", record.name);
  r.String("display_name", record.display_name);
  r.U64("serial", serial);
  r.U64("page_hash", record.page_hash);
  r.U64("generation", generation);
  record.counted = version.value_or(0) >= 2;
  if (record.counted) {
    r.U64("files", record.files);
    r.U64("bytes", record.bytes);
  }
  if (auto error = r.Finish()) {
    return tl::unexpected(std::move(*error));
  }
  record.serial = static_cast<Serial>(static_cast<int64_t>(serial));
  record.generation = static_cast<Generation>(generation);
  return record;
}

Result<FileRecord> DecodeFileRecord(std::string_view bytes) {
  Reader r(bytes, "file record");
  FileRecord record;
  uint8_t state = 0;
  uint64_t generation = 0;
  r.Version(kFileRecordVersion);
  r.String("path", record.path);
  r.String("project", record.project);
  r.Digest("sha256", record.sha256);
  r.U64("size", record.size);
  r.String("url", record.url);
  r.U8("state", state);
  r.U64("generation", generation);
  if (r.ok() && state != static_cast<uint8_t>(FileState::kPresent)) {
    r.Fail("unknown file state " + std::to_string(state));
  }
  if (auto error = r.Finish()) {
    return tl::unexpected(std::move(*error));
  }
  record.state = static_cast<FileState>(state);
  record.generation = static_cast<Generation>(generation);
  return record;
}

Result<JournalEntry> DecodeJournalValue(std::string_view bytes, Generation generation,
                                        std::string path) {
  Reader r(bytes,
           "journal entry " + std::to_string(static_cast<uint64_t>(generation)) + " " + path);
  JournalEntry entry;
  uint8_t action = 0;
  uint8_t has_sha256 = 0;
  r.Version(kJournalValueVersion);
  r.U8("action", action);
  r.U64("size", entry.size);
  r.U8("has_sha256", has_sha256);
  if (r.ok()) {
    if (action < static_cast<uint8_t>(JournalAction::kAdded) ||
        action > static_cast<uint8_t>(JournalAction::kRemoved)) {
      r.Fail("unknown journal action " + std::to_string(action));
    } else if (has_sha256 > 1) {
      r.Fail("bad has_sha256 flag " + std::to_string(has_sha256));
    } else if (has_sha256 == 1) {
      Sha256Digest digest;
      if (r.Digest("sha256", digest)) {
        entry.sha256 = digest;
      }
    }
  }
  if (auto error = r.Finish()) {
    return tl::unexpected(std::move(*error));
  }
  entry.generation = generation;
  entry.path = std::move(path);
  entry.action = static_cast<JournalAction>(action);
  return entry;
}

std::string_view JournalActionName(JournalAction action) {
  switch (action) {
    case JournalAction::kAdded:
      return "added";
    case JournalAction::kReplaced:
      return "replaced";
    case JournalAction::kRemoved:
      return "removed";
  }
  return "unknown";
}

}  // namespace cistern::store
