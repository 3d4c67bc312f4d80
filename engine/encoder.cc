#include "engine/encoder.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "engine/kernels/rowwise.h"
#include "engine/kernels/scratch.h"
#include "engine/kernels/threads.h"

namespace beex {
namespace {

using Shape = std::vector<uint64_t>;

absl::StatusOr<std::unique_ptr<Linear>> LoadLinear(const Bundle& b,
                                                   const std::string& name,
                                                   uint64_t n, uint64_t k,
                                                   bool binary) {
  auto bias = b.Floats(name + ".bias", {n});
  if (!bias.ok()) return bias.status();
  if (binary) {
    auto bits = b.Raw(name + ".weight", "b1", {n, k});
    if (!bits.ok()) return bits.status();
    auto scale = b.Floats(name + ".scale", {n});
    if (!scale.ok()) return scale.status();
    auto linear = Linear::Binary(*bits, *scale, *std::move(bias), n, k,
                                 b.header().architecture().activation_bits());
    if (!linear.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bundle ", b.header().name(), ": ", linear.status().message()));
    }
    return linear;
  }
  auto w = b.Floats(name + ".weight", {n, k});
  if (!w.ok()) return w.status();
  return Linear::Dense(*std::move(w), *std::move(bias), n, k);
}

// Consecutive samples whose rows one thread takes through a block.
struct SampleGroup {
  int64_t first_sample = 0, samples = 0, first_row = 0, rows = 0;
};

// A thread's QKV and attention output for the rows it takes through a block.
// A function, not a thread_local declared in ForwardBlock: an OpenMP worker
// that only uses such a variable never passes through its declaration, so
// it was never constructed there nor destroyed when the worker exited
// (LeakSanitizer, concurrency_test); each thread calling this does.
struct BlockScratch {
  ScratchBuffer<float> qkv, ctx;
};
BlockScratch& ThreadBlockScratch() {
  thread_local BlockScratch scratch;
  return scratch;
}

// Rows of a tile of the block's row-wise stages: its intermediates (about
// 4.5 KB a row for hidden 128, ffn 256) stay in L2.
constexpr int64_t kTailRows = 64;

// Groups of about rows / (4 * threads) rows (so dynamic scheduling can even
// out the threads), at least 16 (shorter matrix products lose speed) and at
// most kTailRows; a sample longer than that is a group of its own.
std::vector<SampleGroup> GroupSamples(std::span<const int64_t> lengths,
                                      int64_t rows, int64_t threads) {
  const int64_t target = std::clamp<int64_t>(
      (rows + 4 * threads - 1) / (4 * threads), 16, kTailRows);
  std::vector<SampleGroup> groups;
  SampleGroup g;
  for (int64_t s = 0; s < static_cast<int64_t>(lengths.size()); ++s) {
    if (g.samples > 0 && g.rows + lengths[s] > target) {
      groups.push_back(g);
      g = {s, 0, g.first_row + g.rows, 0};
    }
    ++g.samples;
    g.rows += lengths[s];
  }
  if (g.samples > 0) groups.push_back(g);
  return groups;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Encoder>> Encoder::Create(const Bundle& b) {
  const auto& a = b.header().architecture();
  if (a.hidden() == 0 || a.heads() == 0 || a.hidden() % a.heads() != 0 ||
      a.layers() == 0 || a.ffn() == 0 || a.max_len() < 4 ||
      a.num_outputs() == 0 || a.vocab_size() == 0 || a.type_vocab() < 2 ||
      !(a.ln_eps() > 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bundle ", b.header().name(), ": invalid architecture (hidden ",
        a.hidden(), ", heads ", a.heads(), ", ffn ", a.ffn(), ", layers ",
        a.layers(), ", max_len ", a.max_len(), ", outputs ", a.num_outputs(),
        ")"));
  }
  auto enc = std::make_unique<Encoder>(PrivateKey{});
  enc->arch_ = a;
  enc->regression_ = b.header().task() == "regression";
  if (enc->regression_) {
    enc->value_min_ = b.header().regression_range().min();
    enc->value_max_ = b.header().regression_range().max();
  }
  const uint64_t h = a.hidden(), f = a.ffn();
  // Assigns a loaded tensor or returns its error from Create.
#define BEEX_ASSIGN(dst, expr)              \
  {                                         \
    auto value = (expr);                    \
    if (!value.ok()) return value.status(); \
    dst = *std::move(value);                \
  }
  BEEX_ASSIGN(enc->tok_, b.Floats("emb.tok", {a.vocab_size(), h}));
  BEEX_ASSIGN(enc->pos_, b.Floats("emb.pos", {a.max_len(), h}));
  BEEX_ASSIGN(enc->type_, b.Floats("emb.type", {a.type_vocab(), h}));
  if (b.header().tensors().contains("emb.match")) {
    BEEX_ASSIGN(enc->match_, b.Floats("emb.match", {2, h}));
    const auto& t = b.header().tokenizer();
    enc->special_ids_ = {t.pad_id(), t.unk_id(), t.cls_id(), t.sep_id()};
  }
  BEEX_ASSIGN(enc->ln_emb_gamma_, b.Floats("emb.ln.gamma", {h}));
  BEEX_ASSIGN(enc->ln_emb_beta_, b.Floats("emb.ln.beta", {h}));
  for (uint32_t i = 0; i < a.layers(); ++i) {
    const std::string p = absl::StrCat("blocks.", i, ".");
    Block blk;
    BEEX_ASSIGN(blk.qkv, LoadLinear(b, p + "qkv", 3 * h, h, a.binary()));
    BEEX_ASSIGN(blk.out, LoadLinear(b, p + "out", h, h, a.binary()));
    BEEX_ASSIGN(blk.gate_cand,
                LoadLinear(b, p + "gate_cand", 2 * f, h, a.binary()));
    BEEX_ASSIGN(blk.down, LoadLinear(b, p + "down", h, f, a.binary()));
    BEEX_ASSIGN(blk.ln1_gamma, b.Floats(p + "ln1.gamma", {h}));
    BEEX_ASSIGN(blk.ln1_beta, b.Floats(p + "ln1.beta", {h}));
    BEEX_ASSIGN(blk.ln2_gamma, b.Floats(p + "ln2.gamma", {h}));
    BEEX_ASSIGN(blk.ln2_beta, b.Floats(p + "ln2.beta", {h}));
    const std::string e = absl::StrCat("exits.", i, ".");
    BEEX_ASSIGN(blk.exit_weight, b.Floats(e + "weight", {a.num_outputs(), h}));
    BEEX_ASSIGN(blk.exit_bias, b.Floats(e + "bias", {a.num_outputs()}));
    if (b.header().tensors().contains(e + "lte.weight")) {
      BEEX_ASSIGN(blk.lte_weight, b.Floats(e + "lte.weight", {1, h}));
      BEEX_ASSIGN(blk.lte_bias, b.Floats(e + "lte.bias", {1}));
    }
    if (i > 0 && blk.lte_weight.empty() != enc->blocks_[0].lte_weight.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "block ", i,
          " and block 0 disagree on having a learning-to-exit "
          "head (exits.N.lte.weight): all blocks have one or none"));
    }
    enc->blocks_.push_back(std::move(blk));
  }
#undef BEEX_ASSIGN
  enc->learned_exits_ = !enc->blocks_[0].lte_weight.empty();
  enc->attention_ = std::make_unique<Attention>(h, a.heads());
  return enc;
}

float Encoder::ToValue(float raw) const {
  return value_min_ + (value_max_ - value_min_) / (1.0f + std::exp(-raw));
}

int Encoder::MatchFlag(const EncoderSample& sample, size_t t) const {
  const int32_t id = sample.ids[t];
  if (std::find(special_ids_.begin(), special_ids_.end(), id) !=
      special_ids_.end()) {
    return 0;
  }
  for (size_t u = 0; u < sample.ids.size(); ++u) {
    if (sample.ids[u] == id && sample.type_ids[u] != sample.type_ids[t]) {
      return 1;
    }
  }
  return 0;
}

void Encoder::Embed(std::span<const EncoderSample> samples,
                    std::span<const int> live, float* x) const {
  const int64_t h = arch_.hidden();
  int64_t row = 0;
  for (int s : live) {
    const EncoderSample& sample = samples[s];
    for (size_t t = 0; t < sample.ids.size(); ++t, ++row) {
      const float* tok = tok_.data() + sample.ids[t] * h;
      const float* pos = pos_.data() + t * h;
      const float* typ = type_.data() + sample.type_ids[t] * h;
      for (int64_t i = 0; i < h; ++i) x[row * h + i] = tok[i] + pos[i] + typ[i];
      if (!match_.empty()) {
        const float* m = match_.data() + MatchFlag(sample, t) * h;
        for (int64_t i = 0; i < h; ++i) x[row * h + i] += m[i];
      }
    }
  }
  LayerNormRows(x, row, ln_emb_gamma_, ln_emb_beta_, arch_.ln_eps());
}

void Encoder::BlockTail(const Block& blk, const float* ctx, int64_t rows,
                        float* x) const {
  const int64_t h = arch_.hidden(), f = arch_.ffn();
  thread_local ScratchBuffer<float> x1_buf, gc_buf, gated_buf;
  float* const x1 = x1_buf.Get(rows * h);
  float* const gc = gc_buf.Get(rows * 2 * f);
  float* const gated = gated_buf.Get(rows * f);
  blk.out->Forward(ctx, rows, x1, /*residual=*/x);
  LayerNormRows(x1, rows, blk.ln1_gamma, blk.ln1_beta, arch_.ln_eps());
  blk.gate_cand->Forward(x1, rows, gc);
  GateRows(gc, rows, f, gated);
  blk.down->Forward(gated, rows, x, /*residual=*/x1);
  LayerNormRows(x, rows, blk.ln2_gamma, blk.ln2_beta, arch_.ln_eps());
}

void Encoder::ForwardBlock(const Block& blk, std::span<const int64_t> lengths,
                           int64_t rows, float* x) const {
  // Run stage by stage over the whole batch, every stage wrote a matrix that
  // outgrew L2 (the gate's input alone is 2 * ffn floats a row) and the next
  // stage read it back: the int8 epilogue's stores and the attention's key
  // loads were the hottest instructions of the engine. So each thread takes
  // a group of whole samples (attention needs all of a sample's rows)
  // through every stage of the block, its intermediates in L2. Every row is
  // computed in the same order whatever group it is in (the kernels are
  // row-independent), so grouping changes no result.
  const int64_t h = arch_.hidden();
  const int64_t threads = omp_get_max_threads();
  const std::vector<SampleGroup> groups = GroupSamples(lengths, rows, threads);
  const int64_t macs_per_row =
      blk.qkv->k() * blk.qkv->n() + blk.out->k() * blk.out->n() +
      blk.gate_cand->k() * blk.gate_cand->n() + blk.down->k() * blk.down->n();
  const bool parallel = threads > 1 && rows * macs_per_row >= kParallelWork;
  if (parallel && static_cast<int64_t>(groups.size()) < 2 * threads) {
    // Too few groups to keep the threads busy (one long sample, or a few):
    // each stage over all rows, on all threads.
    BlockScratch& scratch = ThreadBlockScratch();
    float* const qkv = scratch.qkv.Get(rows * 3 * h);
    float* const ctx = scratch.ctx.Get(rows * h);
    blk.qkv->Forward(x, rows, qkv);
    attention_->Forward(qkv, lengths, ctx);
    const int64_t tiles = (rows + kTailRows - 1) / kTailRows;
    ForEachIndex<Schedule::kDynamic>(tiles, true, [&](int64_t tile) {
      const SerialScope serial(true);
      const int64_t first = tile * kTailRows;
      BlockTail(blk, ctx + first * h, std::min(kTailRows, rows - first),
                x + first * h);
    });
    return;
  }
  const auto group_count = static_cast<int64_t>(groups.size());
  ForEachIndex<Schedule::kDynamic>(group_count, parallel, [&](int64_t i) {
    const SerialScope serial(true);
    const SampleGroup& g = groups[i];
    BlockScratch& scratch = ThreadBlockScratch();
    float* const qkv = scratch.qkv.Get(g.rows * 3 * h);
    float* const ctx = scratch.ctx.Get(g.rows * h);
    float* const xg = x + g.first_row * h;
    blk.qkv->Forward(xg, g.rows, qkv);
    attention_->Forward(qkv, lengths.subspan(g.first_sample, g.samples), ctx);
    for (int64_t first = 0; first < g.rows; first += kTailRows) {
      BlockTail(blk, ctx + first * h, std::min(kTailRows, g.rows - first),
                xg + first * h);
    }
  });
}

std::vector<EncoderResult> Encoder::Run(std::span<const EncoderSample> samples,
                                        bool trace) const {
  const auto start = std::chrono::steady_clock::now();
  ApplyIntraOpThreads();
  const int64_t h = arch_.hidden(), c = arch_.num_outputs();
  const int layers = static_cast<int>(arch_.layers());
  std::vector<EncoderResult> results(samples.size());
  std::vector<ExitTracker> trackers;
  trackers.reserve(samples.size());
  for (const auto& s : samples) trackers.emplace_back(s.exit, regression_);

  std::vector<int> live(samples.size());
  std::iota(live.begin(), live.end(), 0);
  auto length = [&](int s) {
    return static_cast<int64_t>(samples[s].ids.size());
  };
  int64_t rows = 0;
  for (int s : live) rows += length(s);

  // Activations, reused by every batch this thread runs (scratch.h).
  thread_local ScratchBuffer<float> x_buf;
  float* const x = x_buf.Get(rows * h);
  Embed(samples, live, x);

  std::vector<float> pooled(h), output(c);
  std::vector<int64_t> lengths;
  for (int layer = 0; layer < layers && !live.empty(); ++layer) {
    const Block& blk = blocks_[layer];
    lengths.clear();
    for (int s : live) lengths.push_back(length(s));
    ForwardBlock(blk, lengths, rows, x);

    // Exits: mean-pool each live sample, run its head, ask its policy.
    std::vector<int> still_live;
    int64_t kept_rows = 0;
    int64_t first = 0;
    for (int s : live) {
      const int64_t n = length(s);
      std::fill(pooled.begin(), pooled.end(), 0.0f);
      for (int64_t t = 0; t < n; ++t) {
        for (int64_t i = 0; i < h; ++i) pooled[i] += x[(first + t) * h + i];
      }
      for (float& v : pooled) v /= static_cast<float>(n);
      for (int64_t o = 0; o < c; ++o) {
        float acc = blk.exit_bias[o];
        for (int64_t i = 0; i < h; ++i) {
          acc += blk.exit_weight[o * h + i] * pooled[i];
        }
        output[o] = acc;
      }
      // Without an LTE head the learned policy never fires (score 0).
      float lte = 0.0f;
      if (!blk.lte_weight.empty()) {
        float acc = blk.lte_bias[0];
        for (int64_t i = 0; i < h; ++i) acc += blk.lte_weight[i] * pooled[i];
        lte = 1.0f / (1.0f + std::exp(-acc));
        if (trace) results[s].lte_trace.push_back(lte);
      }
      if (trace) results[s].trace.push_back(output);
      const float value = regression_ ? ToValue(output[0]) : 0.0f;
      const bool policy_stop =
          trackers[s].Observe(regression_ ? std::span<const float>(&value, 1)
                                          : std::span<const float>(output),
                              lte);
      const int cap = samples[s].exit.max_layers;
      if (policy_stop || layer + 1 == layers || layer + 1 == cap) {
        results[s].output = output;
        results[s].exit_layer = layer + 1;
        results[s].compute_us =
            std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::steady_clock::now() - start)
                .count();
      } else {
        // Compaction: move the survivor's rows up over the exited ones.
        if (kept_rows != first) {
          std::copy(x + first * h, x + (first + n) * h, x + kept_rows * h);
        }
        kept_rows += n;
        still_live.push_back(s);
      }
      first += n;
    }
    live = std::move(still_live);
    rows = kept_rows;
  }
  return results;
}

}  // namespace beex
