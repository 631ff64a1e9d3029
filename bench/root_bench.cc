// The root index at PyPI's size (740,000 projects), step by step as a nightly run meets it:
// ParseRoot is in simple_json_bench.cc; here the names are validated and sorted, the projects
// family is scanned (the serial diff is one merge-join over that scan), and the root pages are
// rendered (a run that changed the root writes them). A nightly no-change run does the first two.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "bench/generate.h"
#include "engine/pypi/project_name.h"
#include "engine/pypi/simple_json.h"
#include "engine/render/root_index.h"
#include "store/metadata_db.h"

namespace cistern::bench {
namespace {

std::vector<engine::IndexEntry> RootEntries(size_t projects) {
  std::string body = GenerateRootJson(projects);
  engine::SimpleJsonParser parser;
  auto root = parser.ParseRoot(body);
  return root ? std::move(root->projects) : std::vector<engine::IndexEntry>{};
}

std::vector<engine::RootEntry> MirroredEntries(size_t projects) {
  std::vector<engine::RootEntry> entries;
  for (const engine::IndexEntry& entry : RootEntries(projects)) {
    entries.push_back(engine::RootEntry{engine::NormalizeProjectName(entry.name), entry.name,
                                        entry.last_serial.value_or(0)});
  }
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return entries;
}

// A database holding `projects` project records, made once per process in a temporary directory
// and removed at exit.
class SeededDb {
 public:
  static SeededDb& Get(size_t projects) {
    static SeededDb db(projects);
    return db;
  }
  ~SeededDb() {
    db_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  const store::MetadataDb* db() const { return db_.get(); }
  size_t projects() const { return projects_; }

 private:
  explicit SeededDb(size_t projects) : projects_(projects) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cistern-root-bench-XXXXXX");
    if (::mkdtemp(tmpl.data()) == nullptr) {
      return;
    }
    dir_ = tmpl;
    auto db = store::MetadataDb::Open(dir_ / "db");
    if (!db) {
      return;
    }
    const std::vector<engine::RootEntry> entries = MirroredEntries(projects);
    constexpr size_t kBatch = 10'000;
    for (size_t begin = 0; begin < entries.size(); begin += kBatch) {
      store::WriteBatch batch;
      for (size_t i = begin; i < std::min(entries.size(), begin + kBatch); ++i) {
        batch.PutProject(store::ProjectRecord{entries[i].name, entries[i].display_name,
                                              store::Serial{entries[i].serial}, 0x1234,
                                              store::Generation{1}});
      }
      if (!(*db)->Write(std::move(batch))) {
        return;
      }
    }
    db->reset();  // reopen: the scan reads what a later run finds on disk
    auto reopened = store::MetadataDb::Open(dir_ / "db");
    if (reopened) {
      db_ = std::move(*reopened);
    }
  }

  std::filesystem::path dir_;
  size_t projects_;
  std::unique_ptr<store::MetadataDb> db_;
};

// What the serial diff does with the parsed root before the scan: validate and normalize every
// name, then sort by normalized name (stable, as the sync does).
void BM_RootNamesNormalizeSort(benchmark::State& state) {
  const auto projects = static_cast<size_t>(state.range(0));
  const std::vector<engine::IndexEntry> entries = RootEntries(projects);
  struct Listed {
    engine::ProjectName name;
    const engine::IndexEntry* entry;
  };
  for (auto _ : state) {
    std::vector<Listed> listed;
    listed.reserve(entries.size());
    for (const engine::IndexEntry& entry : entries) {
      auto name = engine::ProjectName::Parse(entry.name);
      if (name) {
        listed.push_back(Listed{std::move(*name), &entry});
      }
    }
    std::stable_sort(listed.begin(), listed.end(), [](const Listed& a, const Listed& b) {
      return a.name.str() < b.name.str();
    });
    benchmark::DoNotOptimize(listed.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(projects));
}
BENCHMARK(BM_RootNamesNormalizeSort)
    ->ArgNames({"projects"})
    ->Arg(740'000)
    ->Unit(benchmark::kMillisecond);

// MetadataDb::ForEachProject over every record, decoding each (the diff's one scan).
void BM_ProjectsScan(benchmark::State& state) {
  const auto projects = static_cast<size_t>(state.range(0));
  const SeededDb& seeded = SeededDb::Get(projects);
  if (seeded.db() == nullptr || seeded.projects() != projects) {
    state.SkipWithError("cannot create the database");
    return;
  }
  for (auto _ : state) {
    size_t seen = 0;
    int64_t serials = 0;
    auto scanned = seeded.db()->ForEachProject([&](const store::ProjectRecord& record) {
      ++seen;
      serials += static_cast<int64_t>(record.serial);
      return true;
    });
    if (!scanned || seen != projects) {
      state.SkipWithError("scan failed");
      break;
    }
    benchmark::DoNotOptimize(serials);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(projects));
}
BENCHMARK(BM_ProjectsScan)->ArgNames({"projects"})->Arg(740'000)->Unit(benchmark::kMillisecond);

// RenderRootJson + RenderRootHtml: the three root pages a run writes when the root changed.
void BM_RenderRoot(benchmark::State& state) {
  const auto projects = static_cast<size_t>(state.range(0));
  const std::vector<engine::RootEntry> entries = MirroredEntries(projects);
  size_t bytes = 0;
  for (auto _ : state) {
    const std::string json = engine::RenderRootJson(entries, 24'888'689);
    const std::string html = engine::RenderRootHtml(entries);
    bytes = json.size() + html.size();
    benchmark::DoNotOptimize(json.data());
    benchmark::DoNotOptimize(html.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(projects));
}
BENCHMARK(BM_RenderRoot)->ArgNames({"projects"})->Arg(740'000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace cistern::bench
