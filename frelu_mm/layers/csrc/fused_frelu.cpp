// One-pass fused FReLU for inference (CPU, float32, channels-last):
//   y = max(x, dwconv_kxk(x) + b)      (with_identity)
//   y = max(dwconv_kxk(x) + b, 0)      (without)
// stride 1, zero padding k/2. Each output row reads k input rows (cached) and
// writes once: memory traffic is that of an out-of-place ReLU. Rows (n, h) are
// split over torch's OpenMP threads; the inner loops run over contiguous channels
// in fixed blocks that the compiler keeps in vector registers. The row kernel is
// compiled for the baseline ISA and (GCC >= 12, x86-64) for AVX2+FMA, picked by
// the CPU's features at load time.
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>
#include <algorithm>

namespace {

constexpr int CB = 32;  // channels per register block

// GCC on x86-64: an AVX2+FMA clone of the row kernel besides the baseline one,
// chosen by the CPU's features when the library is loaded
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define FRELU_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define FRELU_CLONES
#endif

__attribute__((always_inline)) inline float combine(float x, float t, bool identity) {
  if (!identity) x = 0.f;
  return (x > t || x != x) ? x : t;  // NaN-propagating like torch.maximum
}

// 8 floats; GCC lowers it to two SSE registers on the baseline ISA, one AVX register
// in the AVX2 clone. aligned(4): loads and stores need no alignment.
typedef float v8 __attribute__((vector_size(32), aligned(4)));
typedef int v8i __attribute__((vector_size(32)));

__attribute__((always_inline)) inline v8 combine8(v8 x, v8 t, bool identity) {
  if (!identity) x = v8{} ;
  v8i keep = (x > t) | (x != x);  // bitwise select: no blend instruction needed
  return (v8)((keep & (v8i)x) | (~keep & (v8i)t));
}

// B = V * 8 channels from c: accumulators stay in registers over the taps
template <int V, bool ID>
__attribute__((always_inline)) inline void block(
    const float* xn, const float* wt, const float* b, float* yo, const float* xc,
    int64_t c, int64_t C, int64_t W, int64_t h, int64_t w, int p, int k,
    int dy0, int dy1, int dx0, int dx1) {
  v8 acc[V];
  for (int j = 0; j < V; ++j) acc[j] = *(const v8*)(b + c + 8 * j);
  for (int dy = dy0; dy < dy1; ++dy) {
    const int64_t row = (h + dy - p) * W;
    for (int dx = dx0; dx < dx1; ++dx) {
      const float* xi = xn + (row + w + dx - p) * C + c;
      const float* wi = wt + ((int64_t)dy * k + dx) * C + c;
      for (int j = 0; j < V; ++j) acc[j] += *(const v8*)(wi + 8 * j) * *(const v8*)(xi + 8 * j);
    }
  }
  for (int j = 0; j < V; ++j)
    *(v8*)(yo + c + 8 * j) = combine8(*(const v8*)(xc + c + 8 * j), acc[j], ID);
}

// one channel (the tail when C is not a multiple of 8)
template <bool ID>
__attribute__((always_inline)) inline void block1(
    const float* xn, const float* wt, const float* b, float* yo, const float* xc,
    int64_t c, int64_t C, int64_t W, int64_t h, int64_t w, int p, int k,
    int dy0, int dy1, int dx0, int dx1) {
  float acc = b[c];
  for (int dy = dy0; dy < dy1; ++dy) {
    const int64_t row = (h + dy - p) * W;
    for (int dx = dx0; dx < dx1; ++dx)
      acc += wt[((int64_t)dy * k + dx) * C + c] * xn[(row + w + dx - p) * C + c];
  }
  yo[c] = combine(xc[c], acc, ID);
}

template <bool ID>
__attribute__((always_inline)) inline void rows_impl(
    const float* x, const float* wt, const float* b, float* y, int64_t H, int64_t W,
    int64_t C, int k, int64_t r0, int64_t r1) {
  const int p = k / 2;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / H, h = r % H;
    // no std::max / std::min here: they would not inline into the AVX2 clone
    const int dy0 = h < p ? (int)(p - h) : 0;
    const int dy1 = H + p - h < k ? (int)(H + p - h) : k;
    const float* xn = x + n * H * W * C;
    float* yrow = y + r * W * C;
    for (int64_t w = 0; w < W; ++w) {
      const int dx0 = w < p ? (int)(p - w) : 0;
      const int dx1 = W + p - w < k ? (int)(W + p - w) : k;
      const float* xc = xn + (h * W + w) * C;
      float* yo = yrow + w * C;
      int64_t c = 0;
      for (; c + CB <= C; c += CB)
        block<4, ID>(xn, wt, b, yo, xc, c, C, W, h, w, p, k, dy0, dy1, dx0, dx1);
      for (; c + 8 <= C; c += 8)
        block<1, ID>(xn, wt, b, yo, xc, c, C, W, h, w, p, k, dy0, dy1, dx0, dx1);
      for (; c < C; ++c)
        block1<ID>(xn, wt, b, yo, xc, c, C, W, h, w, p, k, dy0, dy1, dx0, dx1);
    }
  }
}

