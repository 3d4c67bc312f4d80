// engine/kernels/linear.h: the three activation paths of a binarized layer
// against scalar references written from CONTRACT.md, on shapes with K and N
// that are not multiples of 64. The XNOR path is compared exactly; the int8
// path's integer dot products are exact and its float epilogue within 1e-6;
// the float path (oneDNN f32, its own summation order) within 1e-5 relative.
// The int8 path's two multiplies (oneDNN, AVX-512 VNNI) must agree bit for
// bit.
#include <omp.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "engine/kernels/int8_gemm.h"
#include "engine/kernels/linear.h"
#include "engine/kernels/ops.h"
#include "gtest/gtest.h"

namespace beex {
namespace {

struct Layer {
  int64_t n, k;
  std::vector<uint8_t> bits;
  std::vector<float> sign, alpha, bias;  // sign: [n, k] of +-1
};

Layer MakeLayer(int64_t n, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(0.1f, 1.0f);
  std::normal_distribution<float> normal;
  Layer l{n, k, {}, {}, {}, {}};
  const int64_t words = (k + 63) / 64;
  l.bits.assign(n * words * 8, 0);
  l.sign.resize(n * k);
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 0; c < k; ++c) {
      const bool neg = rng() % 3 == 0;
      l.sign[r * k + c] = neg ? -1.0f : 1.0f;
      if (neg) l.bits[(r * words + c / 64) * 8 + (c % 64) / 8] |= 1 << (c % 8);
    }
    l.alpha.push_back(uniform(rng));
    l.bias.push_back(normal(rng));
  }
  return l;
}

std::vector<float> Input(int64_t m, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<float> x(m * k);
  for (float& v : x) v = normal(rng);
  for (int64_t c = 0; c < k; ++c) x[c] = 0.0f;  // an all-zero row: scale 0
  return x;
}

const char* Int8GemmName(Linear::Int8Gemm gemm) {
  return gemm == Linear::Int8Gemm::kVnni ? "vnni" : "onednn";
}

// Selects an int8 multiply for one scope; the default comes back after.
class ScopedInt8Gemm {
 public:
  explicit ScopedInt8Gemm(Linear::Int8Gemm gemm)
      : saved_(Linear::ActiveInt8Gemm()) {
    EXPECT_TRUE(Linear::ForceInt8Gemm(gemm));
  }
  ~ScopedInt8Gemm() { Linear::ForceInt8Gemm(saved_); }

 private:
  Linear::Int8Gemm saved_;
};

TEST(Int8GemmTest, MatchesScalarProductsAndEpilogueOnOddShapes) {
  if (!int8_gemm::Supported()) {
    GTEST_SKIP() << "this CPU has no AVX-512 VNNI";
  }
  std::mt19937 rng(5);
  // Row counts around the 6-row tile, panels around the 4-panel tile, k not
  // a multiple of 4; any s8 weight and u8 value, extremes included.
  for (auto [m, k, n] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1},
                         {5, 7, 17},
                         {6, 128, 64},
                         {13, 130, 129},
                         {7, 256, 48},
                         {64, 128, 384},
                         {20, 3, 80}}) {
    std::vector<int8_t> w(n * k);
    for (auto& v : w)
      v = static_cast<int8_t>(static_cast<int>(rng() % 256) - 128);
    w[0] = -128;
    const int64_t row_bytes = int8_gemm::RowBytes(k);
    std::vector<uint8_t> u(m * row_bytes, 0);
    for (int64_t r = 0; r < m; ++r) {
      for (int64_t i = 0; i < k; ++i) u[r * row_bytes + i] = rng() % 256;
    }
    u[0] = 255;
    std::vector<int32_t> offset(n);
    std::vector<float> alpha(n), bias(n), scale(m), residual(m * n);
    std::normal_distribution<float> normal;
    for (int64_t c = 0; c < n; ++c) {
      offset[c] = static_cast<int32_t>(rng() % 20000) - 10000;
      alpha[c] = normal(rng);
      bias[c] = normal(rng);
    }
    for (float& v : scale) v = std::fabs(normal(rng)) / 127;
    for (float& v : residual) v = normal(rng);
    const auto packed = int8_gemm::Pack(w, offset, alpha, bias, n, k);
    const int64_t stride = packed.panels * int8_gemm::kPanel;
    std::vector<int32_t> acc(m * stride, -1);
    int8_gemm::Multiply(u.data(), m, packed, acc.data(), stride);
    // The fused epilogue writes exactly n columns: a guard value after each
    // output must survive.
    std::vector<float> y(m * n + 1, NAN), y_res(m * n + 1, NAN);
    y[m * n] = y_res[m * n] = 7.0f;
    int8_gemm::MultiplyEpilogue(u.data(), m, packed, scale.data(), nullptr,
                                y.data());
    int8_gemm::MultiplyEpilogue(u.data(), m, packed, scale.data(),
                                residual.data(), y_res.data());
    EXPECT_EQ(y[m * n], 7.0f);
    EXPECT_EQ(y_res[m * n], 7.0f);
    for (int64_t r = 0; r < m; ++r) {
      for (int64_t c = 0; c < stride; ++c) {
        int32_t want = 0;
        for (int64_t i = 0; c < n && i < k; ++i) {
          want += u[r * row_bytes + i] * static_cast<int32_t>(w[c * k + i]);
        }
        ASSERT_EQ(acc[r * stride + c], want)
            << "m " << m << " k " << k << " n " << n << " at " << r << "," << c;
        if (c >= n) continue;
        const float e =
            int8_gemm::Epilogue(want, offset[c], alpha[c], scale[r], bias[c]);
        ASSERT_EQ(y[r * n + c], e) << "m " << m << " n " << n << " at " << r;
        ASSERT_EQ(y_res[r * n + c], e + residual[r * n + c])
            << "m " << m << " n " << n << " at " << r;
      }
    }
  }
}

