// The encoder's float kernels (attention.h, rowwise.h, vector_math.h)
// against the scalar references in ops.h and std::exp, on random shapes:
// sequence lengths 1..70, head widths 12..32, row widths that are not
// multiples of any vector width. The kernels sum in their own order and use
// a polynomial exp, so they agree with the references to float rounding:
// 1e-5 relative + 1e-5 absolute for attention and norms (sums of O(1) values
// that cancel), 1e-6 absolute for the gate; far below the goldens' 2e-3.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "engine/kernels/attention.h"
#include "engine/kernels/bgemm.h"
#include "engine/kernels/dense_kernels.h"
#include "engine/kernels/int8_gemm.h"
#include "engine/kernels/ops.h"
#include "engine/kernels/rowwise.h"
#include "engine/kernels/vector_math.h"
#include "gtest/gtest.h"

namespace beex {
namespace {

std::vector<float> Random(int64_t n, float scale, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

void ExpectNear(const std::vector<float>& got, const std::vector<float>& want,
                double abs, double rel, const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], abs + rel * std::fabs(want[i]))
        << what << " at " << i;
  }
}

TEST(VectorMathTest, ExpNonPositiveIsWithinAFewUlp) {
  double worst = 0;
  for (float x = -87.0f; x <= 0.0f; x += 0.001953125f) {
    const double want = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::fabs(ExpNonPositive(x) - want) / want);
  }
  EXPECT_LT(worst, 4e-7);
  EXPECT_EQ(ExpNonPositive(0.0f), 1.0f);
  EXPECT_GT(ExpNonPositive(-1000.0f), 0.0f);  // clamped, never 0 or NaN
  EXPECT_LT(ExpNonPositive(-1000.0f), 1e-37f);
}

TEST(VectorMathTest, SigmoidOnBothSidesAndAtTheExtremes) {
  for (float x = -30.0f; x <= 30.0f; x += 0.01f) {
    const double want = 1.0 / (1.0 + std::exp(-static_cast<double>(x)));
    ASSERT_NEAR(Sigmoid(x), want, 1e-7 + 4e-7 * want) << x;
  }
  EXPECT_EQ(Sigmoid(1000.0f), 1.0f);
  EXPECT_GE(Sigmoid(-1000.0f), 0.0f);
  EXPECT_FALSE(std::isnan(Sigmoid(-1000.0f)));
}

TEST(AttentionTest, EverySampleOfAPackedBatchMatchesTheScalarReference) {
  for (auto [h, heads] :
       {std::pair<int64_t, int64_t>{48, 4}, {128, 4}, {64, 2}, {96, 3}}) {
    const Attention attention(h, heads);
    const std::vector<int64_t> lengths = {1, 2, 7, 20, 33, 70, 5, 17};
    int64_t rows = 0;
    for (int64_t s : lengths) rows += s;
    const auto qkv = Random(rows * 3 * h, 2.0f, rows * 31 + h);
    std::vector<float> got(rows * h, NAN), want(rows * h);
    attention.Forward(qkv.data(), lengths, got.data());
    int64_t first = 0;
    for (int64_t s : lengths) {
      SelfAttention(qkv.data() + first * 3 * h, s, h, heads,
                    want.data() + first * h);
      first += s;
    }
    ExpectNear(got, want, 1e-5, 1e-5, "h " + std::to_string(h));
  }
}

TEST(AttentionTest, ResultsDoNotDependOnTheBatchOrTheThreads) {
  const int64_t h = 128, heads = 4;
  const Attention attention(h, heads);
  const std::vector<int64_t> lengths = {9, 33, 4, 21};
  const auto qkv = Random(67 * 3 * h, 1.5f, 7);
  std::vector<float> together(67 * h);
  attention.Forward(qkv.data(), lengths, together.data());
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  int64_t first = 0;
  for (int64_t s : lengths) {
    std::vector<float> alone(s * h);
    attention.Forward(qkv.data() + first * 3 * h, std::vector<int64_t>{s},
                      alone.data());
    for (int64_t i = 0; i < s * h; ++i) {
      ASSERT_EQ(alone[i], together[first * h + i]) << "sample at " << first;
    }
    first += s;
  }
  omp_set_num_threads(threads);
}

