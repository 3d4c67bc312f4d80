#include "engine/kernels/attention.h"

#include <vector>

#include "engine/kernels/dense_kernels.h"
#include "engine/kernels/scratch.h"
#include "engine/kernels/threads.h"

namespace beex {

void Attention::Forward(const float* qkv, std::span<const int64_t> lengths,
                        float* ctx) const {
  const DenseKernels& kernels = ActiveDenseKernels();
  const int64_t n = static_cast<int64_t>(lengths.size());
  std::vector<int64_t> first(n + 1, 0);
  int64_t work = 0;  // multiply-adds of both products
  for (int64_t i = 0; i < n; ++i) {
    first[i + 1] = first[i] + lengths[i];
    work += 2 * lengths[i] * lengths[i] * h_;
  }
  ForEachIndex<Schedule::kDynamic>(n, work >= kParallelWork, [&](int64_t i) {
    const int64_t s = lengths[i];
    if (s == 0) return;
    const int64_t keys = PaddedKeys(s);
    thread_local ScratchBuffer<float> kt, p;
    kernels.attend_sample(qkv + first[i] * 3 * h_, s, h_, heads_,
                          ctx + first[i] * h_, kt.Get(keys * (h_ / heads_)),
                          p.Get(ScoreScratch(s)));
  });
}

}  // namespace beex
