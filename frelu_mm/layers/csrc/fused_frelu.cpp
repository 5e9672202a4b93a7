// One-pass fused FReLU for inference (CPU, float32, channels-last):
//   y = max(x, dwconv_kxk(x) + b)      (with_identity)
//   y = max(dwconv_kxk(x) + b, 0)      (without)
// stride 1, zero padding k/2. Each output row reads k input rows (cached) and
// writes once: memory traffic is that of a ReLU. `fused_frelu` writes a new tensor;
// `fused_frelu_` overwrites x (like ReLU(inplace=True): no allocation of the
// activation's size, which on glibc often means fresh, page-faulting mmap memory).
// Rows (n, h) are split over torch's OpenMP threads; the inner loops run over
// contiguous channels in fixed blocks that the compiler keeps in vector registers.
// The row kernel is compiled for the baseline ISA and (GCC >= 12, x86-64) for
// AVX2+FMA, picked by the CPU's features at load time.
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>
#include <algorithm>

namespace {

constexpr int CB = 32;  // channels per register block

// Strips of inner pixels (strip_inner): STRIP_T pixels x STRIP_V * 8 channels (k = 3:
// 8 accumulators and 6 weights, 14 of the 16 AVX registers). Measured slower here:
// strips of 3, 5, 6 or 8 pixels, of 8 channels, weights read in each multiply-add.
constexpr int STRIP_T = 4;
constexpr int STRIP_V = 2;

// GCC on x86-64: an AVX2+FMA clone of the row kernel besides the baseline one,
// chosen by the CPU's features when the library is loaded
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define FRELU_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define FRELU_CLONES
#endif

// max(x, t) as x > t ? x : t (one maxps). It propagates NaN like torch.maximum because
// t = dwconv(x) + b is NaN wherever x is (the centre tap multiplies x).
__attribute__((always_inline)) inline float combine(float x, float t, bool identity) {
  if (!identity) x = 0.f;
  return x > t ? x : t;
}

// 8 floats; GCC lowers it to two SSE registers on the baseline ISA, one AVX register
// in the AVX2 clone. aligned(4): loads and stores need no alignment.
typedef float v8 __attribute__((vector_size(32), aligned(4)));

__attribute__((always_inline)) inline v8 combine8(v8 x, v8 t, bool identity) {
  if (!identity) x = v8{};
  return x > t ? x : t;
}

constexpr int MAXK = 15;  // widest kernel handled (row pointers on the stack)
// Rows with room for this many strips are prefetched in software, one strip ahead
// (measured inside ResNet-50: faster at widths 28 and 56, slower at 14, where a row
// holds 3 strips and the last one's prefetch falls past the row)
constexpr int kPrefetchStrips = 6;

// The input rows of one output row h. rp[dy] is input row h + dy - p of the same
// image, or a row of zeros where that row lies outside the image (the zero padding).
// When writing in place, the output row overwrites its own input row rp[p] pixel by
// pixel: the window of pixel w then reads pixels left of w from `left`, where each
// pixel's input was saved (`save`) just before its output overwrote it. Out of
// place, left == rp[p] and save is null.
struct Window {
  const float* rp[MAXK];
  const float* left;
  float* save;
  const float* zeros;  // at least C zeros: the columns left and right of the image
  int64_t W;
  bool prefetch;  // software prefetch of the input, a strip ahead