FRELU_CLONES
void rows(const float* x, const float* wt, const float* b, float* y, int64_t H, int64_t W,
          int64_t C, int k, bool identity, int64_t r0, int64_t r1) {
  if (identity)
    rows_impl<true>(x, wt, b, y, H, W, C, k, r0, r1);
  else
    rows_impl<false>(x, wt, b, y, H, W, C, k, r0, r1);
}

}  // namespace

// x: (N, C, H, W) float32, channels-last contiguous; weight: (C, 1, k, k); bias: (C).
at::Tensor fused_frelu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                       bool with_identity) {
  TORCH_CHECK(x.dim() == 4 && x.scalar_type() == at::kFloat && x.device().is_cpu(),
              "fused_frelu: x must be a 4-d float32 CPU tensor");
  TORCH_CHECK(x.is_contiguous(at::MemoryFormat::ChannelsLast),
              "fused_frelu: x must be channels-last contiguous");
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t k = weight.size(-1);
  TORCH_CHECK(weight.dim() == 4 && weight.size(0) == C && weight.size(1) == 1 &&
              weight.size(2) == k && k % 2 == 1 && weight.scalar_type() == at::kFloat,
              "fused_frelu: weight must be float32 (C, 1, k, k) with odd k");
  TORCH_CHECK(bias.numel() == C && bias.scalar_type() == at::kFloat,
              "fused_frelu: bias must be float32 (C)");
  // (C, 1, k, k) -> (k, k, C): each tap's weights contiguous over channels
  auto wt = weight.reshape({C, k * k}).t().contiguous();
  auto b = bias.contiguous();
  auto y = at::empty({N, C, H, W}, x.options().memory_format(at::MemoryFormat::ChannelsLast));
  if (y.numel() == 0) return y;
  const float* xp = x.data_ptr<float>();
  const float* wp = wt.data_ptr<float>();
  const float* bp = b.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  // grain: about 32k outputs per task
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, W * C));
  at::parallel_for(0, N * H, grain, [&](int64_t r0, int64_t r1) {
    rows(xp, wp, bp, yp, H, W, C, (int)k, with_identity, r0, r1);
  });
  return y;
}

// Whether the AVX2+FMA clone runs on this CPU (the baseline one is correct but
// slower than PyTorch's eager ops).
bool fast_path() {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
  __builtin_cpu_init();
  return __builtin_cpu_supports("x86-64-v3");
#else
  return false;
#endif
}

// torch.ops.frelu_mm.* (no pybind11: a much shorter build)
TORCH_LIBRARY(frelu_mm, m) {
  m.def("fast_path() -> bool", &fast_path);
  m.def("fused_frelu(Tensor x, Tensor weight, Tensor bias, bool with_identity) -> Tensor",
        &fused_frelu);
}
