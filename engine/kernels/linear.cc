#include "engine/kernels/linear.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/kernels/dense_kernels.h"
#include "engine/kernels/scratch.h"
#include "engine/kernels/threads.h"

namespace beex {
namespace {

using dnnl::memory;

// Calls fn(first, rows) for power-of-two chunks of [0, m), largest first.
// oneDNN primitives are made per row count, and the row counts a server
// meets are every packed-token total from 1 to its batch budget: one
// primitive per count grew its memory by hundreds of MB (soak test, issue 7).
// Rows are independent, so a few power-of-two shapes serve every count.
// Chunks of less than kParallelWork multiply-adds run (and have their
// primitives made) on one thread, so the extra calls cost no thread wake-ups.
template <typename Fn>
void ForEachPowerOfTwoChunk(int64_t m, int64_t macs_per_row, Fn fn) {
  for (int64_t first = 0; first < m;) {
    const auto rows =
        static_cast<int64_t>(std::bit_floor(static_cast<uint64_t>(m - first)));
    const SerialScope serial(rows * macs_per_row < kParallelWork);
    fn(first, rows);
    first += rows;
  }
}

std::atomic<Linear::Int8Gemm> active_int8_gemm{int8_gemm::Supported()
                                                   ? Linear::Int8Gemm::kVnni
                                                   : Linear::Int8Gemm::kOneDnn};

}  // namespace

Linear::Int8Gemm Linear::ActiveInt8Gemm() { return active_int8_gemm.load(); }

bool Linear::ForceInt8Gemm(Int8Gemm gemm) {
  if (gemm == Int8Gemm::kVnni && !int8_gemm::Supported()) return false;
  active_int8_gemm.store(gemm);
  return true;
}

Linear::Linear(PrivateKey, Path path, int64_t n, int64_t k)
    : path_(path), n_(n), k_(k), engine_(dnnl::engine::kind::cpu, 0) {}

std::unique_ptr<Linear> Linear::Dense(std::vector<float> weights,
                                      std::vector<float> bias, int64_t n,
                                      int64_t k) {
  auto l = std::make_unique<Linear>(PrivateKey{}, Path::kFloat, n, k);
  l->weights_ = std::move(weights);
  l->bias_ = std::move(bias);
  return l;
}

absl::StatusOr<std::unique_ptr<Linear>> Linear::Binary(
    std::span<const uint8_t> bits, std::span<const float> alpha,
    std::vector<float> bias, int64_t n, int64_t k, uint32_t activation_bits) {
  switch (activation_bits) {
    case 0:
    case 32:
      return Dense(ExpandSigns(bits, alpha, n, k), std::move(bias), n, k);
    case 8: {
      auto l = std::make_unique<Linear>(PrivateKey{}, Path::kInt8, n, k);
      const std::vector<float> ones(n, 1.0f);
      const std::vector<float> signs = ExpandSigns(bits, ones, n, k);
      l->signs_.resize(signs.size());
      for (size_t i = 0; i < signs.size(); ++i) {
        l->signs_[i] = signs[i] < 0 ? -1 : 1;
      }
      // sum_k (q + 128) * w = sum_k q * w + 128 * sum_k w: the offset
      // takes the unsigned shift back out.
      l->offset_.assign(n, 0);
      for (int64_t row = 0; row < n; ++row) {
        for (int64_t col = 0; col < k; ++col) {
          l->offset_[row] += 128 * l->signs_[row * k + col];
        }
      }
      l->alpha_.assign(alpha.begin(), alpha.end());
      l->bias_ = std::move(bias);
      if (int8_gemm::Supported()) {
        l->packed_signs_ =
            int8_gemm::Pack(l->signs_, l->offset_, l->alpha_, l->bias_, n, k);
      }
      return l;
    }
    case 1: {
      auto l = std::make_unique<Linear>(PrivateKey{}, Path::kXnor, n, k);
      l->packed_ = bgemm::PackWeights(bits, alpha, bias, n, k);
      return l;
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("activation_bits ", activation_bits,
                       " is not supported (0 or 32 float, 8, 1)"));
  }
}

int64_t Linear::weight_bytes() const {
  return static_cast<int64_t>(weights_.size() * sizeof(float) + signs_.size() +
                              packed_signs_.data.size() +
                              packed_.data.size() * 4);
}

const Linear::Primitive& Linear::PrimitiveFor(int64_t m, bool residual) const {
  absl::MutexLock lock(&mu_);
  auto& slot = primitives_[{m, residual}];
  if (slot) return *slot;
  const bool int8 = path_ == Path::kInt8;
  const auto src_type = int8 ? memory::data_type::u8 : memory::data_type::f32;
  const auto wei_type = int8 ? memory::data_type::s8 : memory::data_type::f32;
  const auto dst_type = int8 ? memory::data_type::s32 : memory::data_type::f32;
  const memory::desc src({m, k_}, src_type, memory::format_tag::ab);
  // Weights in the layout oneDNN prefers, packed once (see Primitive).
  const memory::desc wei_any({k_, n_}, wei_type, memory::format_tag::any);
  const memory::desc dst({m, n_}, dst_type, memory::format_tag::ab);
  // A primitive's own scratchpad (oneDNN's default, as Debian builds it with
  // DNNL_ENABLE_CONCURRENT_EXEC) is shared by every thread that executes it,
  // and the server's batch workers run the same layers at once: their
  // results mixed (LinearTest.ConcurrentCallsOnOneLayerGiveTheSoloResults).
  // Each executing thread passes its own instead.
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (residual) {
    dnnl::post_ops po;
    po.append_binary(dnnl::algorithm::binary_add, dst);
    attr.set_post_ops(po);
  }
  dnnl::matmul::primitive_desc pd;
  if (int8) {
    pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, wei_any, dst),
                                      attr, engine_);
  } else {
    const memory::desc bias({1, n_}, memory::data_type::f32,
                            memory::format_tag::ab);
    pd = dnnl::matmul::primitive_desc(
        dnnl::matmul::desc(src, wei_any, bias, dst), attr, engine_);
  }
  slot = std::make_unique<Primitive>();
  slot->matmul = dnnl::matmul(pd);
  slot->scratchpad = pd.scratchpad_desc();
  // The packed layout does not depend on M in practice (kernels.md), so one
  // packed copy usually serves every M; compare to be sure.
  for (const auto& [key, other] : primitives_) {
    if (other && other.get() != slot.get() && other->weights &&
        other->weights->get_desc() == pd.weights_desc()) {
      slot->weights = other->weights;
      return *slot;
    }
  }
  // W is stored [N, K]; as the [K, N] operand that is layout "ba".
  const memory::desc plain({k_, n_}, wei_type, memory::format_tag::ba);
  void* source = int8 ? static_cast<void*>(const_cast<int8_t*>(signs_.data()))
                      : static_cast<void*>(const_cast<float*>(weights_.data()));
  memory from(plain, engine_, source);
  slot->weights = std::make_shared<memory>(pd.weights_desc(), engine_);
  dnnl::stream stream(engine_);
  dnnl::reorder(from, *slot->weights).execute(stream, from, *slot->weights);
  stream.wait();
  return *slot;
}