TEST(QuantizeRowsInt8Test, RoundsHalfToEvenAndClamps) {
  // max |x| = 127 gives scale 1, so x / s = x exactly.
  const std::vector<float> x = {0.5f,  1.5f,   2.5f,    -0.5f,
                                -2.5f, 126.5f, -127.0f, 3.49f};
  std::vector<int8_t> q(x.size());
  float scale = 0;
  QuantizeRowsInt8(x.data(), 1, x.size(), q.data(), &scale);
  EXPECT_EQ(scale, 1.0f);
  EXPECT_EQ(q, (std::vector<int8_t>{0, 2, 2, 0, -2, 126, -127, 3}));
  const std::vector<float> zeros(5, 0.0f);
  QuantizeRowsInt8(zeros.data(), 1, 5, q.data(), &scale);
  EXPECT_EQ(scale, 0.0f);
  EXPECT_EQ(std::vector<int8_t>(q.begin(), q.begin() + 5),
            std::vector<int8_t>(5, 0));
}

TEST(LinearTest, Int8PathIsExactAgainstReference) {
  // From {300, 130, 257} on, shapes are past kParallelWork: their row steps
  // run on all threads ({100, 256, 512}: fewer rows than one full step).
  omp_set_num_threads(2);
  for (auto [m, k, n] : {std::tuple<int64_t, int64_t, int64_t>{1, 64, 64},
                         {7, 100, 33},
                         {40, 130, 129},
                         {3, 1, 5},
                         {300, 130, 257},
                         {2112, 128, 512},
                         {100, 256, 512},
                         {1000, 256, 128}}) {
    const Layer l = MakeLayer(n, k, 1 + m);
    auto lin = Linear::Binary(l.bits, l.alpha, l.bias, n, k, 8);
    ASSERT_TRUE(lin.ok()) << lin.status();
    EXPECT_EQ((*lin)->path(), Linear::Path::kInt8);
    const auto x = Input(m, k, 9 + k);
    const auto res = Input(m, n, 2);
    std::vector<int8_t> q(m * k);
    std::vector<float> s(m);
    QuantizeRowsInt8(x.data(), m, k, q.data(), s.data());
    for (bool residual : {false, true}) {
      const float* r_in = residual ? res.data() : nullptr;
      std::vector<float> y(m * n);
      {
        const ScopedInt8Gemm onednn(Linear::Int8Gemm::kOneDnn);
        (*lin)->Forward(x.data(), m, y.data(), r_in);
      }
      for (int64_t r = 0; r < m; ++r) {
        for (int64_t c = 0; c < n; ++c) {
          int32_t dot = 0;
          for (int64_t i = 0; i < k; ++i) {
            dot += q[r * k + i] * static_cast<int32_t>(l.sign[c * k + i]);
          }
          // The integer dot product is exact; the float epilogue is compared
          // to within float rounding (the compiler may contract it).
          double want =
              static_cast<double>(dot) * l.alpha[c] * s[r] + l.bias[c];
          if (residual) want += res[r * n + c];
          ASSERT_NEAR(y[r * n + c], want, 1e-6 * (1 + std::fabs(want)))
              << "m " << m << " k " << k << " n " << n << " at " << r << ","
              << c;
        }
      }
      if (!int8_gemm::Supported()) continue;
      // Exact integers and the same epilogue: the VNNI multiply gives
      // oneDNN's result, bit for bit.
      std::vector<float> vnni(m * n);
      {
        const ScopedInt8Gemm scoped(Linear::Int8Gemm::kVnni);
        (*lin)->Forward(x.data(), m, vnni.data(), r_in);
      }
      ASSERT_EQ(std::memcmp(vnni.data(), y.data(), y.size() * sizeof(float)), 0)
          << "vnni differs from oneDNN, m " << m << " residual " << residual;
    }
  }
}

