// Nightly incremental syncs against real nginx serving successive generations of the test
// upstream (generate.py --evolve-from): an incremental sync gives byte for byte the tree a fresh
// sync of the new generation gives, and journals exactly the paths the generator changed;
// projects gone from the index are removed; the deletion guard refuses an index that lost most
// projects and leaves the mirror untouched.

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <simdjson.h>

#include "engine/status.h"
#include "engine/sync_run.h"
#include "store/metadata_db.h"
#include "tests/integration/manifest.h"
#include "tests/integration/sync_util.h"
#include "tests/support/nginx_upstream.h"

namespace cistern {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using testing::DescribeDifferences;
using testing::NginxUpstream;
using testing::NginxUpstreamOptions;
using testing::ReadFile;
using testing::RunCommand;
using testing::Snapshot;
using testing::SourceDir;
using testing::Sync;
using testing::SyncOk;
using testing::SyncOptionsFor;
using testing::TempDir;

std::string Generator() { return SourceDir() + "/tools/test_upstream/generate.py"; }

// generate.py with `args`; a test failure (with its stderr) if it fails.
bool Generate(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"python3", Generator()};
  argv.insert(argv.end(), args.begin(), args.end());
  const CommandResult result = RunCommand(argv);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  return result.exit_code == 0;
}

std::unique_ptr<NginxUpstream> Serve(const fs::path& generation) {
  NginxUpstreamOptions options;
  options.tree = generation.string();
  return NginxUpstream::Start(options);
}

// What changes.json says changed in the served tree, as the mirror must journal it: paths under
// simple/ and packages/ (the mirror does not copy the legacy pypi/ JSON API).
struct ExpectedChanges {
  std::map<std::string, store::JournalAction> paths;
  std::set<std::string> deleted_projects;
  std::set<std::string> new_projects;
  std::set<std::string> quarantined_projects;
};

ExpectedChanges LoadChanges(const fs::path& generation) {
  ExpectedChanges expected;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto error = parser.load((generation / "changes.json").string()).get(root)) {
    ADD_FAILURE() << "cannot read changes.json: " << simdjson::error_message(error);
    return expected;
  }
  auto take = [&](const char* key, store::JournalAction action) {
    for (simdjson::dom::element path : root[key].get_array()) {
      const std::string text(path.get_string().value());
      if (text.starts_with("simple/") || text.starts_with("packages/")) {
        expected.paths[text] = action;
      }
    }
  };
  take("added_paths", store::JournalAction::kAdded);
  take("removed_paths", store::JournalAction::kRemoved);
  take("modified_paths", store::JournalAction::kReplaced);
  for (simdjson::dom::element name : root["deleted_projects"].get_array()) {
    expected.deleted_projects.emplace(name.get_string().value());
  }
  for (simdjson::dom::element name : root["new_projects"].get_array()) {
    expected.new_projects.emplace(name.get_string().value());
  }
  // PyPI leaves a quarantined project out of the index and keeps a page without files; a mirror
  // removes the project (a fresh sync would not hold it).
  for (simdjson::dom::element element : root["quarantined_projects"].get_array()) {
    const std::string name(element.get_string().value());
    expected.quarantined_projects.insert(name);
    for (const char* page : {"index.html", "index.v1_html", "index.v1_json"}) {
      expected.paths["simple/" + name + "/" + page] = store::JournalAction::kRemoved;
    }
  }
  return expected;
}

std::map<std::string, store::JournalAction> Journal(const fs::path& mirror, uint64_t generation) {
  std::map<std::string, store::JournalAction> journal;
  auto db = store::MetadataDb::OpenReadOnly(mirror / "state" / "db");
  if (!db) {
    ADD_FAILURE() << db.error().detail;
    return journal;
  }
  auto read =
      (*db)->ForEachJournal(store::Generation{generation}, [&](const store::JournalEntry& entry) {
        if (static_cast<uint64_t>(entry.generation) == generation) {
          journal[entry.path] = entry.action;
        }
        return true;
      });
  EXPECT_TRUE(read.has_value());
  return journal;
}

std::string DescribeJournalDifferences(const std::map<std::string, store::JournalAction>& expected,
                                       const std::map<std::string, store::JournalAction>& actual) {
  auto Name = [](store::JournalAction action) {
    return std::string(store::JournalActionName(action));
  };
  std::string out;
  for (const auto& [path, action] : expected) {
    auto it = actual.find(path);
    if (it == actual.end()) {
      out += "  not journaled: " + Name(action) + " " + path + "\n";
    } else if (it->second != action) {
      out += "  journaled " + Name(it->second) + " instead of " + Name(action) + ": " + path + "\n";
    }
  }
  for (const auto& [path, action] : actual) {
    if (!expected.contains(path)) {
      out += "  journaled but not changed: " + Name(action) + " " + path + "\n";
    }
  }
  return out;
}

