// TempDir: a fresh directory for one test, removed when the test passed and kept (with its path
// printed) when it failed, so the state can be inspected. Local to the store tests so they do not
// depend on tests/support while it is being written.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace cistern::store::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::filesystem::path& child) const {
    return path_ / child;
  }

 private:
  std::filesystem::path path_;
};

// Writes `content` to `path` with plain stdio (not the code under test).
void WriteTextFile(const std::filesystem::path& path, const std::string& content);
// Reads all of `path`; returns "<missing>" if it cannot be opened.
std::string ReadTextFile(const std::filesystem::path& path);
// Names of the entries of `dir`, sorted.
std::vector<std::string> ListDir(const std::filesystem::path& dir);

}  // namespace cistern::store::testing
