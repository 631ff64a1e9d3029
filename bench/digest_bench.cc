// Hashing: streaming SHA-256 as the downloader does it (64 KiB chunks), and XXH3-64 as the sync
// uses it to detect unchanged pages.
#include <cstdint>
#include <span>
#include <vector>

#include <benchmark/benchmark.h>

#include "store/digest.h"

namespace cistern::bench {
namespace {

std::vector<uint8_t> Bytes(size_t size) {
  std::vector<uint8_t> bytes(size);
  uint32_t x = 2463534242u;  // xorshift32
  for (uint8_t& byte : bytes) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    byte = static_cast<uint8_t>(x);
  }
  return bytes;
}

void BM_Sha256Streaming(benchmark::State& state) {
  const auto total = static_cast<size_t>(state.range(0));
  const auto chunk = static_cast<size_t>(state.range(1));
  const std::vector<uint8_t> bytes = Bytes(total);
  store::Sha256Hasher hasher;
  for (auto _ : state) {
    for (size_t offset = 0; offset < total; offset += chunk) {
      hasher.Update(std::span(bytes).subspan(offset, std::min(chunk, total - offset)));
    }
    store::Sha256Digest digest = hasher.Finish();
    benchmark::DoNotOptimize(digest);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(total));
}
BENCHMARK(BM_Sha256Streaming)
    ->ArgNames({"bytes", "chunk"})
    ->Args({64 << 20, 64 << 10})
    ->Unit(benchmark::kMillisecond);

void BM_Xxh3(benchmark::State& state) {
  const auto total = static_cast<size_t>(state.range(0));
  const std::vector<uint8_t> bytes = Bytes(total);
  for (auto _ : state) {
    uint64_t hash = store::Xxh3Of(bytes);
    benchmark::DoNotOptimize(hash);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(total));
}
BENCHMARK(BM_Xxh3)->ArgNames({"bytes"})->Arg(4 << 10)->Arg(1 << 20)->Arg(64 << 20);

}  // namespace
}  // namespace cistern::bench