TEST(SyncIncrementalTest, EachGenerationEqualsAFreshSyncAndJournalsExactlyTheChanges) {
  TempDir temp;
  const fs::path mirror = temp.path() / "mirror";
  const fs::path gen0 = temp.path() / "gen0";
  ASSERT_TRUE(Generate({"--out", gen0.string(), "--profile", "small", "--seed", "7"}));
  {
    auto upstream = Serve(gen0);
    ASSERT_NE(upstream, nullptr);
    const engine::SyncReport first = SyncOk(SyncOptionsFor(mirror, *upstream));
    EXPECT_TRUE(first.deferred.empty());
  }

  fs::path previous = gen0;
  for (int generation = 1; generation <= 2; ++generation) {
    SCOPED_TRACE("generation " + std::to_string(generation));
    const fs::path next = temp.path() / ("gen" + std::to_string(generation));
    ASSERT_TRUE(Generate({"--evolve-from", previous.string(), "--out", next.string(), "--seed",
                          std::to_string(40 + generation), "--changes", "24"}));
    const ExpectedChanges expected = LoadChanges(next);
    ASSERT_FALSE(expected.deleted_projects.empty()) << "the generator must delete a project";
    auto upstream = Serve(next);
    ASSERT_NE(upstream, nullptr);

    const engine::SyncReport report = SyncOk(SyncOptionsFor(mirror, *upstream));
    EXPECT_TRUE(report.deferred.empty());
    std::set<std::string> gone = expected.deleted_projects;
    gone.insert(expected.quarantined_projects.begin(), expected.quarantined_projects.end());
    EXPECT_EQ(report.projects_deleted, gone.size());
    for (const std::string& name : gone) {
      EXPECT_FALSE(fs::exists(mirror / "web/simple" / name)) << name;
      EXPECT_EQ(ReadFile(mirror / "web/simple/index.html").find("href=\"" + name + "/\""),
                std::string::npos)
          << name << " is still in the root index";
    }

    // Byte for byte what a fresh sync of this generation gives.
    const fs::path fresh = temp.path() / ("fresh" + std::to_string(generation));
    SyncOk(SyncOptionsFor(fresh, *upstream));
    const auto incremental_tree = Snapshot(mirror / "web");
    const auto fresh_tree = Snapshot(fresh / "web");
    EXPECT_TRUE(incremental_tree == fresh_tree)
        << "incremental (actual) vs fresh (expected):\n"
        << DescribeDifferences(fresh_tree, incremental_tree);
    EXPECT_TRUE(fs::is_empty(mirror / "incoming"));

    // `cistern status` counts exactly the package files on disk (kept per project record).
    uint64_t files = 0;
    uint64_t bytes = 0;
    for (const auto& [path, content] : incremental_tree) {
      if (path.starts_with("packages/")) {
        ++files;
        bytes += content.size();
      }
    }
    auto status = engine::ReadStatus(mirror);
    ASSERT_TRUE(status.has_value()) << status.error().Message();
    EXPECT_EQ(status->files, files);
    EXPECT_EQ(status->bytes, bytes);

    // The journal of this run lists exactly what the generator changed.
    const auto journal = Journal(mirror, report.generation);
    EXPECT_TRUE(journal == expected.paths)
        << "journal of generation " << report.generation << " vs changes.json:\n"
        << DescribeJournalDifferences(expected.paths, journal);

    // Nothing changed upstream: the next run changes nothing and journals nothing.
    const engine::SyncReport again = SyncOk(SyncOptionsFor(mirror, *upstream));
    EXPECT_EQ(again.projects_changed, 0u);
    EXPECT_EQ(again.files_fetched, 0u);
    EXPECT_TRUE(Journal(mirror, again.generation).empty());
    EXPECT_TRUE(Snapshot(mirror / "web") == incremental_tree);
    previous = next;
  }
}

// Copies the generation at `from` to `to` with hard links (cheap, and the original is never
// written: files replaced in the copy are unlinked first).
void LinkCopy(const fs::path& from, const fs::path& to) {
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::create_hard_links);
}

