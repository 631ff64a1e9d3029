// cistern_seed_state: writes the database state of a mirror that already holds every project of a
// root index, without fetching a single page. The scale benchmark (bench/scale_diff.py) needs a
// mirror of PyPI's size (740,000 projects), and a `generate.py --root-only` upstream serves pages
// for a sample only (the rest are 404), so that state cannot come from a real sync.
//
//   cistern_seed_state --mirror DIR --root INDEX_V1_JSON [--except MANIFEST_JSON] [--batch N]
//
// For each project of the root (PEP 691 JSON, e.g. `<tree>/simple/index.v1_json`) it writes the
// record a sync would have committed (store/format.md: normalized name, display name, the root's
// `_last-serial`, page_hash 0, generation 1), in WriteBatches of `--batch` records (default
// 10,000), and meta `generation` = 1. Then:
//
// - without --except: also the root index pages under `web/simple/` (rendered by the engine, as a
//   sync writes them), meta `serial` = the root's serial and `root_hash`, so the next `cistern sync`
//   against that root is a no-change run: one request, a diff, nothing written;
// - with --except: the projects listed in that generate.py manifest (the sampled projects, which do
//   have pages and files upstream) are left out, and neither serial nor root pages are written, so
//   the next real sync fetches exactly those projects and writes the root; the run after it is a
//   no-change run against a state whose sampled projects have real files.
//
// Prints one JSON line: projects written, skipped, seconds. Exit status 0, or 1 with a message.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <simdjson.h>

#include "engine/pypi/project_name.h"
#include "engine/pypi/simple_json.h"
#include "engine/render/root_index.h"
#include "store/bytes.h"
#include "store/digest.h"
#include "store/metadata_db.h"
#include "store/records.h"
#include "store/relative_path.h"
#include "store/tree.h"

namespace cistern::bench {
namespace {

// Meta keys written by a sync run (store/format.md, "meta keys").
constexpr std::string_view kMetaGeneration = "generation";
constexpr std::string_view kMetaSerial = "serial";
constexpr std::string_view kMetaRootHash = "root_hash";
constexpr uint64_t kSeedGeneration = 1;

struct Args {
  std::string mirror;
  std::string root;
  std::string except;
  size_t batch = 10'000;
};

int Fail(const std::string& message) {
  std::fprintf(stderr, "cistern_seed_state: %s\n", message.c_str());
  return 1;
}

std::optional<Args> ParseArgs(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (i + 1 >= argc) {
      return std::nullopt;
    }
    const std::string value = argv[++i];
    if (arg == "--mirror") {
      args.mirror = value;
    } else if (arg == "--root") {
      args.root = value;
    } else if (arg == "--except") {
      args.except = value;
    } else if (arg == "--batch") {
      const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(),
                                                args.batch);
      if (error != std::errc() || end != value.data() + value.size()) {
        return std::nullopt;
      }
    } else {
      return std::nullopt;
    }
  }
  if (args.mirror.empty() || args.root.empty() || args.batch == 0) {
    return std::nullopt;
  }
  return args;
}

