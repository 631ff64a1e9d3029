// Page rendering: a 10,000-file project as index.v1_json and index.html.
#include <string>

#include <benchmark/benchmark.h>

#include "bench/generate.h"
#include "engine/render/project_page.h"

namespace cistern::bench {
namespace {

void BM_RenderProjectJson(benchmark::State& state) {
  const auto files = static_cast<size_t>(state.range(0));
  const engine::MirrorProject project = GenerateMirrorProject(files);
  size_t bytes = 0;
  for (auto _ : state) {
    std::string page = engine::RenderProjectJson(project);
    bytes = page.size();
    benchmark::DoNotOptimize(page);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(files));
}
BENCHMARK(BM_RenderProjectJson)->ArgNames({"files"})->Arg(10'000)->Unit(benchmark::kMicrosecond);

void BM_RenderProjectHtml(benchmark::State& state) {
  const auto files = static_cast<size_t>(state.range(0));
  const engine::MirrorProject project = GenerateMirrorProject(files);
  size_t bytes = 0;
  for (auto _ : state) {
    std::string page = engine::RenderProjectHtml(project);
    bytes = page.size();
    benchmark::DoNotOptimize(page);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(files));
}
BENCHMARK(BM_RenderProjectHtml)->ArgNames({"files"})->Arg(10'000)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace cistern::bench