// Every ISA build of the kernels (dense_kernels.h) against the references.
// The builds vectorize sums differently, so they agree to float rounding.
TEST(DenseKernelsTest, EveryIsaMatchesTheReferences) {
  const int64_t h = 96, heads = 3, s = 37, f = 257;
  const auto qkv = Random(s * 3 * h, 2.0f, 5);
  std::vector<float> want_ctx(s * h);
  SelfAttention(qkv.data(), s, h, heads, want_ctx.data());
  auto x = Random(h, 3.0f, 6);
  const auto gamma = Random(h, 1.0f, 7), beta = Random(h, 1.0f, 8);
  std::vector<float> want_norm = x;
  LayerNorm(want_norm.data(), 1, gamma, beta, 1e-5f);
  const auto gc = Random(2 * f, 3.0f, 9);
  std::vector<float> want_gate(f);
  GateCandidate(gc.data(), 1, f, want_gate.data());
  for (auto isa :
       {bgemm::Isa::kScalar, bgemm::Isa::kAvx2, bgemm::Isa::kAvx512}) {
    if (!bgemm::IsaSupported(isa)) continue;
    const std::string name(bgemm::IsaName(isa));
    const DenseKernels& k = DenseKernelsFor(isa);
    std::vector<float> ctx(s * h, NAN), kt(PaddedKeys(s) * h / heads),
        p(ScoreScratch(s));
    k.attend_sample(qkv.data(), s, h, heads, ctx.data(), kt.data(), p.data());
    ExpectNear(ctx, want_ctx, 1e-5, 1e-5, name + " attention");
    std::vector<float> norm = x;
    k.normalize_row(norm.data(), h, gamma.data(), beta.data(), 1e-5f);
    ExpectNear(norm, want_norm, 1e-5, 1e-5, name + " layer norm");
    std::vector<float> gate(f, NAN);
    k.gate_row(gc.data(), f, gate.data());
    ExpectNear(gate, want_gate, 1e-6, 0, name + " gate");
  }
}

// Every ISA's quantizer against the int8 reference on one row: the same
// scale (NaN where the reference's is) and the same bytes, q + 128.
// `reference`, when given, receives the reference's integers.
::testing::AssertionResult QuantizesLikeReference(
    const std::vector<float>& x, std::vector<int8_t>* reference = nullptr) {
  const auto k = static_cast<int64_t>(x.size());
  std::vector<int8_t> q(k);
  float want_scale = 0;
  QuantizeRowsInt8(x.data(), 1, k, q.data(), &want_scale);
  for (auto isa :
       {bgemm::Isa::kScalar, bgemm::Isa::kAvx2, bgemm::Isa::kAvx512}) {
    if (!bgemm::IsaSupported(isa)) continue;
    std::vector<uint8_t> u(k);
    const float scale =
        DenseKernelsFor(isa).quantize_row_u8(x.data(), k, u.data());
    if (!(scale == want_scale ||
          (std::isnan(scale) && std::isnan(want_scale)))) {
      return ::testing::AssertionFailure()
             << bgemm::IsaName(isa) << " scale " << scale << ", reference "
             << want_scale;
    }
    for (int64_t i = 0; i < k; ++i) {
      if (u[i] != q[i] + 128) {
        return ::testing::AssertionFailure()
               << bgemm::IsaName(isa) << " at " << i << ": x " << x[i] << " / "
               << want_scale << " gave " << u[i] - 128 << ", reference "
               << static_cast<int>(q[i]);
      }
    }
  }
  if (reference != nullptr) *reference = std::move(q);
  return ::testing::AssertionSuccess();
}

