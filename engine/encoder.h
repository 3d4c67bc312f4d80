#ifndef BEEX_ENGINE_ENCODER_H_
#define BEEX_ENGINE_ENCODER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/bundle.h"
#include "engine/exit_policy.h"
#include "engine/kernels/attention.h"
#include "engine/kernels/linear.h"

namespace beex {

struct EncoderSample {
  std::span<const int32_t> ids;
  std::span<const int32_t> type_ids;
  ExitSettings exit;
};

struct EncoderResult {
  std::vector<float> output;  // the exit's logits, or its raw regression logit
  int exit_layer = 0;         // 1-based
  int64_t compute_us = 0;     // from the batch's start to this exit
  // With tracing on, the output of every exit the sample passed, in order,
  // and of every learning-to-exit head (empty when the bundle has none).
  std::vector<std::vector<float>> trace;
  std::vector<float> lte_trace;
};

// The binarized early-exit encoder of train/beex_train/model.py.
//
// A batch is packed without padding: the token rows of all samples form one
// [tokens, hidden] matrix for the linear layers, attention runs per sample,
// and after each block the samples whose exit fired are removed from the
// matrix, so later blocks compute only on samples still live.
class Encoder {
  struct PrivateKey {};

 public:
  explicit Encoder(PrivateKey) {}
  static absl::StatusOr<std::unique_ptr<Encoder>> Create(const Bundle& bundle);

  // Thread-safe. Token ids are checked by the caller (Model) to lie in the
  // vocabulary and to be at most max_len long.
  std::vector<EncoderResult> Run(std::span<const EncoderSample> samples,
                                 bool trace = false) const;

  const bundle::Architecture& arch() const { return arch_; }
  bool regression() const { return regression_; }
  // Every block has a BERxiT learning-to-exit head (the `learned` policy).
  bool learned_exits() const { return learned_exits_; }
  // Maps a regression exit's raw output to label units.
  float ToValue(float raw) const;

 private:
  struct Block {
    std::unique_ptr<Linear> qkv, out, gate_cand, down;
    std::vector<float> ln1_gamma, ln1_beta, ln2_gamma, ln2_beta;
    std::vector<float> exit_weight, exit_bias;
    // BERxiT learning-to-exit head, [hidden] and [1]; empty when absent.
    std::vector<float> lte_weight, lte_bias;
  };

  void Embed(std::span<const EncoderSample> samples, std::span<const int> live,
             float* x) const;
  // One block over the packed rows x ([rows, hidden], samples of `lengths`
  // rows each), in place.
  void ForwardBlock(const Block& blk, std::span<const int64_t> lengths,
                    int64_t rows, float* x) const;
  // The block after attention, on one thread: output projection of ctx plus
  // the residual x, LayerNorm, gated feed-forward, residual, LayerNorm; x
  // ([rows, hidden]) is updated in place.
  void BlockTail(const Block& blk, const float* ctx, int64_t rows,
                 float* x) const;
  // 1 when token t of a pair also occurs in the other text (not a special id).
  int MatchFlag(const EncoderSample& sample, size_t t) const;

  bundle::Architecture arch_;
  bool regression_ = false;
  bool learned_exits_ = false;
  float value_min_ = 0, value_max_ = 1;
  std::vector<float> tok_, pos_, type_, ln_emb_gamma_, ln_emb_beta_;
  // Exact-match embedding of pair models ([2, hidden], row 1 for a token that
  // also occurs in the other text); empty when the bundle has none.
  std::vector<float> match_;
  std::vector<int32_t> special_ids_;  // pad, unk, [CLS], [SEP]: never match
  std::vector<Block> blocks_;
  std::unique_ptr<Attention> attention_;
};

}  // namespace beex

#endif  // BEEX_ENGINE_ENCODER_H_
