#include "tests/integration/manifest.h"

#include <gtest/gtest.h>
#include <simdjson.h>

namespace cistern::testing {

Manifest LoadManifest(const std::string& path) {
  Manifest manifest;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto error = parser.load(path).get(root)) {
    ADD_FAILURE() << "cannot read " << path << ": " << simdjson::error_message(error);
    return manifest;
  }
  manifest.serial = root["serial"].get_int64().value_unsafe();
  simdjson::dom::array projects;
  if (auto error = root["projects"].get_array().get(projects)) {
    ADD_FAILURE() << path << ": no projects array: " << simdjson::error_message(error);
    return manifest;
  }
  for (simdjson::dom::element project : projects) {
    ManifestProject out;
    out.name = std::string(project["name"].get_string().value_unsafe());
    out.normalized = std::string(project["normalized"].get_string().value_unsafe());
    out.serial = project["serial"].get_int64().value_unsafe();
    simdjson::dom::array files;
    if (project["files"].get_array().get(files) != simdjson::SUCCESS) {
      ADD_FAILURE() << path << ": project " << out.normalized << " has no files array";
      return manifest;
    }
    for (simdjson::dom::element file : files) {
      ManifestFile f;
      f.filename = std::string(file["filename"].get_string().value_unsafe());
      f.path = std::string(file["path"].get_string().value_unsafe());
      f.sha256 = std::string(file["sha256"].get_string().value_unsafe());
      f.size = file["size"].get_uint64().value_unsafe();
      std::string_view metadata;
      if (file["metadata_sha256"].get_string().get(metadata) == simdjson::SUCCESS) {
        f.metadata_sha256 = std::string(metadata);
      }
      bool yanked_flag = false;
      std::string_view reason;
      if (file["yanked"].get_bool().get(yanked_flag) == simdjson::SUCCESS) {
        f.yanked = yanked_flag;
      } else if (file["yanked"].get_string().get(reason) == simdjson::SUCCESS) {
        f.yanked = true;
      }
      out.files.push_back(std::move(f));
    }
    manifest.projects.push_back(std::move(out));
  }
  simdjson::dom::object faults;
  if (root["faults"].get_object().get(faults) == simdjson::SUCCESS) {
    for (auto field : faults) {
      manifest.fault_projects.emplace_back(field.key);
    }
  }
  return manifest;
}

}  // namespace cistern::testing
