// Kernel micro-benchmark (Google Benchmark): the binary GEMM per ISA path and
// the Linear layer's three activation paths, on the bundled architecture's
// shapes (hidden 128, ffn 256) and on kernels.md's larger shapes.
//
//   build/bench/kernel_bench --benchmark_counters_tabular=true
// Counter MACs/s: multiply-accumulates per second (bit-MACs for the binary
// GEMM, including its fused epilogue; the activation binarization is timed
// separately as BM_Binarize). Threads: OMP_NUM_THREADS (default all cores).
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "engine/kernels/bgemm.h"
#include "engine/kernels/dense_kernels.h"
#include "engine/kernels/linear.h"

namespace {

std::vector<uint8_t> RandomBits(int64_t n, int64_t k, std::mt19937& rng) {
  std::vector<uint8_t> w(n * ((k + 63) / 64) * 8);
  for (auto& b : w) b = rng();
  return w;
}

std::vector<float> RandomFloats(int64_t size, std::mt19937& rng) {
  std::normal_distribution<float> normal;
  std::vector<float> v(size);
  for (auto& x : v) x = normal(rng);
  return v;
}

// The dense kernels' build for the ISA of range(0), labelled with its name;
// null, and the benchmark skipped, where this CPU lacks that ISA.
const beex::DenseKernels* DenseKernelsOrSkip(benchmark::State& state) {
  const auto isa = static_cast<beex::bgemm::Isa>(state.range(0));
  if (!beex::bgemm::IsaSupported(isa)) {
    state.SkipWithError("ISA not supported on this CPU");
    return nullptr;
  }
  state.SetLabel(std::string(beex::bgemm::IsaName(isa)));
  return &beex::DenseKernelsFor(isa);
}

// Counter floats/s: `per_iteration` values processed each iteration.
void CountFloats(benchmark::State& state, int64_t per_iteration) {
  state.counters["floats/s"] = benchmark::Counter(
      static_cast<double>(per_iteration) * state.iterations(),
      benchmark::Counter::kIsRate);
}

void BM_Bgemm(benchmark::State& state) {
  const auto isa = static_cast<beex::bgemm::Isa>(state.range(0));
  const int64_t m = state.range(1), k = state.range(2), n = state.range(3);
  if (!beex::bgemm::ForceIsa(isa).ok()) {
    state.SkipWithError("ISA not supported on this CPU");
    return;
  }
  std::mt19937 rng(1);
  const auto bits = RandomBits(n, k, rng);
  const std::vector<float> alpha(n, 0.1f), bias(n, 0.0f);
  const auto w = beex::bgemm::PackWeights(bits, alpha, bias, n, k);
  const auto x = RandomFloats(m * k, rng);
  std::vector<uint32_t> a(m * beex::bgemm::WordsFor(k));
  std::vector<float> beta(m), y(m * n);
  beex::bgemm::BinarizeRows(x.data(), m, k, a.data(), beta.data());
  for (auto _ : state) {
    beex::bgemm::Gemm(a.data(), beta.data(), m, w, nullptr, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["MACs/s"] =
      benchmark::Counter(static_cast<double>(m * n * k) * state.iterations(),
                         benchmark::Counter::kIsRate);
  state.SetLabel(std::string(beex::bgemm::IsaName(isa)));
}

void BM_Binarize(benchmark::State& state) {
  const auto isa = static_cast<beex::bgemm::Isa>(state.range(0));
  const int64_t m = state.range(1), k = state.range(2);
  if (!beex::bgemm::ForceIsa(isa).ok()) {
    state.SkipWithError("ISA not supported on this CPU");
    return;
  }
  std::mt19937 rng(2);
  const auto x = RandomFloats(m * k, rng);
  std::vector<uint32_t> a(m * beex::bgemm::WordsFor(k));
  std::vector<float> beta(m);
  for (auto _ : state) {
    beex::bgemm::BinarizeRows(x.data(), m, k, a.data(), beta.data());
    benchmark::DoNotOptimize(a.data());
  }
  CountFloats(state, m * k);
  state.SetLabel(std::string(beex::bgemm::IsaName(isa)));
}

// The int8 path's per-token quantizer (what every int8 Linear runs before
// its multiply), one ISA build, on rows of k values from the model.
void BM_QuantizeRowU8(benchmark::State& state) {
  const int64_t m = 64, k = state.range(1);
  const beex::DenseKernels* kernels = DenseKernelsOrSkip(state);
  if (kernels == nullptr) return;
  std::mt19937 rng(3);
  const auto x = RandomFloats(m * k, rng);
  std::vector<uint8_t> u(m * k);
  for (auto _ : state) {
    for (int64_t r = 0; r < m; ++r) {
      benchmark::DoNotOptimize(
          kernels->quantize_row_u8(x.data() + r * k, k, u.data() + r * k));
    }
    benchmark::ClobberMemory();
  }
  CountFloats(state, m * k);
}

// The selective learn-forget gate, sigmoid(g) * tanh(c), on 64 rows of the
// gate and candidate halves of width f, one ISA build.
void BM_GateRow(benchmark::State& state) {
  const int64_t m = 64, f = state.range(1);
  const beex::DenseKernels* kernels = DenseKernelsOrSkip(state);
  if (kernels == nullptr) return;
  std::mt19937 rng(5);
  const auto gc = RandomFloats(m * 2 * f, rng);
  std::vector<float> out(m * f);
  for (auto _ : state) {
    for (int64_t r = 0; r < m; ++r) {
      kernels->gate_row(gc.data() + r * 2 * f, f, out.data() + r * f);
    }
    benchmark::DoNotOptimize(out.data());
  }
  CountFloats(state, m * f);
}

// Self-attention of one sample of s tokens (hidden 128, 4 heads), one ISA
// build of the dense kernels. Counter MACs/s: the two products' 2 s^2 h.
void BM_Attention(benchmark::State& state) {
  const int64_t s = state.range(1), h = 128, heads = 4;
  const beex::DenseKernels* kernels = DenseKernelsOrSkip(state);
  if (kernels == nullptr) return;
  std::mt19937 rng(4);
  const auto qkv = RandomFloats(s * 3 * h, rng);
  std::vector<float> ctx(s * h), kt(beex::PaddedKeys(s) * h / heads),
      p(beex::ScoreScratch(s));
  for (auto _ : state) {
    kernels->attend_sample(qkv.data(), s, h, heads, ctx.data(), kt.data(),
                           p.data());
    benchmark::DoNotOptimize(ctx.data());
  }
  state.counters["MACs/s"] = benchmark::Counter(
      2.0 * s * s * h * state.iterations(), benchmark::Counter::kIsRate);
}

// Linear::Forward end to end (quantization or binarization included).
void BM_Linear(benchmark::State& state) {
  const auto bits = static_cast<uint32_t>(state.range(0));
  const int64_t m = state.range(1), k = state.range(2), n = state.range(3);
  beex::bgemm::ForceIsa(beex::bgemm::IsaSupported(beex::bgemm::Isa::kAvx512)
                            ? beex::bgemm::Isa::kAvx512
                        : beex::bgemm::IsaSupported(beex::bgemm::Isa::kAvx2)
                            ? beex::bgemm::Isa::kAvx2
                            : beex::bgemm::Isa::kScalar)
      .IgnoreError();
  std::mt19937 rng(3);
  const auto w = RandomBits(n, k, rng);
  const std::vector<float> alpha(n, 0.1f);
  auto lin =
      beex::Linear::Binary(w, alpha, std::vector<float>(n, 0.0f), n, k, bits);
  const auto x = RandomFloats(m * k, rng);
  std::vector<float> y(m * n);
  for (auto _ : state) {
    (*lin)->Forward(x.data(), m, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["MACs/s"] =
      benchmark::Counter(static_cast<double>(m * n * k) * state.iterations(),
                         benchmark::Counter::kIsRate);
  const bool vnni =
      beex::Linear::ActiveInt8Gemm() == beex::Linear::Int8Gemm::kVnni;
  state.SetLabel(bits == 1   ? "xnor"
                 : bits == 8 ? (vnni ? "int8 vnni" : "int8 onednn")
                             : "f32");
}

// The int8 path on oneDNN's u8 x s8 matmul, the fallback where the CPU has
// no AVX-512 VNNI (BM_Linear/8 runs the VNNI multiply where it has).
void BM_LinearInt8OneDnn(benchmark::State& state) {
  const auto saved = beex::Linear::ActiveInt8Gemm();
  beex::Linear::ForceInt8Gemm(beex::Linear::Int8Gemm::kOneDnn);
  BM_Linear(state);
  beex::Linear::ForceInt8Gemm(saved);
}

// firsts: the ISA paths (BM_Bgemm) or activation bits (BM_Linear).
void ModelShapes(benchmark::internal::Benchmark* b,
                 const std::vector<int64_t>& firsts) {
  // (M, K, N): the four projections at 20 tokens (batch 1) and 1280 (batch
  // 64), then kernels.md's shapes.
  const std::vector<std::vector<int64_t>> shapes = {
      {20, 128, 384},   {20, 128, 128},   {20, 128, 512},   {20, 256, 128},
      {1280, 128, 384}, {1280, 128, 128}, {1280, 128, 512}, {1280, 256, 128},
      {256, 768, 768},  {256, 768, 3072}, {256, 3072, 768}};
  for (int64_t v : firsts) {
    for (const auto& s : shapes) b->Args({v, s[0], s[1], s[2]});
  }
}

BENCHMARK(BM_Bgemm)->Apply([](auto* b) { ModelShapes(b, {0, 1, 2}); });
BENCHMARK(BM_Linear)->Apply([](auto* b) { ModelShapes(b, {32, 8, 1}); });
BENCHMARK(BM_LinearInt8OneDnn)->Apply([](auto* b) { ModelShapes(b, {8}); });
BENCHMARK(BM_Attention)->ArgsProduct({{0, 1, 2}, {20, 33, 64}});
BENCHMARK(BM_QuantizeRowU8)->ArgsProduct({{0, 1, 2}, {128, 256}});
BENCHMARK(BM_GateRow)->ArgsProduct({{0, 1, 2}, {256, 512}});
BENCHMARK(BM_Binarize)
    ->Args({0, 1280, 128})
    ->Args({1, 1280, 128})
    ->Args({2, 1280, 128});

}  // namespace

BENCHMARK_MAIN();
