#ifndef BEEX_ENGINE_TOKENIZER_H_
#define BEEX_ENGINE_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/sentencepiece_adapter.h"

namespace beex {

struct TokenizerConfig {
  int pad_id = 0;
  int unk_id = 1;
  int cls_id = 2;
  int sep_id = 3;
  int max_len = 128;  // special tokens included
};

struct Tokens {
  std::vector<int32_t> ids;
  std::vector<int32_t> type_ids;
};

// SentencePiece pieces framed as [CLS] a [SEP] (b [SEP]), the layout the
// model was trained on (train/beex_train/tokenizer.py). Over-long inputs lose
// tokens from the end of the longer text first. Thread-safe.
class Tokenizer {
 public:
  static absl::StatusOr<Tokenizer> Create(std::string_view model_proto,
                                          const TokenizerConfig& config);

  // The caller checks that text is valid UTF-8 and non-empty.
  absl::StatusOr<Tokens> Encode(
      std::string_view text_a,
      std::optional<std::string_view> text_b = std::nullopt) const;
  int vocab_size() const;
  const TokenizerConfig& config() const { return config_; }

 private:
  Tokenizer(SentencePieceAdapter sp, const TokenizerConfig& config)
      : sp_(std::move(sp)), config_(config) {}

  SentencePieceAdapter sp_;
  TokenizerConfig config_;
};

// Drops tokens from the end of the longer list until both fit in budget.
void TruncatePair(std::vector<int>& a, std::vector<int>* b, size_t budget);

}  // namespace beex

#endif  // BEEX_ENGINE_TOKENIZER_H_
