// Planning one large project: 10,000 files of which half are already stored.
#include <string>

#include <benchmark/benchmark.h>

#include "bench/generate.h"
#include "engine/planner.h"
#include "engine/pypi/simple_json.h"

namespace cistern::bench {
namespace {

void BM_PlanProject(benchmark::State& state) {
  const auto files = static_cast<size_t>(state.range(0));
  std::string body = GenerateProjectJson(files);
  engine::SimpleJsonParser parser;
  auto page = parser.ParseProject(body);
  auto name = engine::ProjectName::Parse("bench-project");
  auto page_url = net::Url::Parse("https://pypi.org/simple/bench-project/");
  if (!page || !name || !page_url) {
    state.SkipWithError("input generation failed");
    return;
  }
  const std::vector<store::FileRecord> stored = GenerateStoredRecords(*page, 2);
  const engine::FileRules rules;
  for (auto _ : state) {
    engine::ProjectPlan plan = engine::PlanProject(*name, *page, *page_url, stored, rules);
    if (plan.files.size() != files || !plan.rejected.empty() || !plan.remove.empty()) {
      state.SkipWithError("unexpected plan");
      break;
    }
    benchmark::DoNotOptimize(plan);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(files));
}
BENCHMARK(BM_PlanProject)->ArgNames({"files"})->Arg(10'000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace cistern::bench
