#include "store/keys.h"

#include <cstdint>

namespace cistern::store::keys {
namespace {

constexpr char kProjectFileSeparator = '\0';

void AppendBigEndian(std::string& out, uint64_t value) {
  for (size_t i = 0; i < kGenerationBytes; ++i) {
    const size_t shift = 8 * (kGenerationBytes - 1 - i);
    out.push_back(static_cast<char>(static_cast<uint8_t>(value >> shift)));
  }
}

}  // namespace

std::string ProjectKey(std::string_view name) { return std::string(name); }

std::string FileKey(std::string_view path) { return std::string(path); }

std::string ProjectFileKey(std::string_view project, std::string_view path) {
  std::string key = ProjectFilePrefix(project);
  key.append(path);
  return key;
}

std::string ProjectFilePrefix(std::string_view project) {
  std::string key(project);
  key.push_back(kProjectFileSeparator);
  return key;
}

std::optional<std::string_view> PathFromProjectFileKey(std::string_view key,
                                                       std::string_view prefix) {
  if (!key.starts_with(prefix)) {
    return std::nullopt;
  }
  return key.substr(prefix.size());
}

std::string JournalKey(Generation generation, std::string_view path) {
  std::string key = JournalSeekKey(generation);
  key.append(path);
  return key;
}

std::string JournalSeekKey(Generation generation) {
  std::string key;
  key.reserve(kGenerationBytes);
  AppendBigEndian(key, static_cast<uint64_t>(generation));
  return key;
}

Result<JournalKeyParts> ParseJournalKey(std::string_view key) {
  if (key.size() < kGenerationBytes) {
    return tl::unexpected(MakeError(Errc::kCorrupt, "journal key of " + std::to_string(key.size()) +
                                                        " bytes is shorter than a generation"));
  }
  uint64_t value = 0;
  for (size_t i = 0; i < kGenerationBytes; ++i) {
    value = (value << 8) | static_cast<uint8_t>(key[i]);
  }
  return JournalKeyParts{static_cast<Generation>(value), key.substr(kGenerationBytes)};
}

}  // namespace cistern::store::keys