// The int8 path's quantizer must give exactly the reference's integers (the
// matmul after it is exact, so a single step of rounding would show), ties
// and clamping included; its epilogue is int8_gemm::Epilogue's, bit for bit.
TEST(DenseKernelsTest, EveryIsaQuantizesLikeTheInt8Reference) {
  for (int64_t k : {1, 7, 128, 257}) {
    auto x = Random(k, 2.0f, 10 + k);
    // Exact halves after scaling by max / 127 (x[0] = 127 makes the scale
    // 1): ties round to even.
    if (k >= 7) {
      x[0] = 127.0f;
      x[1] = 2.5f;
      x[2] = -3.5f;
      x[3] = 0.5f;
      x[4] = -126.5f;
    }
    EXPECT_TRUE(QuantizesLikeReference(x)) << "k " << k;
  }
  const int64_t n = 37;
  std::vector<int32_t> acc(n), offset(n);
  for (int64_t c = 0; c < n; ++c) {
    acc[c] = static_cast<int32_t>(1000 * c - 17000);
    offset[c] = static_cast<int32_t>(128 * (c % 5) - 256);
  }
  const auto alpha = Random(n, 1.0f, 11), bias = Random(n, 1.0f, 12),
             residual = Random(n, 1.0f, 13);
  for (auto isa :
       {bgemm::Isa::kScalar, bgemm::Isa::kAvx2, bgemm::Isa::kAvx512}) {
    if (!bgemm::IsaSupported(isa)) continue;
    for (bool with_residual : {false, true}) {
      std::vector<float> y(n, NAN), want(n);
      DenseKernelsFor(isa).int8_epilogue_row(
          acc.data(), n, offset.data(), alpha.data(), 0.25f, bias.data(),
          with_residual ? residual.data() : nullptr, y.data());
      for (int64_t c = 0; c < n; ++c) {
        want[c] =
            int8_gemm::Epilogue(acc[c], offset[c], alpha[c], 0.25f, bias[c]);
        if (with_residual) want[c] += residual[c];
      }
      // Bit for bit: the VNNI multiply computes the same epilogue in its
      // registers, and the two int8 multiplies must agree.
      EXPECT_EQ(y, want) << bgemm::IsaName(isa) << " int8 epilogue";
    }
  }
  // Quotients a few ulps from a half, under scales that are not powers of
  // two (where any shortcut around the division, such as a multiply by
  // 1 / s, rounds apart), and a denormal scale.
  std::mt19937 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    const int64_t k = 64;
    const float top =
        trial == 0 ? 1e-39f
                   : std::uniform_real_distribution<float>(0.01f, 100.0f)(rng);
    const float s = top / 127.0f;
    std::vector<float> x(k);
    x[0] = trial % 2 ? top : -top;
    for (int64_t i = 1; i < k; ++i) {
      const int half = std::uniform_int_distribution<int>(-127, 126)(rng);
      float v = (static_cast<float>(half) + 0.5f) * s;
      for (int step = std::uniform_int_distribution<int>(-3, 3)(rng); step != 0;
           step += step > 0 ? -1 : 1) {
        v = std::nextafter(v, step > 0 ? INFINITY : -INFINITY);
      }
      x[i] = std::clamp(v, -top, top);
    }
    ASSERT_TRUE(QuantizesLikeReference(x)) << "trial " << trial;
  }
  // Non-finite inputs (a corrupt bundle's weights, or overflow): NaN
  // quantizes to 0 on every path instead of an undefined conversion, and
  // infinities clamp (model_fuzz found the NaN case). Rows of 4 take the
  // vector kernels' tails, rows of 20 their full blocks too.
  std::vector<float> long_nan(20);
  for (int i = 0; i < 20; ++i) long_nan[i] = 0.37f * static_cast<float>(i - 9);
  long_nan[2] = NAN;
  long_nan[11] = NAN;
  long_nan[19] = NAN;
  std::vector<float> long_inf = long_nan;
  long_inf[5] = INFINITY;
  for (const std::vector<float>& x :
       {std::vector<float>{1.0f, NAN, -2.0f, 0.5f},
        std::vector<float>{INFINITY, 1.0f, -INFINITY, NAN},
        std::vector<float>{NAN, NAN, NAN, NAN}, long_nan, long_inf}) {
    std::vector<int8_t> q;
    EXPECT_TRUE(QuantizesLikeReference(x, &q));
    for (size_t i = 0; i < q.size(); ++i) {
      if (std::isnan(x[i])) {
        EXPECT_EQ(q[i], 0) << "at " << i;
      }
    }
  }
  std::vector<uint8_t> u(5, 0);
  const std::vector<float> zeros(5, 0.0f);
  EXPECT_EQ(ActiveDenseKernels().quantize_row_u8(zeros.data(), 5, u.data()),
            0.0f);
  EXPECT_EQ(u, std::vector<uint8_t>(5, 128));
}

TEST(LayerNormRowsTest, MatchesTheScalarReference) {
  for (int64_t h : {1, 5, 128, 200}) {
    for (int64_t rows : {1, 3, 300}) {
      auto x = Random(rows * h, 3.0f, h + rows);
      for (int64_t i = 0; i < rows * h; ++i) x[i] += 0.5f * (i % 7);  // mean
      const auto gamma = Random(h, 1.0f, 11), beta = Random(h, 1.0f, 12);
      std::vector<float> want = x, got = x;
      LayerNorm(want.data(), rows, gamma, beta, 1e-5f);
      LayerNormRows(got.data(), rows, gamma, beta, 1e-5f);
      ExpectNear(got, want, 1e-5, 1e-5,
                 "h " + std::to_string(h) + " rows " + std::to_string(rows));
    }
  }
}

TEST(GateRowsTest, MatchesTheScalarReference) {
  for (int64_t f : {1, 40, 256, 257}) {
    for (int64_t rows : {1, 3, 100}) {
      const auto gc = Random(rows * 2 * f, 3.0f, f + rows);
      std::vector<float> want(rows * f), got(rows * f, NAN);
      GateCandidate(gc.data(), rows, f, want.data());
      GateRows(gc.data(), rows, f, got.data());
      ExpectNear(got, want, 1e-6, 0,
                 "f " + std::to_string(f) + " rows " + std::to_string(rows));
    }
  }
}

}  // namespace
}  // namespace beex
