#include "engine/tokenizer.h"

#include "absl/strings/str_cat.h"
#include "engine/sentencepiece_adapter.h"

namespace beex {

absl::StatusOr<Tokenizer> Tokenizer::Create(std::string_view model_proto,
                                            const TokenizerConfig& config) {
  auto sp = SentencePieceAdapter::FromSerializedProto(model_proto);
  if (!sp.ok()) return sp.status();
  const int pieces = sp->PieceCount();
  for (int id : {config.pad_id, config.unk_id, config.cls_id, config.sep_id}) {
    if (id < 0 || id >= pieces) {
      return absl::InvalidArgumentError(absl::StrCat(
          "special token id ", id, " outside the vocabulary of ", pieces));
    }
  }
  if (config.max_len < 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_len ", config.max_len, " leaves no room for text"));
  }
  return Tokenizer(*std::move(sp), config);
}

int Tokenizer::vocab_size() const { return sp_.PieceCount(); }

void TruncatePair(std::vector<int>& a, std::vector<int>* b, size_t budget) {
  if (b == nullptr) {
    if (a.size() > budget) a.resize(budget);
    return;
  }
  while (a.size() + b->size() > budget) {
    if (a.size() > b->size()) {
      a.pop_back();
    } else {
      b->pop_back();
    }
  }
}

absl::StatusOr<Tokens> Tokenizer::Encode(
    std::string_view text_a, std::optional<std::string_view> text_b) const {
  auto a_ids = sp_.Encode(text_a);
  if (!a_ids.ok()) return a_ids.status();
  std::vector<int> a = *std::move(a_ids), b;
  if (text_b) {
    auto b_ids = sp_.Encode(*text_b);
    if (!b_ids.ok()) return b_ids.status();
    b = *std::move(b_ids);
  }
  const size_t specials = text_b ? 3 : 2;
  TruncatePair(a, text_b ? &b : nullptr, config_.max_len - specials);
  Tokens t;
  t.ids.reserve(a.size() + b.size() + specials);
  t.ids.push_back(config_.cls_id);
  t.ids.insert(t.ids.end(), a.begin(), a.end());
  t.ids.push_back(config_.sep_id);
  t.type_ids.assign(t.ids.size(), 0);
  if (text_b) {
    t.ids.insert(t.ids.end(), b.begin(), b.end());
    t.ids.push_back(config_.sep_id);
    t.type_ids.resize(t.ids.size(), 1);
  }
  return t;
}

}  // namespace beex
