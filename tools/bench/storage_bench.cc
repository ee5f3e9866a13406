// Google Benchmark for the storage hot paths: get hit/miss, set of new and existing keys, with
// one and two threads against one shared Store. Run: build/tools/bench/storage_bench
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "storage/store.h"

namespace memtwin::storage {
namespace {

constexpr int kKeys = 100'000;

struct Fixture {
  Fixture() {
    StorageOptions options;
    options.memory_limit = size_t{256} << 20;
    store = Store::Create(options, &clock).value();
    value.assign(100, 'v');
    for (int i = 0; i < kKeys; ++i) {
      keys.push_back("key:" + std::to_string(i));
      store->Set({.key = keys.back(), .value = value});
    }
  }
  SystemClock clock;
  std::unique_ptr<Store> store;
  std::vector<std::string> keys;
  std::string value;
};

Fixture& Shared() {
  static Fixture* fixture = new Fixture;
  return *fixture;
}

void BM_GetHit(benchmark::State& state) {
  Fixture& f = Shared();
  // Threads walk the keys with different strides so they do not move in lockstep over stripes.
  size_t i = state.thread_index() * (kKeys / 2);
  const size_t stride = state.thread_index() == 0 ? 1 : 7;
  size_t bytes = 0;
  for (auto _ : state) {
    f.store->Get(f.keys[i % kKeys], [&](const ItemView& v) { bytes += v.value.size(); });
    i += stride;
  }
  benchmark::DoNotOptimize(bytes);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_GetHit)->Threads(1)->Threads(2)->UseRealTime();

void BM_GetMiss(benchmark::State& state) {
  Fixture& f = Shared();
  std::vector<std::string> missing;
  for (int i = 0; i < 1024; ++i) {
    missing.push_back("absent:" + std::to_string(state.thread_index()) + ":" + std::to_string(i));
  }
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.store->Get(missing[i++ % missing.size()], [](const ItemView&) {}));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_GetMiss)->Threads(1)->Threads(2)->UseRealTime();

void BM_SetOverwrite(benchmark::State& state) {
  Fixture& f = Shared();
  size_t i = state.thread_index() * (kKeys / 2);
  const size_t stride = state.thread_index() == 0 ? 1 : 7;
  for (auto _ : state) {
    f.store->Set({.key = f.keys[i % kKeys], .value = f.value});
    i += stride;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SetOverwrite)->Threads(1)->Threads(2)->UseRealTime();

// New keys into a store large enough that nothing is evicted; the hash table grows on the way.
constexpr int kNewKeysPerThread = 1'000'000;
std::unique_ptr<Store> new_key_store;
std::vector<std::string> new_keys[2];
SystemClock new_key_clock;

void SetUpNewKeys(const benchmark::State&) {
  StorageOptions options;
  options.memory_limit = size_t{2048} << 20;
  new_key_store = Store::Create(options, &new_key_clock).value();
  for (int t = 0; t < 2; ++t) {
    new_keys[t].clear();
    for (int i = 0; i < kNewKeysPerThread; ++i) {
      new_keys[t].push_back("new:" + std::to_string(t) + ":" + std::to_string(i));
    }
  }
}

void TearDownNewKeys(const benchmark::State&) { new_key_store.reset(); }

void BM_SetNew(benchmark::State& state) {
  const std::string value(100, 'v');
  const std::vector<std::string>& keys = new_keys[state.thread_index()];
  size_t i = 0;
  for (auto _ : state) {
    new_key_store->Set({.key = keys[i++], .value = value});
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SetNew)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime()
    ->Iterations(kNewKeysPerThread)
    ->Setup(SetUpNewKeys)
    ->Teardown(TearDownNewKeys);

}  // namespace
}  // namespace memtwin::storage

int main(int argc, char** argv) {
  // As in memtwin's main(): Abseil's per-lock deadlock detection is a debug aid, not measured.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
