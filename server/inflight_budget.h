#ifndef BEEX_SERVER_INFLIGHT_BUDGET_H_
#define BEEX_SERVER_INFLIGHT_BUDGET_H_

#include <atomic>
#include <cstddef>

namespace beex {

// The bytes of request messages admitted and not yet answered, against a
// limit. The queue limits count inputs and requests, and each message may
// be up to --max_receive_message_bytes, so without this the requests held
// in the tokenizer pool, the batch queue and compute could reach thousands
// of times the message limit; with it the requests held stay within the
// budget, plus one request when a single one exceeds it on its own (it
// is admitted when nothing else is in flight, as the batcher's token budget
// lets one long item form a batch, so no valid request is refused forever).
// Lock-free: every call passes through it.
class InflightBudget {
 public:
  explicit InflightBudget(size_t limit_bytes) : limit_(limit_bytes) {}

  // Counts `bytes` in and returns true, or returns false (nothing counted)
  // when they would take the total over the limit. A limit of 0 admits all.
  bool TryAdmit(size_t bytes) {
    size_t held = held_.load(std::memory_order_relaxed);
    do {
      if (limit_ > 0 && held > 0 && held + bytes > limit_) return false;
    } while (!held_.compare_exchange_weak(held, held + bytes,
                                          std::memory_order_relaxed));
    return true;
  }

  // Counts out what TryAdmit let in.
  void Release(size_t bytes) {
    held_.fetch_sub(bytes, std::memory_order_relaxed);
  }

  size_t held() const { return held_.load(std::memory_order_relaxed); }
  size_t limit() const { return limit_; }

 private:
  const size_t limit_;
  std::atomic<size_t> held_{0};
};

}  // namespace beex

#endif  // BEEX_SERVER_INFLIGHT_BUDGET_H_
