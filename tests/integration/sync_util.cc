#include "tests/integration/sync_util.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "store/bytes.h"
#include "store/digest.h"
#include "tests/support/run_task.h"

namespace cistern::testing {

namespace fs = std::filesystem;

std::string Sha256Hex(std::string_view bytes) {
  return store::Sha256Of(store::AsBytes(bytes)).Hex();
}

std::map<std::string, std::string> Snapshot(const fs::path& root) {
  std::map<std::string, std::string> files;
  if (!fs::exists(root)) {
    return files;
  }
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_regular_file()) {
      files[fs::relative(entry.path(), root).string()] = ReadFile(entry.path());
    }
  }
  return files;
}

std::string DescribeDifferences(const std::map<std::string, std::string>& expected,
                                const std::map<std::string, std::string>& actual) {
  std::string out;
  size_t shown = 0;
  auto note = [&](std::string_view what, const std::string& path) {
    if (++shown <= 20) {
      out += fmt::format("  {} {}\n", what, path);
    }
  };
  for (const auto& [path, bytes] : expected) {
    auto it = actual.find(path);
    if (it == actual.end()) {
      note("missing", path);
    } else if (it->second != bytes) {
      note("differs", path);
    }
  }
  for (const auto& [path, bytes] : actual) {
    if (!expected.contains(path)) {
      note("extra  ", path);
    }
  }
  if (shown > 20) {
    out += fmt::format("  ... {} differences in all\n", shown);
  }
  return out;
}

engine::SyncOptions SyncOptionsFor(const fs::path& mirror, const NginxUpstream& upstream) {
  engine::SyncOptions options;
  options.mirror = mirror;
  options.upstream = upstream.https_url();
  options.client.ca_files = {upstream.ca_file()};
  options.page_backoff = std::chrono::milliseconds(20);
  options.download.backoff = std::chrono::milliseconds(20);
  return options;
}

std::optional<engine::Result<engine::SyncReport>> Sync(engine::SyncOptions options) {
  engine::SyncProgress progress;
  return RunTask(engine::RunSync(std::move(options), progress));
}

engine::SyncReport SyncOk(engine::SyncOptions options) {
  auto result = Sync(std::move(options));
  if (!result) {
    ADD_FAILURE() << "sync did not finish";
    return {};
  }
  EXPECT_TRUE(result->has_value()) << result->error().Message();
  return result->has_value() ? std::move(**result) : engine::SyncReport{};
}

std::set<std::string> DeferredProjects(const engine::SyncReport& report) {
  std::set<std::string> names;
  for (const engine::Error& error : report.deferred) {
    names.insert(error.project);
  }
  return names;
}

}  // namespace cistern::testing