  Window(const float* zeros, int64_t W, bool prefetch)
      : left(nullptr), save(nullptr), zeros(zeros), W(W), prefetch(prefetch) {}
};

// The centre pixel's inputs x (V * 8 channels from c of pixel w): saved if in place,
// then combined with the accumulators into the output
template <int V, bool ID>
__attribute__((always_inline)) inline void finish(
    const Window& win, int p, float* yo, int64_t c, int64_t C, int64_t w, const v8* acc) {
  v8 x[V];
  for (int j = 0; j < V; ++j) x[j] = *(const v8*)(win.rp[p] + w * C + c + 8 * j);
  if (win.save)
    for (int j = 0; j < V; ++j) *(v8*)(win.save + w * C + c + 8 * j) = x[j];
  for (int j = 0; j < V; ++j) *(v8*)(yo + c + 8 * j) = combine8(x[j], acc[j], ID);
}

// B = V * 8 channels from c at a pixel w whose window may cross the left or right
// border (taps dx0 .. dx1 inside): accumulators stay in registers over the taps
template <int V, bool ID>
__attribute__((always_inline)) inline void block(
    const Window& win, const float* wt, const float* b, float* yo, int64_t c,
    int64_t C, int64_t w, int p, int k, int dx0, int dx1) {
  v8 acc[V];
  for (int j = 0; j < V; ++j) acc[j] = *(const v8*)(b + c + 8 * j);
  for (int dy = 0; dy < k; ++dy) {
    for (int dx = dx0; dx < dx1; ++dx) {
      const float* row = dy == p && dx < p ? win.left : win.rp[dy];
      const float* xi = row + (w + dx - p) * C + c;
      const float* wi = wt + (c / CB) * k * k * CB + (dy * k + dx) * CB + c % CB;
      for (int j = 0; j < V; ++j) acc[j] += *(const v8*)(wi + 8 * j) * *(const v8*)(xi + 8 * j);
    }
  }
  finish<V, ID>(win, p, yo, c, C, w, acc);
}

// The same with K known at compile time: the taps unroll into straight-line code.
// EDGE: the window may cross the left or right border, whose columns read zeros.
template <int K, int V, bool ID, bool EDGE>
__attribute__((always_inline)) inline void block_inner(
    const Window& win, const float* wt, const float* b, float* yo, int64_t c,
    int64_t C, int64_t w) {
  constexpr int P = K / 2;
  v8 acc[V];
  for (int j = 0; j < V; ++j) acc[j] = *(const v8*)(b + c + 8 * j);
#pragma GCC unroll 8
  for (int dy = 0; dy < K; ++dy) {
    const float* wi = wt + (c / CB) * K * K * CB + c % CB + dy * K * CB;
#pragma GCC unroll 8
    for (int dx = 0; dx < K; ++dx) {
      const float* row = dy == P && dx < P ? win.left : win.rp[dy];
      const int64_t col = w + dx - P;
      const float* xi = EDGE && (col < 0 || col >= win.W) ? win.zeros + c : row + col * C + c;
      for (int j = 0; j < V; ++j)
        acc[j] += *(const v8*)(wi + dx * CB + 8 * j) * *(const v8*)(xi + 8 * j);
    }
  }
  finish<V, ID>(win, P, yo, c, C, w, acc);
}

// T neighbouring inner pixels w0 .. w0 + T - 1 at once, V * 8 channels from c: each
// input vector loaded serves up to K of the T outputs, and the K weights of a window
// row stay in registers over the strip (fewer loads per multiply-add, and T * V
// independent accumulator chains to hide the FMA latency)
template <int K, int T, int V, bool ID, bool PF>
__attribute__((always_inline)) inline void strip_inner(
    const Window& win, const float* wt, const float* b, float* yrow, int64_t c,
    int64_t C, int64_t w0) {
  constexpr int P = K / 2;
  v8 acc[T][V];
  for (int t = 0; t < T; ++t)
    for (int j = 0; j < V; ++j) acc[t][j] = *(const v8*)(b + c + 8 * j);
  const float* wb = wt + (c / CB) * K * K * CB + c % CB;
  // the next strip's new input pixels: T short streams per row C floats apart, too
  // many for the hardware prefetcher when they come from memory (PF: long rows)
  if (PF)
#pragma GCC unroll 8
    for (int dy = 0; dy < K; ++dy)
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) __builtin_prefetch(win.rp[dy] + (w0 + P + T + t) * C + c);
#pragma GCC unroll 8
  for (int dy = 0; dy < K; ++dy) {
    v8 wr[K][V];
#pragma GCC unroll 8
    for (int dx = 0; dx < K; ++dx)
      for (int j = 0; j < V; ++j) wr[dx][j] = *(const v8*)(wb + (dy * K + dx) * CB + 8 * j);
#pragma GCC unroll 16
    for (int q = 0; q < T + K - 1; ++q) {  // input pixel w0 - P + q
      const float* row = dy == P && q < P ? win.left : win.rp[dy];
      const float* xi = row + (w0 - P + q) * C + c;
      for (int j = 0; j < V; ++j) {
        const v8 xv = *(const v8*)(xi + 8 * j);
#pragma GCC unroll 8
        for (int dx = 0; dx < K; ++dx)
          if (q - dx >= 0 && q - dx < T) acc[q - dx][j] += wr[dx][j] * xv;
      }
    }
  }
  for (int t = 0; t < T; ++t) finish<V, ID>(win, P, yrow + (w0 + t) * C, c, C, w0 + t, acc[t]);
}

