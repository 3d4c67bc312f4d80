#ifndef BEEX_ENGINE_KERNELS_SCRATCH_H_
#define BEEX_ENGINE_KERNELS_SCRATCH_H_

#include <cstdint>
#include <vector>

namespace beex {

// Grows a (thread_local) scratch buffer to `size` elements and returns it.
// It never shrinks: a buffer allocated and zeroed per batch is fresh pages
// from the kernel each time, and faulting them in cost a serving thread
// about a sixth of its time. Contents are left as they were; callers write
// before they read.
template <typename T>
T* Scratch(std::vector<T>& v, int64_t size) {
  if (static_cast<int64_t>(v.size()) < size) v.resize(size);
  return v.data();
}

}  // namespace beex

#endif  // BEEX_ENGINE_KERNELS_SCRATCH_H_
