#pragma once

// Reads the test upstream's manifest.json (tools/test_upstream/README.md): what a correct mirror
// of the generated upstream must hold.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cistern::testing {

struct ManifestFile {
  std::string filename;
  std::string path;  // relative to the tree, "packages/aa/bb/<60>/<filename>"
  std::string sha256;
  uint64_t size = 0;
  std::optional<std::string> metadata_sha256;
  bool yanked = false;
};

struct ManifestProject {
  std::string name;  // display
  std::string normalized;
  int64_t serial = 0;
  std::vector<ManifestFile> files;
};

struct Manifest {
  int64_t serial = 0;
  std::vector<ManifestProject> projects;
  std::vector<std::string> fault_projects;  // names of the fault-* projects
};

// Fails the current test (and returns an empty manifest) when the file cannot be read.
Manifest LoadManifest(const std::string& path);

}  // namespace cistern::testing