// one channel (the tail when C is not a multiple of 8)
template <bool ID>
__attribute__((always_inline)) inline void block1(
    const Window& win, const float* wt, const float* b, float* yo, int64_t c,
    int64_t C, int64_t w, int p, int k, int dx0, int dx1) {
  float acc = b[c];
  for (int dy = 0; dy < k; ++dy)
    for (int dx = dx0; dx < dx1; ++dx) {
      const float* row = dy == p && dx < p ? win.left : win.rp[dy];
      acc += wt[(c / CB) * k * k * CB + (dy * k + dx) * CB + c % CB] * row[(w + dx - p) * C + c];
    }
  const float x = win.rp[p][w * C + c];
  if (win.save) win.save[w * C + c] = x;
  yo[c] = combine(x, acc, ID);
}

// The channels of pixel w in unrolled blocks (CB, then 8); returns the first channel
// left over (C % 8 of them)
template <int K, bool ID, bool EDGE>
__attribute__((always_inline)) inline int64_t unrolled_blocks(
    const Window& win, const float* wt, const float* b, float* yo, int64_t C, int64_t w) {
  int64_t c = 0;
  for (; c + CB <= C; c += CB) block_inner<K, CB / 8, ID, EDGE>(win, wt, b, yo, c, C, w);
  for (; c + 8 <= C; c += 8) block_inner<K, 1, ID, EDGE>(win, wt, b, yo, c, C, w);
  return c;
}

// Output pixel w of a row, all its channels, in blocks of CB; K: the kernel size if
// known at compile time, else 0 (k at run time)
template <int K, bool ID>
__attribute__((always_inline)) inline void pixel(
    const Window& win, const float* wt, const float* b, float* yrow, int64_t W,
    int64_t C, int k, int64_t w) {
  const int p = k / 2;
  float* yo = yrow + w * C;
  int64_t c = 0;
  if (K > 0)
    c = w >= p && w + p < W ? unrolled_blocks<K, ID, false>(win, wt, b, yo, C, w)
                            : unrolled_blocks<K, ID, true>(win, wt, b, yo, C, w);
  // no std::max / std::min here: they would not inline into the AVX2 clone
  const int dx0 = w < p ? (int)(p - w) : 0;
  const int dx1 = W + p - w < k ? (int)(W + p - w) : k;
  for (; c + CB <= C; c += CB) block<CB / 8, ID>(win, wt, b, yo, c, C, w, p, k, dx0, dx1);
  for (; c + 8 <= C; c += 8) block<1, ID>(win, wt, b, yo, c, C, w, p, k, dx0, dx1);
  for (; c < C; ++c) block1<ID>(win, wt, b, yo, c, C, w, p, k, dx0, dx1);
}