// Rewrites the copy's root index (JSON and HTML) to list only `keep` of its projects.
void KeepOnlyInRoot(const fs::path& generation, const std::set<std::string>& keep) {
  const std::string script = R"(
import json, os, sys
tree, keep = sys.argv[1], set(sys.argv[2:])
path = os.path.join(tree, "simple", "index.v1_json")
root = json.load(open(path))
root["projects"] = [p for p in root["projects"] if p["name"] in keep or
                    p["name"].lower().replace("_", "-").replace(".", "-") in keep]
os.unlink(path)
json.dump(root, open(path, "w"))
for name in ("index.html", "index.v1_html"):
    html_path = os.path.join(tree, "simple", name)
    lines = [l for l in open(html_path) if "<a " not in l or any(f'/{k}/"' in l for k in keep)]
    os.unlink(html_path)
    open(html_path, "w").writelines(lines)
)";
  std::vector<std::string> argv = {"python3", "-c", script, (generation / "tree").string()};
  argv.insert(argv.end(), keep.begin(), keep.end());
  const CommandResult result = RunCommand(argv);
  ASSERT_EQ(result.exit_code, 0) << result.err;
}

TEST(SyncDeletionGuardTest, AnIndexThatLostMostProjectsIsRefusedUntilAllowedAndPagesConfirm) {
  TempDir temp;
  const fs::path mirror = temp.path() / "mirror";
  const fs::path gen0 = temp.path() / "gen0";
  ASSERT_TRUE(Generate({"--out", gen0.string(), "--profile", "small", "--seed", "9"}));
  const testing::Manifest manifest = testing::LoadManifest((gen0 / "manifest.json").string());
  {
    auto upstream = Serve(gen0);
    ASSERT_NE(upstream, nullptr);
    SyncOk(SyncOptionsFor(mirror, *upstream));
  }
  const auto before = Snapshot(mirror / "web");

  // The index lost all but three projects; their pages still answer.
  const std::set<std::string> keep = {"chain-a", "chain-b", "chain-c"};
  const fs::path glitch = temp.path() / "glitch";
  LinkCopy(gen0, glitch);
  KeepOnlyInRoot(glitch, keep);
  auto upstream = Serve(glitch);
  ASSERT_NE(upstream, nullptr);

  auto refused = Sync(SyncOptionsFor(mirror, *upstream));
  ASSERT_TRUE(refused.has_value());
  ASSERT_FALSE(refused->has_value());
  EXPECT_EQ(refused->error().code, engine::Errc::kDeletionGuard);
  EXPECT_NE(refused->error().detail.find("--allow-deletions"), std::string::npos)
      << refused->error().detail;
  EXPECT_NE(refused->error().detail.find("max_delete_percent"), std::string::npos);
  EXPECT_TRUE(Snapshot(mirror / "web") == before);

  // Allowed, but every page still answers: an index glitch, so nothing is deleted.
  engine::SyncOptions allowed = SyncOptionsFor(mirror, *upstream);
  allowed.allow_deletions = true;
  const engine::SyncReport kept = SyncOk(allowed);
  EXPECT_EQ(kept.projects_deleted, 0u);
  EXPECT_GE(kept.warnings.size(), manifest.projects.size() - keep.size());
  EXPECT_TRUE(Snapshot(mirror / "web") == before)
      << DescribeDifferences(before, Snapshot(mirror / "web"));

  // Now the pages are gone as well (404): the projects go, pages first, then their files.
  for (const auto& project : manifest.projects) {
    if (!keep.contains(project.normalized)) {
      fs::remove_all(glitch / "tree/simple" / project.normalized);
    }
  }
  const engine::SyncReport deleted = SyncOk(allowed);
  EXPECT_EQ(deleted.projects_deleted, manifest.projects.size() - keep.size());
  std::set<std::string> expected_files;
  for (const auto& project : manifest.projects) {
    const bool kept_project = keep.contains(project.normalized);
    EXPECT_EQ(fs::exists(mirror / "web/simple" / project.normalized), kept_project)
        << project.normalized;
    for (const auto& file : project.files) {
      EXPECT_EQ(fs::exists(mirror / "web" / file.path), kept_project) << file.path;
    }
  }
  // Nothing unreferenced is left: every package file belongs to a kept project.
  for (const auto& [path, bytes] : Snapshot(mirror / "web/packages")) {
    bool owned = false;
    for (const auto& project : manifest.projects) {
      for (const auto& file : project.files) {
        owned |= keep.contains(project.normalized) &&
                 ("packages/" + path == file.path || "packages/" + path == file.path + ".metadata");
      }
    }
    EXPECT_TRUE(owned) << "left behind: packages/" << path;
  }
  const std::string root = ReadFile(mirror / "web/simple/index.html");
  for (const auto& project : manifest.projects) {
    EXPECT_EQ(root.find("href=\"" + project.normalized + "/\"") != std::string::npos,
              keep.contains(project.normalized))
        << project.normalized;
  }
}

}  // namespace
}  // namespace cistern
