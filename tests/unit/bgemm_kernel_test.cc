// The binary GEMM (engine/kernels/bgemm.h) against a scalar reference written
// from the formula, on random shapes including K and N that are not
// multiples of 16, 32 or 64. Integer popcounts and the fixed float epilogue
// make every ISA path bit-identical, so results are compared exactly; paths
// this CPU cannot run are skipped (and named in the output).
#include <omp.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "engine/kernels/bgemm.h"
#include "gtest/gtest.h"

namespace beex::bgemm {
namespace {

struct Problem {
  int64_t m, k, n;
  std::vector<float> x, alpha, bias, residual;
  std::vector<uint8_t> wbits;  // bundle layout: [n, ceil(k/64)] u64 words
  std::vector<bool> wneg;      // [n, k], true = -1
};

Problem Make(int64_t m, int64_t k, int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uniform(0.05f, 1.0f);
  Problem p{m, k, n, {}, {}, {}, {}, {}, {}};
  p.x.resize(m * k);
  for (float& v : p.x) v = normal(rng);
  // Exact zeros of both signs must count as +1.
  if (m * k > 3) {
    p.x[1] = 0.0f;
    p.x[2] = -0.0f;
  }
  p.alpha.resize(n);
  p.bias.resize(n);
  p.residual.resize(m * n);
  for (float& v : p.alpha) v = uniform(rng);
  for (float& v : p.bias) v = normal(rng);
  for (float& v : p.residual) v = normal(rng);
  const int64_t words64 = (k + 63) / 64;
  p.wbits.assign(n * words64 * 8, 0);
  p.wneg.resize(n * k);
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 0; c < k; ++c) {
      const bool neg = rng() & 1;
      p.wneg[r * k + c] = neg;
      if (neg)
        p.wbits[(r * words64 + c / 64) * 8 + (c % 64) / 8] |= 1 << (c % 8);
    }
  }
  return p;
}

// y from the formula, one output at a time.
std::vector<float> Reference(const Problem& p, bool residual) {
  std::vector<float> y(p.m * p.n);
  for (int64_t r = 0; r < p.m; ++r) {
    const float beta = SumAbs(&p.x[r * p.k], p.k) / static_cast<float>(p.k);
    for (int64_t c = 0; c < p.n; ++c) {
      int32_t differ = 0;
      for (int64_t i = 0; i < p.k; ++i) {
        differ += (p.x[r * p.k + i] < 0) != p.wneg[c * p.k + i];
      }
      float v = Epilogue(differ, beta, -2.0f * p.alpha[c],
                         static_cast<float>(p.k) * p.alpha[c], p.bias[c]);
      if (residual) v += p.residual[r * p.n + c];
      y[r * p.n + c] = v;
    }
  }
  return y;
}

std::vector<float> RunGemm(const Problem& p, bool residual, Isa isa) {
  EXPECT_TRUE(ForceIsa(isa).ok());
  const PackedWeights w = PackWeights(p.wbits, p.alpha, p.bias, p.n, p.k);
  std::vector<uint32_t> bits(p.m * WordsFor(p.k));
  std::vector<float> beta(p.m), y(p.m * p.n, NAN);
  BinarizeRows(p.x.data(), p.m, p.k, bits.data(), beta.data());
  Gemm(bits.data(), beta.data(), p.m, w, residual ? p.residual.data() : nullptr,
       y.data());
  return y;
}

std::vector<Isa> Supported() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (IsaSupported(isa)) {
      out.push_back(isa);
    } else {
      std::printf("bgemm: %s path not runnable on this CPU; skipped\n",
                  std::string(IsaName(isa)).c_str());
    }
  }
  return out;
}

class BgemmTest : public ::testing::Test {
 protected:
  void TearDown() override { ASSERT_TRUE(ForceIsa(Isa::kScalar).ok()); }
};

void ExpectBitEqual(const std::vector<float>& got,
                    const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(std::memcmp(&got[i], &want[i], sizeof(float)), 0)
        << what << " element " << i << ": " << got[i] << " vs " << want[i];
  }
}