// One output row from its input window (see above) into yrow. With K known and C a
// multiple of the strip's channels: the border pixels one by one, the inner ones in
// strips of T pixels, each strip channel block by channel block (T streams of
// contiguous channels). Otherwise pixel by pixel.
template <int K, bool ID>
__attribute__((always_inline)) inline void row_impl(
    const Window& win, const float* wt, const float* b, float* yrow, int64_t W,
    int64_t C, int k) {
  constexpr int T = STRIP_T, SV = K >= 5 ? 1 : STRIP_V;
  const int p = k / 2;
  int64_t w = 0;
  if (K > 0 && C % (8 * SV) == 0) {
    for (; w < p && w < W; ++w) pixel<K, ID>(win, wt, b, yrow, W, C, k, w);
    for (; w + T - 1 + p < W; w += T)
      if (win.prefetch)
        for (int64_t c = 0; c < C; c += 8 * SV)
          strip_inner<K, T, SV, ID, true>(win, wt, b, yrow, c, C, w);
      else
        for (int64_t c = 0; c < C; c += 8 * SV)
          strip_inner<K, T, SV, ID, false>(win, wt, b, yrow, c, C, w);
  }
  for (; w < W; ++w) pixel<K, ID>(win, wt, b, yrow, W, C, k, w);
}

template <bool ID>
__attribute__((always_inline)) inline void row_k(
    const Window& win, const float* wt, const float* b, float* yrow, int64_t W, int64_t C,
    int k) {
  switch (k) {
    case 1: return row_impl<1, ID>(win, wt, b, yrow, W, C, k);
    case 3: return row_impl<3, ID>(win, wt, b, yrow, W, C, k);
    case 5: return row_impl<5, ID>(win, wt, b, yrow, W, C, k);
    case 7: return row_impl<7, ID>(win, wt, b, yrow, W, C, k);
    default: return row_impl<0, ID>(win, wt, b, yrow, W, C, k);
  }
}

FRELU_CLONES
void row(const Window& win, const float* wt, const float* b, float* yrow, int64_t W,
         int64_t C, int k, bool identity) {
  if (identity)
    row_k<true>(win, wt, b, yrow, W, C, k);
  else
    row_k<false>(win, wt, b, yrow, W, C, k);
}

inline bool inside(int64_t h, int64_t H) { return h >= 0 && h < H; }

// Output rows [r0, r1) of the (N * H) rows into y (out of place).
void rows_out(const float* x, const float* wt, const float* b, float* y, int64_t H,
              int64_t W, int64_t C, int k, bool identity, int64_t r0, int64_t r1,
              const float* zeros, bool prefetch) {
  const int p = k / 2;
  const int64_t rs = W * C;
  Window win(zeros, W, prefetch);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t h = r % H;
    for (int dy = 0; dy < k; ++dy)
      win.rp[dy] = inside(h + dy - p, H) ? x + (r + dy - p) * rs : zeros;
    win.left = win.rp[p];
    row(win, wt, b, y + r * rs, W, C, k, identity);
  }
}

// In place: output rows [r0, r1) overwrite x's. An output row needs its input rows
// r - p .. r + p as they were: each row of this chunk is saved, pixel by pixel, into
// a ring of p + 1 rows as its output overwrites it (see Window); rows of the
// neighbouring chunks (which other threads overwrite) were copied into `before` /
// `after` beforehand.
void rows_inplace(float* x, const float* wt, const float* b, int64_t H,
                  int64_t W, int64_t C, int k, bool identity, int64_t r0, int64_t r1,
                  const float* before, const float* after, float* ring, const float* zeros,
                  bool prefetch) {
  const int p = k / 2;
  const int64_t rs = W * C;
  Window win(zeros, W, prefetch);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t h = r % H;
    for (int dy = 0; dy < k; ++dy) {
      const int64_t j = r + dy - p;
      if (!inside(h + dy - p, H))
        win.rp[dy] = zeros;
      else if (j < r0)
        win.rp[dy] = before + (j - (r0 - p)) * rs;
      else if (j < r)
        win.rp[dy] = ring + (j % (p + 1)) * rs;  // saved while row j was written
      else if (j < r1)
        win.rp[dy] = x + j * rs;
      else
        win.rp[dy] = after + (j - r1) * rs;
    }
    win.save = ring + (r % (p + 1)) * rs;
    win.left = win.save;
    row(win, wt, b, x + r * rs, W, C, k, identity);
  }
}

}  // namespace

