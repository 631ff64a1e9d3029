#include "engine/internal/partial_record.h"

#include <charconv>

namespace cistern::engine::internal {
namespace {

constexpr std::string_view kVersionLine = "cistern-partial 1";

bool IsSafeValue(std::string_view value) {
  return value.find_first_of("\r\n") == std::string_view::npos;
}

}  // namespace

std::string EncodePartialRecord(const PartialRecord& record) {
  std::string out(kVersionLine);
  out += '\n';
  auto line = [&out](std::string_view name, std::string_view value) {
    if (!value.empty() && IsSafeValue(value)) {
      out.append(name).append(" ").append(value).append("\n");
    }
  };
  line("url", record.url);
  if (record.size) {
    line("size", std::to_string(*record.size));
  }
  line("sha256", record.sha256.Hex());
  line("etag", record.etag);
  line("last-modified", record.last_modified);
  return out;
}

std::optional<PartialRecord> DecodePartialRecord(std::string_view text) {
  if (!text.starts_with(kVersionLine) || text.size() <= kVersionLine.size() ||
      text[kVersionLine.size()] != '\n') {
    return std::nullopt;
  }
  text.remove_prefix(kVersionLine.size() + 1);
  PartialRecord record;
  bool has_sha256 = false;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    if (end == std::string_view::npos) {
      return std::nullopt;  // truncated: every line ends with a newline
    }
    const std::string_view line = text.substr(0, end);
    text.remove_prefix(end + 1);
    const size_t space = line.find(' ');
    if (space == std::string_view::npos) {
      return std::nullopt;
    }
    const std::string_view name = line.substr(0, space);
    const std::string_view value = line.substr(space + 1);
    if (name == "url") {
      record.url = std::string(value);
    } else if (name == "size") {
      uint64_t size = 0;
      const auto [ptr, error] = std::from_chars(value.data(), value.data() + value.size(), size);
      if (error != std::errc() || ptr != value.data() + value.size()) {
        return std::nullopt;
      }
      record.size = size;
    } else if (name == "sha256") {
      auto digest = store::Sha256Digest::FromHex(value);
      if (!digest) {
        return std::nullopt;
      }
      record.sha256 = *digest;
      has_sha256 = true;
    } else if (name == "etag") {
      record.etag = std::string(value);
    } else if (name == "last-modified") {
      record.last_modified = std::string(value);
    }
  }
  if (record.url.empty() || !has_sha256) {
    return std::nullopt;
  }
  return record;
}

}  // namespace cistern::engine::internal
