// The tokenizer path of a request: bytes -> (validation) -> SentencePiece ->
// [CLS] a [SEP] (b [SEP]), with the tokenizers of the bundled models.
// Input: first byte bit 0 picks a sentence pair (models/stsb.beex, the rest
// split at the first tab) or a single text (models/sst2.beex).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "engine/bundle.h"
#include "engine/tokenizer.h"
#include "server/validation.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

beex::Tokenizer LoadTokenizer(const char* model) {
  const std::string path = std::string(BEEX_SOURCE_DIR) + "/models/" + model;
  auto bundle = beex::Bundle::Read(path);
  if (!bundle.ok()) {
    std::fprintf(stderr, "%s\n", bundle.status().ToString().c_str());
    std::abort();
  }
  const auto& t = bundle->header().tokenizer();
  auto proto = bundle->Bytes(t.tensor());
  FUZZ_CHECK(proto.ok());
  auto tokenizer = beex::Tokenizer::Create(
      *proto, {t.pad_id(), t.unk_id(), t.cls_id(), t.sep_id(),
               static_cast<int>(bundle->header().architecture().max_len())});
  FUZZ_CHECK(tokenizer.ok());
  return *std::move(tokenizer);
}

bool Valid(std::string_view text) {
  return beex::ValidateText(text, "text", beex::RequestLimits{}).ok();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const beex::Tokenizer single = LoadTokenizer("sst2.beex");
  static const beex::Tokenizer pair = LoadTokenizer("stsb.beex");
  if (size == 0) return 0;
  const bool is_pair = data[0] & 1;
  std::string_view a(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::optional<std::string_view> b;
  if (is_pair) {
    const size_t tab = a.find('\t');
    b = tab == a.npos ? std::string_view() : a.substr(tab + 1);
    a = a.substr(0, tab == a.npos ? a.size() : tab);
  }
  const beex::Tokenizer& tok = is_pair ? pair : single;
  const beex::TokenizerConfig& c = tok.config();
  auto t = tok.Encode(a, b);
  // What the server lets through must tokenize; anything else must not crash.
  const bool valid = Valid(a) && (!b || Valid(*b));
  FUZZ_CHECK(t.ok() || !valid);
  if (!t.ok()) return 0;

  const auto& ids = t->ids;
  FUZZ_CHECK(ids.size() == t->type_ids.size());
  FUZZ_CHECK(ids.size() >= (b ? 3u : 2u));
  FUZZ_CHECK(ids.size() <= static_cast<size_t>(c.max_len));
  FUZZ_CHECK(ids.front() == c.cls_id && ids.back() == c.sep_id);
  for (int32_t id : ids) FUZZ_CHECK(id >= 0 && id < tok.vocab_size());
  // Segment ids: zeros for [CLS] a [SEP], then ones for b [SEP].
  size_t zeros = 0;
  while (zeros < ids.size() && t->type_ids[zeros] == 0) ++zeros;
  for (size_t i = zeros; i < ids.size(); ++i) FUZZ_CHECK(t->type_ids[i] == 1);
  FUZZ_CHECK(b ? zeros >= 2 && zeros < ids.size() : zeros == ids.size());
  FUZZ_CHECK(ids[zeros - 1] == c.sep_id);

  // Truncation only drops tokens from the end: text a's pieces are a prefix
  // of a alone, and all of them when they fit.
  auto alone = tok.Encode(a);
  FUZZ_CHECK(alone.ok());
  const size_t a_len = zeros - 2;
  const size_t alone_len = alone->ids.size() - 2;
  FUZZ_CHECK(a_len <= alone_len);
  for (size_t i = 0; i < a_len; ++i)
    FUZZ_CHECK(ids[1 + i] == alone->ids[1 + i]);
  if (!b) FUZZ_CHECK(alone->ids == ids);
  // Deterministic.
  auto again = tok.Encode(a, b);
  FUZZ_CHECK(again.ok() && again->ids == ids && again->type_ids == t->type_ids);
  return 0;
}