// x: (N, C, H, W) float32, channels-last contiguous; weight: (C, 1, k, k); bias: (C).
// Writes into y, which is x itself when in place.
void fused_frelu_into(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                      bool with_identity, const at::Tensor& y) {
  TORCH_CHECK(x.dim() == 4 && x.scalar_type() == at::kFloat && x.device().is_cpu(),
              "fused_frelu: x must be a 4-d float32 CPU tensor");
  TORCH_CHECK(x.is_contiguous(at::MemoryFormat::ChannelsLast),
              "fused_frelu: x must be channels-last contiguous");
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t k = weight.size(-1);
  TORCH_CHECK(weight.dim() == 4 && weight.size(0) == C && weight.size(1) == 1 &&
              weight.size(2) == k && k % 2 == 1 && k <= MAXK &&
              weight.scalar_type() == at::kFloat,
              "fused_frelu: weight must be float32 (C, 1, k, k) with odd k <= 15");
  TORCH_CHECK(bias.numel() == C && bias.scalar_type() == at::kFloat,
              "fused_frelu: bias must be float32 (C)");
  if (x.numel() == 0) return;
  // (C, 1, k, k) -> blocks of CB channels, each (k * k, CB): a block's taps at fixed
  // offsets from one pointer (zero weights pad the last block)
  const int64_t kk = k * k, nblocks = (C + CB - 1) / CB;
  auto wt = at::zeros({nblocks * kk * CB}, weight.options().memory_format(at::MemoryFormat::Contiguous));
  {
    auto wc = weight.contiguous();
    const float* src = wc.data_ptr<float>();
    float* dst = wt.data_ptr<float>();
    for (int64_t c = 0; c < C; ++c)
      for (int64_t t = 0; t < kk; ++t) dst[(c / CB) * kk * CB + t * CB + c % CB] = src[c * kk + t];
  }
  auto b = bias.contiguous();
  const float* wp = wt.data_ptr<float>();
  const float* bp = b.data_ptr<float>();
  const int64_t R = N * H, rs = W * C, p = k / 2;
  auto zero_row = at::zeros({rs}, x.options().memory_format(at::MemoryFormat::Contiguous));
  const float* zeros = zero_row.data_ptr<float>();
  const bool prefetch = W - 2 * p >= kPrefetchStrips * STRIP_T;
  if (!y.is_same(x)) {
    const float* xp = x.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    // grain: about 32k outputs per task
    const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, rs));
    at::parallel_for(0, R, grain, [&](int64_t r0, int64_t r1) {
      rows_out(xp, wp, bp, yp, H, W, C, (int)k, with_identity, r0, r1, zeros, prefetch);
    });
    return;
  }
  // In place: one chunk of rows per thread, in two passes (the second starts when
  // the first has ended): copy each chunk's neighbouring rows, then overwrite.
  // Chunks of whole images (or k = 1) read no row of another chunk: no first pass.
  float* xp = x.data_ptr<float>();
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), R));
  const int64_t per = (R + chunks - 1) / chunks;
  const int64_t slot = (3 * p + 1) * rs;  // before (p), after (p), ring (p + 1) rows
  auto scratch = at::empty({chunks * slot}, x.options().memory_format(at::MemoryFormat::Contiguous));
  float* sp = scratch.data_ptr<float>();
  auto bounds = [&](int64_t i, int64_t* r0, int64_t* r1) {
    *r0 = std::min(R, i * per);
    *r1 = std::min(R, *r0 + per);
  };
  if (p > 0 && per % H != 0) {
    at::parallel_for(0, chunks, 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        int64_t r0, r1;
        bounds(i, &r0, &r1);
        float* before = sp + i * slot;
        float* after = before + p * rs;
        for (int64_t j = std::max<int64_t>(0, r0 - p); j < r0; ++j)
          std::copy(xp + j * rs, xp + (j + 1) * rs, before + (j - (r0 - p)) * rs);
        for (int64_t j = r1; j < std::min(R, r1 + p); ++j)
          std::copy(xp + j * rs, xp + (j + 1) * rs, after + (j - r1) * rs);
      }
    });
  }
  at::parallel_for(0, chunks, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      int64_t r0, r1;
      bounds(i, &r0, &r1);
      const float* before = sp + i * slot;
      rows_inplace(xp, wp, bp, H, W, C, (int)k, with_identity, r0, r1, before,
                   before + p * rs, sp + i * slot + 2 * p * rs, zeros, prefetch);
    }
  });
}

