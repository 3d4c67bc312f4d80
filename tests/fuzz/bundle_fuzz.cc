// The bundle loader (engine/bundle.h) on arbitrary bytes: it must return
// errors, never crash, and what it accepts must be readable.
// Input: see BundleBytes (bundle_frame.h).
#include <cstdint>
#include <vector>

#include "engine/bundle.h"
#include "tests/fuzz/bundle_frame.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

// Reads every tensor the way the engine would; ASan checks the bounds.
void ReadAll(const beex::Bundle& bundle) {
  for (const auto& [name, t] : bundle.header().tensors()) {
    const std::vector<uint64_t> shape(t.shape().begin(), t.shape().end());
    auto raw = bundle.Raw(name, t.dtype(), shape);
    FUZZ_CHECK(raw.ok());
    FUZZ_CHECK(raw->size() == t.size());
    uint64_t sum = 0;
    for (uint8_t byte : *raw) sum += byte;
    (void)sum;
    if (t.dtype() == "u8" || t.dtype() == "u8z") {
      auto bytes = bundle.Bytes(name);
      if (bytes.ok()) FUZZ_CHECK(bytes->size() == shape[0]);
    } else if (t.dtype() == "f32" || t.dtype() == "f16" || t.dtype() == "b1") {
      auto floats = bundle.Floats(name, shape);
      if (floats.ok()) {
        uint64_t n = 1;
        for (uint64_t d : shape) n *= d;
        FUZZ_CHECK(floats->size() == n);
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  auto bundle =
      beex::Bundle::Parse(beex::fuzz::BundleBytes(data, size), "fuzz");
  if (!bundle.ok()) {
    FUZZ_CHECK(bundle.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  ReadAll(*bundle);
  return 0;
}