void Linear::Execute(const Primitive& p, const dnnl::stream& stream,
                     std::unordered_map<int, memory>& args) const {
  thread_local ScratchBuffer<uint8_t> scratch_buf;
  const auto bytes = static_cast<int64_t>(p.scratchpad.get_size());
  if (bytes > 0) {
    // oneDNN lays out its buffers from this base: give it a cache line.
    constexpr int64_t kAlign = 64;
    const auto base =
        reinterpret_cast<uintptr_t>(scratch_buf.Get(bytes + kAlign));
    void* aligned =
        reinterpret_cast<void*>((base + kAlign - 1) & ~(kAlign - 1));
    args[DNNL_ARG_SCRATCHPAD] = memory(p.scratchpad, engine_, aligned);
  }
  p.matmul.execute(stream, args);
}

void Linear::Forward(const float* x, int64_t m, float* y,
                     const float* residual) const {
  if (m == 0) return;
  switch (path_) {
    case Path::kFloat:
      ForwardFloat(x, m, y, residual);
      break;
    case Path::kInt8:
      ForwardInt8(x, m, y, residual);
      break;
    case Path::kXnor:
      ForwardXnor(x, m, y, residual);
      break;
  }
}

void Linear::ForwardFloat(const float* x, int64_t m, float* y,
                          const float* residual) const {
  const auto f32 = memory::data_type::f32;
  memory bias({{1, n_}, f32, memory::format_tag::ab}, engine_,
              const_cast<float*>(bias_.data()));
  dnnl::stream stream(engine_);
  ForEachPowerOfTwoChunk(m, k_ * n_, [&](int64_t first, int64_t rows) {
    const Primitive& p = PrimitiveFor(rows, residual != nullptr);
    memory src({{rows, k_}, f32, memory::format_tag::ab}, engine_,
               const_cast<float*>(x + first * k_));
    memory dst({{rows, n_}, f32, memory::format_tag::ab}, engine_,
               y + first * n_);
    std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, src},
                                            {DNNL_ARG_WEIGHTS, *p.weights},
                                            {DNNL_ARG_BIAS, bias},
                                            {DNNL_ARG_DST, dst}};
    if (residual) {
      args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1] =
          memory({{rows, n_}, f32, memory::format_tag::ab}, engine_,
                 const_cast<float*>(residual + first * n_));
    }
    Execute(p, stream, args);
  });
  stream.wait();
}

