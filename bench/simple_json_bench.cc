// PEP 691 parsing: the engine's On-Demand parser on PyPI-shaped pages, and simdjson's DOM API on
// the same bytes for comparison (the DOM parser dispatches to the best kernel at run time; the
// On-Demand code is compiled for the build's baseline ISA, see README.md).
#include <string>
#include <string_view>

#include <benchmark/benchmark.h>
#include <simdjson.h>

#include "bench/generate.h"
#include "engine/pypi/simple_json.h"

namespace cistern::bench {
namespace {

std::string Kernels() {
  return std::string("ondemand=") + simdjson::builtin_implementation()->name() +
         " dom=" + simdjson::get_active_implementation()->name();
}

void BM_SimpleJsonParseProject(benchmark::State& state) {
  const auto files = static_cast<size_t>(state.range(0));
  std::string body = GenerateProjectJson(files);
  const size_t bytes = body.size();
  engine::SimpleJsonParser parser;
  for (auto _ : state) {
    auto page = parser.ParseProject(body);
    if (!page || page->files.size() != files) {
      state.SkipWithError("parse failed");
      break;
    }
    benchmark::DoNotOptimize(page);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(files));
  state.SetLabel(Kernels());
}
BENCHMARK(BM_SimpleJsonParseProject)
    ->ArgNames({"files"})
    ->Arg(100)
    ->Arg(10'000)
    ->Arg(50'000)
    ->Unit(benchmark::kMicrosecond);

void BM_SimpleJsonParseRoot(benchmark::State& state) {
  const auto projects = static_cast<size_t>(state.range(0));
  std::string body = GenerateRootJson(projects);
  const size_t bytes = body.size();
  engine::SimpleJsonParser parser;
  for (auto _ : state) {
    auto root = parser.ParseRoot(body);
    if (!root || root->projects.size() != projects) {
      state.SkipWithError("parse failed");
      break;
    }
    benchmark::DoNotOptimize(root);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(projects));
  state.SetLabel(Kernels());
}
BENCHMARK(BM_SimpleJsonParseRoot)
    ->ArgNames({"projects"})
    ->Arg(100'000)
    ->Arg(740'000)
    ->Unit(benchmark::kMillisecond);

// The same extraction as the engine's parser (every key it reads, into the same values), written
// against simdjson's runtime-dispatched DOM API.
bool ExtractWithDom(simdjson::dom::parser& parser, const simdjson::padded_string& body,
                    engine::ProjectPage& page) {
  simdjson::dom::element document;
  if (parser.parse(body).get(document)) {
    return false;
  }
  std::string_view text;
  if (document["meta"]["api-version"].get(text)) {
    return false;
  }
  page.api_version = std::string(text);
  if (document["name"].get(text) == simdjson::SUCCESS) {
    page.name = std::string(text);
  }
  simdjson::dom::array versions;
  if (document["versions"].get(versions) == simdjson::SUCCESS) {
    for (simdjson::dom::element version : versions) {
      if (version.get(text)) {
        return false;
      }
      page.versions.emplace_back(text);
    }
  }
  simdjson::dom::array files;
  if (document["files"].get(files)) {
    return false;
  }
  for (simdjson::dom::object object : files) {
    engine::UpstreamFile file;
    for (simdjson::dom::key_value_pair field : object) {
      const std::string_view key = field.key;
      if (key == "filename" || key == "url" || key == "requires-python" || key == "upload-time") {
        if (field.value.is_null()) {
          continue;
        }
        if (field.value.get(text)) {
          return false;
        }
        std::string value(text);
        if (key == "filename") {
          file.filename = std::move(value);
        } else if (key == "url") {
          file.url = std::move(value);
        } else if (key == "requires-python") {
          file.requires_python = std::move(value);
        } else {
          file.upload_time = std::move(value);
        }
      } else if (key == "hashes" || key == "core-metadata") {
        simdjson::dom::object hashes;
        if (field.value.get(hashes)) {
          continue;
        }
        auto& target = key == "hashes" ? file.hashes : file.core_metadata.hashes;
        for (simdjson::dom::key_value_pair hash : hashes) {
          if (hash.value.get(text)) {
            return false;
          }
          target.emplace(std::string(hash.key), std::string(text));
        }
        if (key == "core-metadata") {
          file.core_metadata.available = true;
        }
      } else if (key == "size") {
        uint64_t size = 0;
        if (field.value.get(size)) {
          return false;
        }
        file.size = size;
      } else if (key == "yanked") {
        bool yanked = false;
        if (field.value.get(yanked) == simdjson::SUCCESS) {
          file.yanked.yanked = yanked;
        } else if (field.value.get(text) == simdjson::SUCCESS) {
          file.yanked = engine::Yanked{true, std::string(text)};
        }
      }
    }
    page.files.push_back(std::move(file));
  }
  return true;
}

void BM_SimpleJsonDomParseProject(benchmark::State& state) {
  const auto files = static_cast<size_t>(state.range(0));
  const simdjson::padded_string body(GenerateProjectJson(files));
  simdjson::dom::parser parser;
  for (auto _ : state) {
    engine::ProjectPage page;
    if (!ExtractWithDom(parser, body, page) || page.files.size() != files) {
      state.SkipWithError("parse failed");
      break;
    }
    benchmark::DoNotOptimize(page);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(body.size()));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(files));
  state.SetLabel(std::string("dom=") + simdjson::get_active_implementation()->name());
}
BENCHMARK(BM_SimpleJsonDomParseProject)
    ->ArgNames({"files"})
    ->Arg(100)
    ->Arg(10'000)
    ->Arg(50'000)
    ->Unit(benchmark::kMicrosecond);

// The DOM parse alone (tape construction, no extraction): the floor for any DOM-based parser.
void BM_SimpleJsonDomTapeOnly(benchmark::State& state) {
  const auto files = static_cast<size_t>(state.range(0));
  const simdjson::padded_string body(GenerateProjectJson(files));
  simdjson::dom::parser parser;
  for (auto _ : state) {
    simdjson::dom::element document;
    if (parser.parse(body).get(document)) {
      state.SkipWithError("parse failed");
      break;
    }
    benchmark::DoNotOptimize(document);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(body.size()));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(files));
  state.SetLabel(std::string("dom=") + simdjson::get_active_implementation()->name());
}
BENCHMARK(BM_SimpleJsonDomTapeOnly)
    ->ArgNames({"files"})
    ->Arg(10'000)
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace cistern::bench
