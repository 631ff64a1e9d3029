// PEP 503 HTML parsing: SimpleHtmlParser on PyPI-shaped pages (Warehouse's template), the same
// files as the PEP 691 benchmarks in simple_json_bench.cc, so the two forms compare per file.
#include <cstddef>
#include <cstdint>
#include <string>

#include <benchmark/benchmark.h>

#include "bench/generate.h"
#include "engine/pypi/simple_html.h"

namespace cistern::bench {
namespace {

void BM_SimpleHtmlParseProject(benchmark::State& state) {
  const auto files = static_cast<size_t>(state.range(0));
  const std::string body = GenerateProjectHtml(files);
  const engine::SimpleHtmlParser parser;
  for (auto _ : state) {
    auto page = parser.ParseProject(body);
    if (!page || page->files.size() != files) {
      state.SkipWithError("parse failed");
      break;
    }
    benchmark::DoNotOptimize(page);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(body.size()));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(files));
}
BENCHMARK(BM_SimpleHtmlParseProject)
    ->ArgNames({"files"})
    ->Arg(100)
    ->Arg(20'000)
    ->Arg(50'000)
    ->Unit(benchmark::kMicrosecond);

void BM_SimpleHtmlParseRoot(benchmark::State& state) {
  const auto projects = static_cast<size_t>(state.range(0));
  const std::string body = GenerateRootHtml(projects);
  const engine::SimpleHtmlParser parser;
  for (auto _ : state) {
    auto root = parser.ParseRoot(body);
    if (!root || root->projects.size() != projects) {
      state.SkipWithError("parse failed");
      break;
    }
    benchmark::DoNotOptimize(root);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(body.size()));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(projects));
}
BENCHMARK(BM_SimpleHtmlParseRoot)
    ->ArgNames({"projects"})
    ->Arg(100'000)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace cistern::bench
