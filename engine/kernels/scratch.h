#ifndef BEEX_ENGINE_KERNELS_SCRATCH_H_
#define BEEX_ENGINE_KERNELS_SCRATCH_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace beex {

// A (thread_local) scratch buffer reused from batch to batch. A buffer
// allocated and zeroed per batch is fresh pages from the kernel each time,
// and faulting them in cost a serving thread about a sixth of its time, so it
// keeps its size; but after kShrinkAfter requests in a row for under a
// quarter of it (a burst of long batches is over) it gives the memory back,
// keeping twice the latest request. Contents are left as they were; callers
// write before they read.
template <typename T>
class ScratchBuffer {
 public:
  static constexpr int kShrinkAfter = 1000;

  T* Get(int64_t size) {
    const auto want = static_cast<std::size_t>(size);
    if (want > v_.size()) {
      v_.resize(want);
      small_requests_ = 0;
    } else if (4 * want >= v_.size()) {
      small_requests_ = 0;
    } else if (++small_requests_ >= kShrinkAfter) {
      v_.resize(2 * want + 1);  // never empty: data() stays non-null
      v_.shrink_to_fit();
      small_requests_ = 0;
    }
    return v_.data();
  }

  // Elements held now.
  std::size_t capacity() const { return v_.capacity(); }

 private:
  std::vector<T> v_;
  int small_requests_ = 0;
};

}  // namespace beex

#endif  // BEEX_ENGINE_KERNELS_SCRATCH_H_
