#include "engine/kernels/dense_kernels.h"

namespace beex {

const DenseKernels& DenseKernelsFor(bgemm::Isa isa) {
  switch (isa) {
#ifdef BEEX_HAVE_AVX512_KERNELS
    case bgemm::Isa::kAvx512:
      return dense_avx512::kKernels;
#else
    case bgemm::Isa::kAvx512:  // not built; IsaSupported says no
#endif
    case bgemm::Isa::kAvx2:
      return dense_avx2::kKernels;
    case bgemm::Isa::kScalar:
      break;
  }
  return dense_scalar::kKernels;
}

const DenseKernels& ActiveDenseKernels() {
  static const DenseKernels& best = DenseKernelsFor(bgemm::BestIsa());
  return best;
}

}  // namespace beex