TEST(LinearTest, Int8PathApproximatesFloat) {
  // The int8 error bound: per token |x - s*q| <= s/2, so the dot products
  // move by at most alpha * k * s / 2.
  const int64_t m = 5, k = 96, n = 40;
  const Layer l = MakeLayer(n, k, 4);
  auto lin = Linear::Binary(l.bits, l.alpha, l.bias, n, k, 8);
  ASSERT_TRUE(lin.ok());
  const auto x = Input(m, k, 5);
  std::vector<float> y(m * n);
  (*lin)->Forward(x.data(), m, y.data());
  for (int64_t r = 0; r < m; ++r) {
    float top = 0;
    for (int64_t i = 0; i < k; ++i)
      top = std::max(top, std::fabs(x[r * k + i]));
    for (int64_t c = 0; c < n; ++c) {
      double dot = 0;
      for (int64_t i = 0; i < k; ++i) dot += x[r * k + i] * l.sign[c * k + i];
      const double want = l.alpha[c] * dot + l.bias[c];
      EXPECT_NEAR(y[r * n + c], want, l.alpha[c] * k * top / 127 / 2 + 1e-4);
    }
  }
}

TEST(LinearTest, FloatPathMatchesDenseMathWithAndWithoutResidual) {
  for (auto [m, k, n] : {std::tuple<int64_t, int64_t, int64_t>{1, 128, 384},
                         {17, 100, 65},
                         {64, 256, 128}}) {
    const Layer l = MakeLayer(n, k, 3);
    for (uint32_t bits : {0u, 32u}) {
      auto lin = Linear::Binary(l.bits, l.alpha, l.bias, n, k, bits);
      ASSERT_TRUE(lin.ok());
      EXPECT_EQ((*lin)->path(), Linear::Path::kFloat);
      const auto x = Input(m, k, 6);
      const auto res = Input(m, n, 8);
      for (bool residual : {false, true}) {
        std::vector<float> y(m * n);
        (*lin)->Forward(x.data(), m, y.data(), residual ? res.data() : nullptr);
        for (int64_t r = 0; r < m; ++r) {
          for (int64_t c = 0; c < n; ++c) {
            double dot = 0;
            for (int64_t i = 0; i < k; ++i) {
              dot += x[r * k + i] * l.sign[c * k + i];
            }
            double want = l.alpha[c] * dot + l.bias[c];
            if (residual) want += res[r * n + c];
            ASSERT_NEAR(y[r * n + c], want, 1e-5 * (10 + std::fabs(want)));
          }
        }
      }
    }
  }
}

TEST(LinearTest, XnorPathEqualsBgemm) {
  const int64_t m = 11, k = 90, n = 50;
  const Layer l = MakeLayer(n, k, 12);
  auto lin = Linear::Binary(l.bits, l.alpha, l.bias, n, k, 1);
  ASSERT_TRUE(lin.ok());
  EXPECT_EQ((*lin)->path(), Linear::Path::kXnor);
  const auto x = Input(m, k, 13);
  std::vector<float> y(m * n);
  (*lin)->Forward(x.data(), m, y.data());
  for (int64_t r = 0; r < m; ++r) {
    const float beta = bgemm::SumAbs(&x[r * k], k) / k;
    for (int64_t c = 0; c < n; ++c) {
      int32_t differ = 0;
      for (int64_t i = 0; i < k; ++i) {
        differ += (x[r * k + i] < 0) != (l.sign[c * k + i] < 0);
      }
      ASSERT_EQ(y[r * n + c], bgemm::Epilogue(differ, beta, -2 * l.alpha[c],
                                              k * l.alpha[c], l.bias[c]));
    }
  }
}

TEST(LinearTest, PrimitivesPerRowCountGiveConsistentRows) {
  // One packed weight copy serves every M; a row's result must not depend on
  // how many rows share the call (within float tolerance for oneDNN).
  const int64_t k = 128, n = 96;
  const Layer l = MakeLayer(n, k, 21);
  auto lin = Linear::Binary(l.bits, l.alpha, l.bias, n, k, 0);
  ASSERT_TRUE(lin.ok());
  const auto x = Input(33, k, 22);
  std::vector<float> all(33 * n), one(n);
  (*lin)->Forward(x.data(), 33, all.data());
  for (int64_t r : {0, 5, 32}) {
    (*lin)->Forward(x.data() + r * k, 1, one.data());
    for (int64_t c = 0; c < n; ++c) {
      EXPECT_NEAR(one[c], all[r * n + c], 1e-5 * (1 + std::fabs(one[c])));
    }
  }
}