void Linear::ForwardInt8(const float* x, int64_t m, float* y,
                         const float* residual) const {
  // Quantizing and the epilogue touch every value once; run as passes over
  // the whole batch they took longer than the int8 matmul itself (their
  // operands came from memory, not cache). So each thread takes steps of at
  // most kInt8StepRows rows through all stages, on single-threaded
  // primitives: one OpenMP region per layer instead of three.
  constexpr int64_t kInt8StepRows = 128;
  const DenseKernels& kernels = ActiveDenseKernels();
  const bool vnni = ActiveInt8Gemm() == Int8Gemm::kVnni;
  const int64_t row_bytes = vnni ? int8_gemm::RowBytes(k_) : k_;
  const int64_t threads = omp_get_max_threads();
  const bool parallel = threads > 1 && m * k_ * n_ >= kParallelWork;
  // A batch of under kInt8StepRows rows still gets a step per thread.
  const int64_t step_rows =
      parallel ? std::min(kInt8StepRows, (m + threads - 1) / threads)
               : kInt8StepRows;
  const int64_t steps = (m + step_rows - 1) / step_rows;
  ForEachIndex<Schedule::kDynamic>(steps, parallel, [&](int64_t step) {
    const SerialScope serial(true);
    thread_local ScratchBuffer<uint8_t> u_buf;
    thread_local ScratchBuffer<int32_t> acc_buf;
    const int64_t first = step * step_rows;
    const int64_t rows = std::min(step_rows, m - first);
    uint8_t* u = u_buf.Get(rows * row_bytes);
    float scale[kInt8StepRows];
    for (int64_t r = 0; r < rows; ++r) {
      uint8_t* row = u + r * row_bytes;
      scale[r] = kernels.quantize_row_u8(x + (first + r) * k_, k_, row);
      std::fill(row + k_, row + row_bytes, uint8_t{0});
    }
    const float* step_residual = residual ? residual + first * n_ : nullptr;
    if (vnni) {
      int8_gemm::MultiplyEpilogue(u, rows, packed_signs_, scale, step_residual,
                                  y + first * n_);
      return;
    }
    int32_t* acc = acc_buf.Get(rows * n_);
    MultiplyOneDnn(u, rows, acc);
    for (int64_t r = 0; r < rows; ++r) {
      kernels.int8_epilogue_row(
          acc + r * n_, n_, offset_.data(), alpha_.data(), scale[r],
          bias_.data(), step_residual ? step_residual + r * n_ : nullptr,
          y + (first + r) * n_);
    }
  });
}

void Linear::MultiplyOneDnn(const uint8_t* u, int64_t m, int32_t* acc) const {
  dnnl::stream stream(engine_);
  ForEachPowerOfTwoChunk(m, k_ * n_, [&](int64_t done, int64_t piece) {
    const Primitive& p = PrimitiveFor(piece, false);
    memory src({{piece, k_}, memory::data_type::u8, memory::format_tag::ab},
               engine_, const_cast<uint8_t*>(u + done * k_));
    memory dst({{piece, n_}, memory::data_type::s32, memory::format_tag::ab},
               engine_, acc + done * n_);
    std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, src},
                                            {DNNL_ARG_WEIGHTS, *p.weights},
                                            {DNNL_ARG_DST, dst}};
    Execute(p, stream, args);
  });
  stream.wait();
}

void Linear::ForwardXnor(const float* x, int64_t m, float* y,
                         const float* residual) const {
  thread_local ScratchBuffer<uint32_t> bits_buf;
  thread_local ScratchBuffer<float> beta_buf;
  uint32_t* bits = bits_buf.Get(m * bgemm::WordsFor(k_));
  float* beta = beta_buf.Get(m);
  bgemm::BinarizeRows(x, m, k_, bits, beta);
  bgemm::Gemm(bits, beta, m, packed_, residual, y);
}

std::vector<float> ExpandSigns(std::span<const uint8_t> packed,
                               std::span<const float> scales, int64_t n,
                               int64_t k) {
  const int64_t words = (k + 63) / 64;
  std::vector<float> w(n * k);
  for (int64_t row = 0; row < n; ++row) {
    for (int64_t col = 0; col < k; ++col) {
      uint64_t word;
      std::memcpy(&word, packed.data() + 8 * (row * words + col / 64), 8);
      const bool negative = (word >> (col % 64)) & 1;
      w[row * k + col] = negative ? -scales[row] : scales[row];
    }
  }
  return w;
}

}  // namespace beex
