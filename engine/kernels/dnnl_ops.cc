#include "engine/kernels/dnnl_ops.h"

#include <cmath>
#include <vector>

namespace beex {
namespace {

using dnnl::memory;
using Dims = memory::dims;

template <typename T>
T* Scratch(std::vector<T>& v, int64_t size) {
  if (static_cast<int64_t>(v.size()) < size) v.resize(size);
  return v.data();
}

}  // namespace

Attention::Attention(int64_t hidden, int64_t heads)
    : h_(hidden),
      heads_(heads),
      dh_(hidden / heads),
      engine_(dnnl::engine::kind::cpu, 0) {}

const Attention::Prims& Attention::For(int64_t s) const {
  absl::MutexLock lock(&mu_);
  auto& slot = prims_[s];
  if (slot) return *slot;
  const auto f32 = memory::data_type::f32;
  const int64_t row = 3 * h_;
  auto p = std::make_unique<Prims>();
  // Q as [heads, s, dh] and K^T as [heads, dh, s], both read from qkv rows.
  p->q = memory::desc({heads_, s, dh_}, f32, Dims{dh_, row, 1});
  p->k = memory::desc({heads_, dh_, s}, f32, Dims{dh_, 1, row});
  p->p = memory::desc({heads_, s, s}, f32, memory::format_tag::abc);
  p->v = memory::desc({heads_, s, dh_}, f32, Dims{dh_, row, 1});
  p->out = memory::desc({heads_, s, dh_}, f32, Dims{dh_, h_, 1});
  dnnl::primitive_attr scaled;
  scaled.set_output_scales(0, {1.0f / std::sqrt(static_cast<float>(dh_))});
  p->scores = dnnl::matmul(dnnl::matmul::primitive_desc(
      dnnl::matmul::desc(p->q, p->k, p->p), scaled, engine_));
  p->softmax = dnnl::softmax_forward(dnnl::softmax_forward::primitive_desc(
      dnnl::softmax_forward::desc(dnnl::prop_kind::forward_inference, p->p, 2),
      engine_));
  p->context = dnnl::matmul(dnnl::matmul::primitive_desc(
      dnnl::matmul::desc(p->p, p->v, p->out), engine_));
  slot = std::move(p);
  return *slot;
}

void Attention::Forward(const float* qkv, int64_t s, float* ctx) const {
  if (s == 0) return;
  const Prims& p = For(s);
  thread_local std::vector<float> scores_buf;
  float* scores = Scratch(scores_buf, heads_ * s * s);
  float* base = const_cast<float*>(qkv);
  memory q(p.q, engine_, base), k(p.k, engine_, base + h_),
      v(p.v, engine_, base + 2 * h_), sc(p.p, engine_, scores),
      out(p.out, engine_, ctx);
  dnnl::stream stream(engine_);
  p.scores.execute(
      stream, {{DNNL_ARG_SRC, q}, {DNNL_ARG_WEIGHTS, k}, {DNNL_ARG_DST, sc}});
  p.softmax.execute(stream, {{DNNL_ARG_SRC, sc}, {DNNL_ARG_DST, sc}});
  p.context.execute(
      stream, {{DNNL_ARG_SRC, sc}, {DNNL_ARG_WEIGHTS, v}, {DNNL_ARG_DST, out}});
  stream.wait();
}

GateCandidateOp::GateCandidateOp(int64_t f)
    : f_(f), engine_(dnnl::engine::kind::cpu, 0) {}

const GateCandidateOp::Prims& GateCandidateOp::For(int64_t rows) const {
  absl::MutexLock lock(&mu_);
  auto& slot = prims_[rows];
  if (slot) return *slot;
  auto p = std::make_unique<Prims>();
  p->all = memory::desc({rows * 2 * f_}, memory::data_type::f32,
                        memory::format_tag::a);
  p->sigmoid = dnnl::eltwise_forward(dnnl::eltwise_forward::primitive_desc(
      dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference,
                                  dnnl::algorithm::eltwise_logistic, p->all,
                                  0.0f, 0.0f),
      engine_));
  slot = std::move(p);
  return *slot;
}

void GateCandidateOp::Forward(float* gc, int64_t rows, float* out) const {
  if (rows == 0) return;
  const Prims& p = For(rows);
  for (int64_t r = 0; r < rows; ++r) {
    float* c = gc + r * 2 * f_ + f_;
    for (int64_t i = 0; i < f_; ++i) c[i] *= 2.0f;
  }
  memory all(p.all, engine_, gc);
  dnnl::stream stream(engine_);
  p.sigmoid.execute(stream, {{DNNL_ARG_SRC, all}, {DNNL_ARG_DST, all}});
  stream.wait();
  for (int64_t r = 0; r < rows; ++r) {
    const float* g = gc + r * 2 * f_;
    float* o = out + r * f_;
    for (int64_t i = 0; i < f_; ++i) o[i] = g[i] * (2.0f * g[f_ + i] - 1.0f);
  }
}

}  // namespace beex
