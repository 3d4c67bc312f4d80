// engine/kernels/dnnl_ops.h against the scalar references in ops.h, on
// random shapes (sequence lengths 1..70, head widths 12..32). oneDNN sums in
// its own order and uses its own exp/tanh, so the tolerance is 1e-5 relative
// + 1e-5 absolute for attention (sums of O(1) values that cancel) and 1e-6
// absolute for the gate: float rounding, far below the goldens' 2e-3.
#include <cmath>
#include <random>
#include <vector>

#include "engine/kernels/dnnl_ops.h"
#include "engine/kernels/ops.h"
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

TEST(AttentionTest, MatchesScalarReference) {
  for (auto [h, heads] :
       {std::pair<int64_t, int64_t>{48, 3}, {128, 4}, {64, 2}}) {
    const Attention attention(h, heads);
    for (int64_t s : {1, 2, 7, 20, 33, 70, 20}) {  // 20 twice: cached path
      const auto qkv = Random(s * 3 * h, 2.0f, s * 31 + h);
      std::vector<float> want(s * h), got(s * h, NAN);
      SelfAttention(qkv.data(), s, h, heads, want.data());
      attention.Forward(qkv.data(), s, got.data());
      for (int64_t i = 0; i < s * h; ++i) {
        ASSERT_NEAR(got[i], want[i], 1e-5 + 1e-5 * std::fabs(want[i]))
            << "h " << h << " s " << s << " at " << i;
      }
    }
  }
}

TEST(GateCandidateOpTest, MatchesScalarReference) {
  for (int64_t f : {1, 40, 256}) {
    const GateCandidateOp op(f);
    for (int64_t rows : {1, 3, 50}) {
      auto gc = Random(rows * 2 * f, 3.0f, f + rows);
      std::vector<float> want(rows * f), got(rows * f, NAN);
      GateCandidate(gc.data(), rows, f, want.data());
      op.Forward(gc.data(), rows, got.data());
      for (int64_t i = 0; i < rows * f; ++i) {
        ASSERT_NEAR(got[i], want[i], 1e-6 + 1e-5 * std::fabs(want[i]))
            << "f " << f << " rows " << rows << " at " << i;
      }
    }
  }
}

}  // namespace
}  // namespace beex
