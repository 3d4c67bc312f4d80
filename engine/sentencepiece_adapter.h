#ifndef BEEX_ENGINE_SENTENCEPIECE_ADAPTER_H_
#define BEEX_ENGINE_SENTENCEPIECE_ADAPTER_H_

#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace beex {

// A SentencePiece model, run inside libbeex_sentencepiece.so (see
// sentencepiece_module.cc for why it lives in its own module).
class SentencePieceAdapter {
 public:
  static absl::StatusOr<SentencePieceAdapter> FromSerializedProto(
      std::string_view proto);
  SentencePieceAdapter(SentencePieceAdapter&& other) noexcept
      : handle_(other.handle_) {
    other.handle_ = nullptr;
  }
  SentencePieceAdapter& operator=(SentencePieceAdapter&&) = delete;
  ~SentencePieceAdapter();

  absl::StatusOr<std::vector<int>> Encode(std::string_view text) const;
  int PieceCount() const;

 private:
  explicit SentencePieceAdapter(void* handle) : handle_(handle) {}
  void* handle_;  // owned; freed through the module
};

}  // namespace beex

#endif  // BEEX_ENGINE_SENTENCEPIECE_ADAPTER_H_