std::optional<std::string> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return std::nullopt;
  }
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The normalized names of manifest.json's "projects" (generate.py: the sampled projects of a
// --root-only upstream).
std::optional<std::set<std::string>> ManifestProjects(const std::string& path) {
  simdjson::dom::parser parser;
  simdjson::dom::element manifest;
  if (parser.load(path).get(manifest) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  simdjson::dom::array projects;
  if (manifest["projects"].get_array().get(projects) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  std::set<std::string> names;
  for (simdjson::dom::element project : projects) {
    std::string_view normalized;
    if (project["normalized"].get_string().get(normalized) != simdjson::SUCCESS) {
      return std::nullopt;
    }
    names.emplace(normalized);
  }
  return names;
}

store::RelativePath RootPath(std::string_view file) {
  return std::move(*store::RelativePath::Parse(fmt::format("simple/{}", file)));
}

int Run(const Args& args) {
  const auto started = std::chrono::steady_clock::now();
  auto body = ReadAll(args.root);
  if (!body) {
    return Fail(fmt::format("cannot read {}", args.root));
  }
  engine::SimpleJsonParser parser;
  auto root = parser.ParseRoot(*body);
  if (!root) {
    return Fail(fmt::format("{}: {}", args.root, root.error().Message()));
  }
  *body = {};
  std::set<std::string> except;
  if (!args.except.empty()) {
    auto names = ManifestProjects(args.except);
    if (!names) {
      return Fail(fmt::format("{}: not a generate.py manifest with projects[].normalized",
                              args.except));
    }
    except = std::move(*names);
  }

  auto tree = store::Tree::Open(args.mirror);
  if (!tree) {
    return Fail(tree.error().detail);
  }
  const std::filesystem::path state = std::filesystem::path(args.mirror) / "state";
  std::error_code ec;
  std::filesystem::create_directories(state, ec);
  if (ec) {
    return Fail(fmt::format("cannot create {}: {}", state.string(), ec.message()));
  }
  auto db = store::MetadataDb::Open(state / "db");
  if (!db) {
    return Fail(db.error().detail);
  }

  std::vector<engine::RootEntry> entries;
  entries.reserve(root->projects.size());
  size_t skipped = 0;
  for (const engine::IndexEntry& entry : root->projects) {
    auto name = engine::ProjectName::Parse(entry.name);
    if (!name || !entry.last_serial || except.contains(name->str())) {
      ++skipped;
      continue;
    }
    entries.push_back(engine::RootEntry{name->str(), entry.name, *entry.last_serial});
  }
  root->projects = {};
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });

  for (size_t begin = 0; begin < entries.size(); begin += args.batch) {
    store::WriteBatch batch;
    const size_t end = std::min(entries.size(), begin + args.batch);
    for (size_t i = begin; i < end; ++i) {
      batch.PutProject(store::ProjectRecord{entries[i].name, entries[i].display_name,
                                            store::Serial{entries[i].serial}, 0,
                                            store::Generation{kSeedGeneration}});
    }
    if (auto written = (*db)->Write(std::move(batch)); !written) {
      return Fail(written.error().detail);
    }
  }

  store::WriteBatch meta;
  meta.PutMeta(kMetaGeneration, std::to_string(kSeedGeneration));
  if (args.except.empty()) {
    // The root pages as WriteRoot renders them, and the hash it compares (store/format.md).
    const std::string json = engine::RenderRootJson(entries, root->last_serial);
    const std::string html = engine::RenderRootHtml(entries);
    for (const auto& [file, bytes] : {std::pair{"index.v1_json", &json},
                                      std::pair{"index.v1_html", &html},
                                      std::pair{"index.html", &html}}) {
      if (auto ok = tree->WriteAtomic(RootPath(file), store::AsBytes(*bytes)); !ok) {
        return Fail(ok.error().detail);
      }
    }
    store::Xxh3Hasher hasher;
    hasher.Update(store::AsBytes(html));
    hasher.Update(store::AsBytes(json));
    meta.PutMeta(kMetaRootHash, std::to_string(hasher.Finish()));
    if (root->last_serial) {
      meta.PutMeta(kMetaSerial, std::to_string(*root->last_serial));
    }
  }
  if (auto written = (*db)->Write(std::move(meta)); !written) {
    return Fail(written.error().detail);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("{\"projects\": %zu, \"skipped\": %zu, \"seconds\": %.2f}\n", entries.size(),
              skipped, seconds);
  return 0;
}

}  // namespace
}  // namespace cistern::bench

int main(int argc, char** argv) {
  auto args = cistern::bench::ParseArgs(argc, argv);
  if (!args) {
    std::fprintf(stderr,
                 "usage: cistern_seed_state --mirror DIR --root INDEX_V1_JSON "
                 "[--except MANIFEST_JSON] [--batch N]\n");
    return 2;
  }
  return cistern::bench::Run(*args);
}