TEST_F(BgemmTest, EveryIsaMatchesReferenceOnRandomShapes) {
  std::mt19937 rng(7);
  const int64_t ks[] = {1,   7,   31,  32,  33,  64,  65,
                        100, 128, 200, 256, 300, 1000};
  const int64_t ns[] = {1, 5, 15, 16, 17, 33, 63, 64, 65, 100, 130};
  const int64_t ms[] = {1, 2, 5, 6, 7, 13, 25};
  for (int trial = 0; trial < 40; ++trial) {
    const int64_t m = ms[rng() % std::size(ms)];
    const int64_t k = ks[rng() % std::size(ks)];
    const int64_t n = ns[rng() % std::size(ns)];
    const bool residual = trial % 2;
    const Problem p = Make(m, k, n, 100 + trial);
    const auto want = Reference(p, residual);
    for (Isa isa : Supported()) {
      ExpectBitEqual(RunGemm(p, residual, isa), want,
                     "isa " + std::string(IsaName(isa)) + " m " +
                         std::to_string(m) + " k " + std::to_string(k) + " n " +
                         std::to_string(n));
    }
  }
}

TEST_F(BgemmTest, ModelShapesAndThreadsAgree) {
  // The bundled architecture's shapes (hidden 128, ffn 256) at a batch's row
  // count, large enough to take the multi-threaded path.
  for (auto [k, n] : {std::pair<int64_t, int64_t>{128, 384}, {256, 128}}) {
    const Problem p = Make(kParallelBitMacs / (k * n) + 7, k, n, 5);
    const auto want = Reference(p, true);
    for (Isa isa : Supported()) {
      for (int threads : {1, 2, 3}) {
        omp_set_num_threads(threads);
        ExpectBitEqual(
            RunGemm(p, true, isa), want,
            std::string(IsaName(isa)) + " threads " + std::to_string(threads));
      }
    }
  }
}

TEST_F(BgemmTest, RowsDoNotDependOnBatchComposition) {
  const Problem p = Make(23, 200, 70, 11);
  for (Isa isa : Supported()) {
    const auto joint = RunGemm(p, true, isa);
    for (int64_t r = 0; r < p.m; ++r) {
      Problem one = p;
      one.m = 1;
      one.x.assign(p.x.begin() + r * p.k, p.x.begin() + (r + 1) * p.k);
      one.residual.assign(p.residual.begin() + r * p.n,
                          p.residual.begin() + (r + 1) * p.n);
      const auto alone = RunGemm(one, true, isa);
      ExpectBitEqual(alone,
                     std::vector<float>(joint.begin() + r * p.n,
                                        joint.begin() + (r + 1) * p.n),
                     "row " + std::to_string(r));
    }
  }
}

TEST_F(BgemmTest, MatchesDenseSignArithmetic) {
  // The popcount identity against plain float math on +-1 values.
  const Problem p = Make(9, 77, 21, 3);
  const auto y = RunGemm(p, false, ActiveIsa());
  for (int64_t r = 0; r < p.m; ++r) {
    double beta = 0;
    for (int64_t i = 0; i < p.k; ++i) beta += std::fabs(p.x[r * p.k + i]);
    beta /= p.k;
    for (int64_t c = 0; c < p.n; ++c) {
      double dot = 0;
      for (int64_t i = 0; i < p.k; ++i) {
        const double sx = p.x[r * p.k + i] < 0 ? -1 : 1;
        const double sw = p.wneg[c * p.k + i] ? -1 : 1;
        dot += sx * sw;
      }
      const double want = beta * p.alpha[c] * dot + p.bias[c];
      EXPECT_NEAR(y[r * p.n + c], want, 1e-5 * (1 + std::fabs(want)));
    }
  }
}

TEST_F(BgemmTest, BinarizeBitsAndScale) {
  const std::vector<float> x = {-1.0f, 0.0f,   -0.0f, 2.0f, -3.0f,
                                0.5f,  -0.25f, 1.0f,  4.0f, -2.0f};  // k = 10
  for (Isa isa : Supported()) {
    ASSERT_TRUE(ForceIsa(isa).ok());
    uint32_t bits = 0xdeadbeef;
    float beta = 0;
    BinarizeRows(x.data(), 1, 10, &bits, &beta);
    EXPECT_EQ(bits, (1u << 0) | (1u << 4) | (1u << 6) | (1u << 9))
        << IsaName(isa);
    EXPECT_FLOAT_EQ(beta, 13.75f / 10) << IsaName(isa);
  }
}

TEST_F(BgemmTest, ForcingAnUnsupportedIsaFails) {
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    EXPECT_EQ(ForceIsa(isa).ok(), IsaSupported(isa)) << IsaName(isa);
  }
  EXPECT_TRUE(IsaSupported(Isa::kScalar));
}

}  // namespace
}  // namespace beex::bgemm