at::Tensor fused_frelu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                       bool with_identity) {
  auto y = at::empty(x.sizes(), x.options().memory_format(at::MemoryFormat::ChannelsLast));
  fused_frelu_into(x, weight, bias, with_identity, y);
  return y;
}

// The same, overwriting x (no allocation of the activation's size).
at::Tensor fused_frelu_(at::Tensor x, const at::Tensor& weight, const at::Tensor& bias,
                        bool with_identity) {
  fused_frelu_into(x, weight, bias, with_identity, x);
  return x;
}

// --- training: the max's gradient split, in one pass each (see lean_frelu.py) ---

void check_alike(const at::Tensor& a, const at::Tensor& b) {
  TORCH_CHECK(a.scalar_type() == at::kFloat && b.scalar_type() == at::kFloat && a.is_cpu() &&
                  b.is_cpu() && a.sizes() == b.sizes() && a.strides() == b.strides() &&
                  a.is_non_overlapping_and_dense(),
              "frelu_mm: float32 CPU tensors of equal sizes and strides, dense, expected");
}

// The share of g going to t in max(base, t), as torch.maximum's backward splits it:
// g where t wins, g/2 on ties, 0 where base wins (NaN where t - base is NaN).
// base = x (with_identity) or 0.
FRELU_CLONES void grad_split(float* t, const float* x, const float* g, int64_t n,
                             bool with_identity) {
  for (int64_t i = 0; i < n; ++i) {
    const float b = with_identity ? x[i] : 0.f;
    const float d = t[i] - b;
    t[i] = d > 0.f ? g[i] : (d == 0.f ? 0.5f * g[i] : (d < 0.f ? 0.f : d));
  }
}

// Overwrites t (the recomputed condition) with its gradient share; returns t.
at::Tensor frelu_grad_split_(at::Tensor t, const at::Tensor& x, const at::Tensor& g,
                             bool with_identity) {
  check_alike(t, g);
  if (with_identity) check_alike(t, x);
  float* tp = t.data_ptr<float>();
  const float* xp = with_identity ? x.data_ptr<float>() : nullptr;
  const float* gp = g.data_ptr<float>();
  at::parallel_for(0, t.numel(), 16384, [&](int64_t b, int64_t e) {
    grad_split(tp + b, xp ? xp + b : nullptr, gp + b, e - b, with_identity);
  });
  return t;
}

FRELU_CLONES void add_rest(float* gx, const float* g, const float* gt, int64_t n) {
  for (int64_t i = 0; i < n; ++i) gx[i] += g[i] - gt[i];
}

// gx += g - g_t: x's own share of the max's gradient, added to what the conv gave it.
at::Tensor frelu_add_rest_(at::Tensor gx, const at::Tensor& g, const at::Tensor& gt) {
  check_alike(gx, g);
  check_alike(gx, gt);
  float* xp = gx.data_ptr<float>();
  const float* gp = g.data_ptr<float>();
  const float* tp = gt.data_ptr<float>();
  at::parallel_for(0, gx.numel(), 16384, [&](int64_t b, int64_t e) {
    add_rest(xp + b, gp + b, tp + b, e - b);
  });
  return gx;
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
  m.def("fused_frelu_(Tensor(a!) x, Tensor weight, Tensor bias, bool with_identity) -> Tensor(a!)",
        &fused_frelu_);
  m.def("frelu_grad_split_(Tensor(a!) t, Tensor x, Tensor g, bool with_identity) -> Tensor(a!)",
        &frelu_grad_split_);
  m.def("frelu_add_rest_(Tensor(a!) gx, Tensor g, Tensor gt) -> Tensor(a!)", &frelu_add_rest_);
}