TEST(LinearTest, PrimitivesStayFewWhateverRowCountsArrive) {
  const int64_t k = 64, n = 32;
  const Layer l = MakeLayer(n, k, 23);
  // The VNNI multiply makes no primitives (its own test follows); this
  // counts oneDNN's.
  const ScopedInt8Gemm onednn(Linear::Int8Gemm::kOneDnn);
  for (uint32_t bits : {0u, 8u}) {
    auto lin = Linear::Binary(l.bits, l.alpha, l.bias, n, k, bits);
    ASSERT_TRUE(lin.ok());
    const auto x = Input(300, k, 24);
    std::vector<float> all(300 * n), one(n);
    for (int64_t m = 1; m <= 300; ++m) (*lin)->Forward(x.data(), m, all.data());
    // Powers of two 1..256 (the int8 path works in steps of at most 128
    // rows: 1..128): nine shapes, not one per row count.
    EXPECT_EQ((*lin)->primitive_count(), bits == 8 ? 8u : 9u)
        << "activation bits " << bits;
    // The last call (300 = 256 + 32 + 8 + 4) still gives every row its own
    // result.
    for (int64_t r : {0, 255, 256, 287, 299}) {
      (*lin)->Forward(x.data() + r * k, 1, one.data());
      for (int64_t c = 0; c < n; ++c) {
        EXPECT_NEAR(one[c], all[r * n + c], 1e-5 * (1 + std::fabs(one[c])))
            << "row " << r << " activation bits " << bits;
      }
    }
  }
}

TEST(LinearTest, VnniInt8PathMakesNoPrimitives) {
  if (!int8_gemm::Supported()) {
    GTEST_SKIP() << "this CPU has no AVX-512 VNNI";
  }
  const ScopedInt8Gemm vnni(Linear::Int8Gemm::kVnni);
  const Layer l = MakeLayer(32, 64, 23);
  auto lin = Linear::Binary(l.bits, l.alpha, l.bias, 32, 64, 8);
  ASSERT_TRUE(lin.ok());
  const auto x = Input(300, 64, 24);
  std::vector<float> y(300 * 32);
  for (int64_t m = 1; m <= 300; ++m) (*lin)->Forward(x.data(), m, y.data());
  EXPECT_EQ((*lin)->primitive_count(), 0u);
}

// The server's batch workers run the same model at once, so the same layer
// (and the same oneDNN primitive) executes on several threads together.
// Each thread must get the result the layer gives alone.
TEST(LinearTest, ConcurrentCallsOnOneLayerGiveTheSoloResults) {
  const int64_t m = 64, k = 128, n = 384;
  const Layer l = MakeLayer(n, k, 21);
  const auto x = Input(m, k, 22);
  const auto res = Input(m, n, 23);
  for (auto [bits, gemm] : {std::pair{0u, Linear::ActiveInt8Gemm()},
                            {8u, Linear::Int8Gemm::kOneDnn},
                            {8u, Linear::Int8Gemm::kVnni}}) {
    if (gemm == Linear::Int8Gemm::kVnni && !int8_gemm::Supported()) continue;
    const ScopedInt8Gemm scoped(gemm);
    auto lin = Linear::Binary(l.bits, l.alpha, l.bias, n, k, bits);
    ASSERT_TRUE(lin.ok()) << lin.status();
    std::vector<float> solo(m * n);
    (*lin)->Forward(x.data(), m, solo.data(), res.data());
    std::atomic<int> mismatches{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        std::vector<float> y(m * n);
        for (int i = 0; i < 200; ++i) {
          (*lin)->Forward(x.data(), m, y.data(), res.data());
          if (y != solo) ++mismatches;
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(mismatches.load(), 0)
        << "activation bits " << bits << " " << Int8GemmName(gemm);
  }
}

TEST(LinearTest, UnsupportedActivationBitsAreRefused) {
  const Layer l = MakeLayer(4, 8, 1);
  auto lin = Linear::Binary(l.bits, l.alpha, l.bias, 4, 8, 4);
  ASSERT_FALSE(lin.ok());
  EXPECT_NE(lin.status().message().find("activation_bits 4"),
            std::string::npos);
}

}  // namespace
}  // namespace beex
