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
#include <ATen/ops/empty_strided.h>
#include <ATen/ops/flip.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>
#include <algorithm>
#include <atomic>
#include <vector>

#include "simd.h"

namespace {

constexpr int CB = 32;  // channels per register block

// Strips of inner pixels (strip_inner): STRIP_T pixels x STRIP_V vectors of 8 channels
// (k = 3: 8 accumulators and 6 weights, 14 of the 16 AVX registers), or of 16 in the
// wide (AVX-512) build. Measured slower here: strips of 3, 5, 6 or 8 pixels, of 8
// channels, weights read in each multiply-add; in the wide build, strips of 8 pixels
// were no faster.
constexpr int STRIP_T = 4;
constexpr int STRIP_V = 2;

// What a row writes from the conv's t = dwconv(x) + b at each pixel: FReLU's
// max(x, t) or max(0, t), or t itself (the depthwise conv alone: the training
// backward's input gradient, a conv of the output gradient with the flipped kernel)
// or t + (ra - rb) with two more tensors of x's size (the input gradient of FReLU
// with identity: the conv's, plus x's own share g - g_t of the max's gradient)
//
// With a frozen norm folded in (eval-mode BatchNorm, lean_frelu.py), t is
// u * s + sh per channel, u = dwconv(x) + b centred by the running mean: FReLU's
// output max(x or 0, t) (kAffineMaxX / kAffineMaxZero), or in the backward, from the
// output gradient g, t's share of it as torch.maximum splits it, with per-channel sums
// of that share and of share * u for the norm's gradients (kSplitX / kSplitZero).
// With a norm on batch statistics, a first pass writes nothing and sums the conv's
// output per channel, shifted by K (in s): the sums of c - K and (c - K)^2 (kSums); the
// statistics then fold into the conv as a frozen norm's do. In that norm's backward,
// the gradient of its input, a * g_t + b * u + d per channel from the share g_t
// (kBnGrad; a, b, d in s, sh, sd).
// Forward and backward compute u and t by the same code, so the mask is the same.
enum Mode {
  kMaxZero = 0, kMaxX = 1, kPlain = 2, kPlusRest = 3,
  kAffineMaxZero = 4, kAffineMaxX = 5, kSplitZero = 6, kSplitX = 7, kSums = 8, kBnGrad = 9
};

// max(x, t) as x > t ? x : t (one maxps). It propagates NaN like torch.maximum because
// t = dwconv(x) + b is NaN wherever x is (the centre tap multiplies x).
__attribute__((always_inline)) inline float combine(float x, float t, int mode) {
  if (mode == kPlain) return t;
  if (mode == kMaxZero) x = 0.f;
  return x > t ? x : t;
}

// combine, share and affine on vector values of either width
template <typename VT>
__attribute__((always_inline)) inline VT vcombine(VT x, VT t, int mode) {
  if (mode == kPlain) return t;
  if (mode == kMaxZero) x = VT{};
  return x > t ? x : t;
}

// The share of g going to t in max(base, t), as torch.maximum's backward splits it,
// from d = t - base (base = x with identity, else 0): g where d > 0, g / 2 where it is
// 0, 0 where it is < 0, NaN where it is NaN.
template <typename VT>
__attribute__((always_inline)) inline VT vshare(VT d, VT g) {
  const VT zero{}, half = zero + 0.5f;
  return d > zero ? g : (d == zero ? half * g : (d < zero ? zero : d));
}

__attribute__((always_inline)) inline float share(float d, float g) {
  return d > 0.f ? g : (d == 0.f ? 0.5f * g : (d < 0.f ? 0.f : d));
}

// The condition from the conv's output, in forward and in the backward's recompute
// alike (one function: the same instructions, so the same bits, in both).
__attribute__((always_inline)) inline float affine(float c, float s, float sh) {
  return c * s + sh;
}

template <typename VT>
__attribute__((always_inline)) inline VT vaffine(VT c, VT s, VT sh) { return c * s + sh; }

// Rows with room for this many strips are prefetched in software, one strip ahead
// (measured inside ResNet-50: faster at widths 28 and 56, slower at 14, where a row
// holds 3 strips and the last one's prefetch falls past the row)
constexpr int kPrefetchStrips = 6;

// Where the in-place scratch (the ring of saved rows) starts relative to x, in bytes
// modulo 4 KB: 45 cache lines, an odd number, so that a ring row's lines of a channel
// block fall in other L1 sets than x's for C = 128 to 1024 (measured on the 39 FReLU
// sites of a ResNet-50 at b8: time over relu_ 10.9 and 8.5 ms where the ring sat at
// x's offset took 13.3 and 10.5 ms; docs/performance.md)
constexpr uintptr_t kRingSkew = 2880;

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
  const float* ra;  // kPlusRest: the output row's pixels in the two added tensors
  const float* rb;  // (kSplit*: ra is the output gradient's row; kBnGrad: g_t's)
  const float* s;   // kAffine* and kSplit*: per-channel scale and shift of u
  const float* sh;  // (kBnGrad: a and b)
  const float* sd;  // kBnGrad: d
  float* s0;  // kSplit*: per-channel sums of the share and of share * u, this row
  float* s1;

  Window(const float* zeros, int64_t W, bool prefetch)
      : left(nullptr), save(nullptr), zeros(zeros), W(W), prefetch(prefetch), ra(nullptr),
        rb(nullptr), s(nullptr), sh(nullptr), sd(nullptr), s0(nullptr), s1(nullptr) {}
};

// The centre pixel's inputs x (V vectors of L lanes from channel c of pixel w; xin if
// given, else read again): saved if in place, then combined with the accumulators into
// the output
// kSplit*: the sums go to ls0 / ls1 (V vectors each, a strip's registers) if given,
// else straight to the row's win.s0 / win.s1.
template <int L, int V, int M>
__attribute__((always_inline)) inline void finish(
    const Window& win, int p, float* yo, int64_t c, int64_t C, int64_t w,
    const typename Vec<L>::type* acc, typename Vec<L>::type* ls0 = nullptr,
    typename Vec<L>::type* ls1 = nullptr, const typename Vec<L>::type* xin = nullptr) {
  using VT = typename Vec<L>::type;
  VT x[V];
  for (int j = 0; j < V; ++j) x[j] = xin ? xin[j] : *(const VT*)(win.rp[p] + w * C + c + L * j);
  if (win.save)
    for (int j = 0; j < V; ++j) *(VT*)(win.save + w * C + c + L * j) = x[j];
  if (M == kPlusRest) {
    for (int j = 0; j < V; ++j)
      *(VT*)(yo + c + L * j) = acc[j] + (*(const VT*)(win.ra + w * C + c + L * j) -
                                         *(const VT*)(win.rb + w * C + c + L * j));
    return;
  }
  if (M == kBnGrad) {
    for (int j = 0; j < V; ++j) {
      const int64_t ch = c + L * j;
      *(VT*)(yo + ch) = *(const VT*)(win.s + ch) * *(const VT*)(win.ra + w * C + ch) +
                        *(const VT*)(win.sh + ch) * acc[j] + *(const VT*)(win.sd + ch);
    }
    return;
  }
  if (M == kSums) {
    for (int j = 0; j < V; ++j) {
      const VT d = acc[j] - *(const VT*)(win.s + c + L * j);
      if (ls0) {
        ls0[j] += d;
        ls1[j] += d * d;
      } else {
        *(VT*)(win.s0 + c + L * j) += d;
        *(VT*)(win.s1 + c + L * j) += d * d;
      }
    }
    return;
  }
  if (M >= kAffineMaxZero) {
    for (int j = 0; j < V; ++j) {
      const int64_t ch = c + L * j;
      const VT t = vaffine(acc[j], *(const VT*)(win.s + ch), *(const VT*)(win.sh + ch));
      const bool with_x = M == kAffineMaxX || M == kSplitX;
      if (M == kAffineMaxZero || M == kAffineMaxX) {
        *(VT*)(yo + ch) = vcombine(x[j], t, with_x ? kMaxX : kMaxZero);
      } else {
        const VT r = vshare(t - (with_x ? x[j] : VT{}), *(const VT*)(win.ra + w * C + ch));
        *(VT*)(yo + ch) = r;
        if (ls0) {
          ls0[j] += r;
          ls1[j] += r * acc[j];
        } else {
          *(VT*)(win.s0 + ch) += r;
          *(VT*)(win.s1 + ch) += r * acc[j];
        }
      }
    }
    return;
  }
  for (int j = 0; j < V; ++j) *(VT*)(yo + c + L * j) = vcombine(x[j], acc[j], M);
}

// B = V * 8 channels from c at a pixel w whose window may cross the left or right
// border (taps dx0 .. dx1 inside): accumulators stay in registers over the taps
template <int V, int M>
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
  finish<8, V, M>(win, p, yo, c, C, w, acc);
}

// The same with K known at compile time: the taps unroll into straight-line code.
// EDGE: the window may cross the left or right border, whose columns read zeros.
template <int K, int V, int M, bool EDGE>
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
  finish<8, V, M>(win, P, yo, c, C, w, acc);
}

// T neighbouring pixels w0 .. w0 + T - 1 at once, V vectors of L lanes (V * L
// channels) from c: each input vector loaded serves up to K of the T outputs, and the K weights
// of a window row stay in registers over the strip (fewer loads per multiply-add, and
// T * V independent accumulator chains to hide the FMA latency). EDGE: the window may
// cross the left or right border, whose columns read zeros (the border pixels, one by one).
template <int L, int K, int T, int V, int M, bool PF, bool EDGE = false>
__attribute__((always_inline)) inline void strip_inner(
    const Window& win, const float* wt, const float* b, float* yrow, int64_t c,
    int64_t C, int64_t w0) {
  using VT = typename Vec<L>::type;
  constexpr int P = K / 2;
  // 16 lanes (32 registers): the centre pixels' inputs stay in registers from the taps
  // to the output (8 loads fewer per strip of 4 x 32 channels; docs/performance.md)
  constexpr bool KEEP_X = L == 16;
  VT acc[T][V], xc[T][V];
  for (int t = 0; t < T; ++t)
    for (int j = 0; j < V; ++j) acc[t][j] = *(const VT*)(b + c + L * j);
  const float* wb = wt + (c / CB) * K * K * CB + c % CB;
  // the next strip's new input pixels in the window's last row: T short streams C
  // floats apart, too many for the hardware prefetcher when they come from memory (PF:
  // long rows); one prefetch per 64-byte line of the strip's channels. The rows above
  // were the last rows of the row before (in L2 now): prefetching them too measured
  // 2-5% slower over a ResNet-50's FReLU sites (docs/performance.md)
  if (PF)
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t)
      for (int f = 0; f < V * L; f += 16)
        __builtin_prefetch(win.rp[K - 1] + (w0 + P + T + t) * C + c + f);
  // and the next strip's pixels of the tensors read at the output (kPlusRest, kSplit*)
  if (PF && (M == kPlusRest || M == kSplitZero || M == kSplitX || M == kBnGrad))
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t)
      for (int f = 0; f < V * L; f += 16) {
        __builtin_prefetch(win.ra + (w0 + T + t) * C + c + f);
        if (M == kPlusRest) __builtin_prefetch(win.rb + (w0 + T + t) * C + c + f);
      }
#pragma GCC unroll 8
  for (int dy = 0; dy < K; ++dy) {
    VT wr[K][V];
#pragma GCC unroll 8
    for (int dx = 0; dx < K; ++dx)
      for (int j = 0; j < V; ++j) wr[dx][j] = *(const VT*)(wb + (dy * K + dx) * CB + L * j);
#pragma GCC unroll 16
    for (int q = 0; q < T + K - 1; ++q) {  // input pixel w0 - P + q
      const float* row = dy == P && q < P ? win.left : win.rp[dy];
      const int64_t col = w0 - P + q;
      const float* xi = EDGE && (col < 0 || col >= win.W) ? win.zeros + c : row + col * C + c;
      for (int j = 0; j < V; ++j) {
        const VT xv = *(const VT*)(xi + L * j);
        if (KEEP_X && dy == P && q >= P && q < P + T) xc[q - P][j] = xv;
#pragma GCC unroll 8
        for (int dx = 0; dx < K; ++dx)
          if (q - dx >= 0 && q - dx < T) acc[q - dx][j] += wr[dx][j] * xv;
      }
    }
  }
  // kSplit*, kSums: the strip's sums in registers, added to the row's once
  if (M == kSplitZero || M == kSplitX || M == kSums) {
    VT ls0[V] = {}, ls1[V] = {};
    for (int t = 0; t < T; ++t)
      finish<L, V, M>(win, P, yrow + (w0 + t) * C, c, C, w0 + t, acc[t], ls0, ls1);
    for (int j = 0; j < V; ++j) {
      *(VT*)(win.s0 + c + L * j) += ls0[j];
      *(VT*)(win.s1 + c + L * j) += ls1[j];
    }
    return;
  }
  for (int t = 0; t < T; ++t)
    finish<L, V, M>(win, P, yrow + (w0 + t) * C, c, C, w0 + t, acc[t], nullptr, nullptr,
                    KEEP_X ? xc[t] : nullptr);
}

// one channel (the tail when C is not a multiple of 8)
template <int M>
__attribute__((always_inline)) inline void block1(
    const Window& win, const float* wt, const float* b, float* yo, int64_t c,
    int64_t C, int64_t w, int p, int k, int dx0, int dx1) {
  float acc = b[c];
  for (int dy = 0; dy < k; ++dy)
    for (int dx = dx0; dx < dx1; ++dx) {
      const float* row = dy == p && dx < p ? win.left : win.rp[dy];
      acc += wt[(c / CB) * k * k * CB + (dy * k + dx) * CB + c % CB] * row[(w + dx - p) * C + c];
    }
  if (M == kBnGrad) {
    yo[c] = win.s[c] * win.ra[w * C + c] + win.sh[c] * acc + win.sd[c];
    return;
  }
  if (M == kSums) {
    const float d = acc - win.s[c];
    win.s0[c] += d;
    win.s1[c] += d * d;
    return;
  }
  const float x = win.rp[p][w * C + c];
  if (win.save) win.save[w * C + c] = x;
  if (M >= kAffineMaxZero) {
    const float t = affine(acc, win.s[c], win.sh[c]);
    const bool with_x = M == kAffineMaxX || M == kSplitX;
    if (M == kAffineMaxZero || M == kAffineMaxX) {
      yo[c] = combine(x, t, with_x ? kMaxX : kMaxZero);
    } else {
      const float r = share(t - (with_x ? x : 0.f), win.ra[w * C + c]);
      yo[c] = r;
      win.s0[c] += r;
      win.s1[c] += r * acc;
    }
    return;
  }
  yo[c] = M == kPlusRest ? acc + (win.ra[w * C + c] - win.rb[w * C + c]) : combine(x, acc, M);
}

// The channels of pixel w in unrolled blocks (CB, then 8); returns the first channel
// left over (C % 8 of them)
template <int K, int M, bool EDGE>
__attribute__((always_inline)) inline int64_t unrolled_blocks(
    const Window& win, const float* wt, const float* b, float* yo, int64_t C, int64_t w) {
  int64_t c = 0;
  for (; c + CB <= C; c += CB) block_inner<K, CB / 8, M, EDGE>(win, wt, b, yo, c, C, w);
  for (; c + 8 <= C; c += 8) block_inner<K, 1, M, EDGE>(win, wt, b, yo, c, C, w);
  return c;
}

// Output pixel w of a row, all its channels, in blocks of CB; K: the kernel size if
// known at compile time, else 0 (k at run time)
template <int K, int M>
__attribute__((always_inline)) inline void pixel(
    const Window& win, const float* wt, const float* b, float* yrow, int64_t W,
    int64_t C, int k, int64_t w) {
  const int p = k / 2;
  float* yo = yrow + w * C;
  int64_t c = 0;
  if (K > 0)
    c = w >= p && w + p < W ? unrolled_blocks<K, M, false>(win, wt, b, yo, C, w)
                            : unrolled_blocks<K, M, true>(win, wt, b, yo, C, w);
  // no std::max / std::min here: they would not inline into the AVX2 clone
  const int dx0 = w < p ? (int)(p - w) : 0;
  const int dx1 = W + p - w < k ? (int)(W + p - w) : k;
  for (; c + CB <= C; c += CB) block<CB / 8, M>(win, wt, b, yo, c, C, w, p, k, dx0, dx1);
  for (; c + 8 <= C; c += 8) block<1, M>(win, wt, b, yo, c, C, w, p, k, dx0, dx1);
  for (; c < C; ++c) block1<M>(win, wt, b, yo, c, C, w, p, k, dx0, dx1);
}

// A row's pixels from *w on: the border pixels one by one (strips of one pixel, EDGE),
// the inner ones in strips of T pixels, each strip channel block by channel block of V
// vectors of L lanes (T streams of contiguous channels); *w: W when done. False
// (nothing done) when C is not a multiple of a block. (The border pixels went through
// `pixel` before, 8 lanes wide and with a generic tap loop: slower, docs/performance.md.)
template <int L, int K, int M>
__attribute__((always_inline)) inline bool strips(
    const Window& win, const float* wt, const float* b, float* yrow, int64_t W,
    int64_t C, int64_t* w) {
  constexpr int T = STRIP_T, V = K >= 5 ? 1 : STRIP_V, B = V * L;
  if (C % B != 0) return false;
  constexpr int P = K / 2;
  auto border_pixel = [&](int64_t x) __attribute__((always_inline)) {
    for (int64_t c = 0; c < C; c += B) strip_inner<L, K, 1, V, M, false, true>(win, wt, b, yrow, c, C, x);
  };
  for (; *w < P && *w < W; ++*w) border_pixel(*w);
  for (; *w + T - 1 + P < W; *w += T)
    if (win.prefetch)
      for (int64_t c = 0; c < C; c += B) strip_inner<L, K, T, V, M, true>(win, wt, b, yrow, c, C, *w);
    else
      for (int64_t c = 0; c < C; c += B) strip_inner<L, K, T, V, M, false>(win, wt, b, yrow, c, C, *w);
  for (; *w < W; ++*w) border_pixel(*w);
  return true;
}

// One output row from its input window (see above) into yrow. With K known and C a
// multiple of a block: strips (16 lanes wide if WIDE and C allows, else 8). Otherwise
// pixel by pixel.
template <int K, int M, bool WIDE>
__attribute__((always_inline)) inline void row_impl(
    const Window& win, const float* wt, const float* b, float* yrow, int64_t W,
    int64_t C, int k) {
  int64_t w = 0;
  if (K > 0 && !(WIDE && strips<16, K, M>(win, wt, b, yrow, W, C, &w)))
    strips<8, K, M>(win, wt, b, yrow, W, C, &w);
  for (; w < W; ++w) pixel<K, M>(win, wt, b, yrow, W, C, k, w);
}

template <int M, bool WIDE>
__attribute__((always_inline)) inline void row_k(
    const Window& win, const float* wt, const float* b, float* yrow, int64_t W, int64_t C,
    int k) {
  switch (k) {
    case 1: return row_impl<1, M, WIDE>(win, wt, b, yrow, W, C, k);
    case 3: return row_impl<3, M, WIDE>(win, wt, b, yrow, W, C, k);
    case 5: return row_impl<5, M, WIDE>(win, wt, b, yrow, W, C, k);
    case 7: return row_impl<7, M, WIDE>(win, wt, b, yrow, W, C, k);
    default: return row_impl<0, M, WIDE>(win, wt, b, yrow, W, C, k);
  }
}

template <bool WIDE>
__attribute__((always_inline)) inline void row_modes(
    const Window& win, const float* wt, const float* b, float* yrow, int64_t W,
    int64_t C, int k, int mode) {
  switch (mode) {
    case kMaxX: return row_k<kMaxX, WIDE>(win, wt, b, yrow, W, C, k);
    case kMaxZero: return row_k<kMaxZero, WIDE>(win, wt, b, yrow, W, C, k);
    case kPlusRest: return row_k<kPlusRest, WIDE>(win, wt, b, yrow, W, C, k);
    case kAffineMaxZero: return row_k<kAffineMaxZero, WIDE>(win, wt, b, yrow, W, C, k);
    case kAffineMaxX: return row_k<kAffineMaxX, WIDE>(win, wt, b, yrow, W, C, k);
    case kSplitZero: return row_k<kSplitZero, WIDE>(win, wt, b, yrow, W, C, k);
    case kSplitX: return row_k<kSplitX, WIDE>(win, wt, b, yrow, W, C, k);
    case kSums: return row_k<kSums, WIDE>(win, wt, b, yrow, W, C, k);
    case kBnGrad: return row_k<kBnGrad, WIDE>(win, wt, b, yrow, W, C, k);
    default: return row_k<kPlain, WIDE>(win, wt, b, yrow, W, C, k);
  }
}

FRELU_CLONES
void row_narrow(const Window& win, const float* wt, const float* b, float* yrow, int64_t W,
                int64_t C, int k, int mode) {
  row_modes<false>(win, wt, b, yrow, W, C, k, mode);
}

#if FRELU_ISA_BUILDS
FRELU_WIDE
void row_wide(const Window& win, const float* wt, const float* b, float* yrow, int64_t W,
              int64_t C, int k, int mode) {
  row_modes<true>(win, wt, b, yrow, W, C, k, mode);
}
#endif

// Whether the CPU runs the AVX2+FMA clone (x86-64-v3) of the row code
bool cpu_has_avx2() {
#if FRELU_ISA_BUILDS
  __builtin_cpu_init();
  return __builtin_cpu_supports("x86-64-v3");
#else
  return false;
#endif
}

bool cpu_has_wide() {
#if FRELU_ISA_BUILDS
  __builtin_cpu_init();
  return __builtin_cpu_supports("x86-64-v4");
#else
  return false;
#endif
}

// The wide rows run where the CPU has AVX-512 (set_wide_rows can turn them off, for
// tests and comparisons); set once at load, changed only between calls.
bool g_wide = cpu_has_wide();

void row(const Window& win, const float* wt, const float* b, float* yrow, int64_t W,
         int64_t C, int k, int mode) {
#if FRELU_ISA_BUILDS
  if (g_wide) return row_wide(win, wt, b, yrow, W, C, k, mode);
#endif
  row_narrow(win, wt, b, yrow, W, C, k, mode);
}

// --- Output rows in groups of two or three (k = 3, FReLU's inference modes) ---
// Output rows r .. r + R - 1 of one image from their K + R - 1 input rows, rp[i] = input
// row r - P + i: each input vector loaded serves every output row it reaches, and all
// K * K weights of a 16-channel block stay in registers over the strip. Pairs (R = 2)
// run strips of 4 pixels 16 lanes wide: per output vector 3 input loads, 8 accumulators,
// 9 weights, the 8 centre inputs (26 of the 32 zmm registers); triples (R = 3) strips of
// 3: 2.8, 9 + 9 + 9 registers, and one row in three saved whole in place (below; measured
// 0.5-1.0 ms less a ResNet-50 forward than pairs alone). 8 lanes wide (AVX2): strips of
// 2 pixels (group_strip_pixels). In place, rows r .. r + R - 1
// (i = P .. P + R - 1) are overwritten as the strips go: their columns left of a strip
// come from save[g], where each pixel was saved before its output replaced it.
constexpr int kMaxGroup = 3;
struct GroupWindow {
  const float* rp[MAXK + kMaxGroup - 1];
  float* save[kMaxGroup];  // null out of place
  const float* zeros;  // at least C zeros: the columns left and right of the image
  int64_t W;
  bool prefetch;
};

// Pixels per strip of a group of R rows, L lanes wide (registers: R * T accumulators and
// centre inputs besides the 9 weights). The 8-lane groups (AVX2: 16 registers) run strips
// of 2 pixels, pairs and triples alike: measured on the 39 FReLU sites of a ResNet-50 at
// b8 224 on an AVX2 machine, ms over relu_ a forward, single rows against groups (two
// runs): 13.4 -> 9.2, 20.1 -> 13.5 (strips of 1 pixel for triples, or pairs alone: no
// faster; pairs alone with strips of 3 or 4 pixels: slower; docs/performance.md)
template <int L, int R>
constexpr int group_strip_pixels() { return L == 8 ? 2 : R == 3 ? 3 : 4; }

// EDGE: a border pixel (T = 1) whose window may cross the left or right border (checked
// per column). SIDE: a strip at the image's left edge (kLeftEdge: w0 = 0) or ending at
// its right edge (kRightEdge: w0 + T = W), whose columns outside read zeros, known at
// compile time.
enum StripSide { kInner = 0, kLeftEdge = 1, kRightEdge = 2 };

template <int L, int K, int R, int T, int M, bool INPLACE, bool PF, bool EDGE = false,
          int SIDE = kInner>
__attribute__((always_inline)) inline void group_strip(
    const GroupWindow& win, const float* wt, const float* b, float* const* y, int64_t c,
    int64_t C, int64_t w0) {
  using VT = typename Vec<L>::type;
  constexpr int P = K / 2;
  const float* wb = wt + (c / CB) * K * K * CB + c % CB;
  VT wr[K][K];
#pragma GCC unroll 8
  for (int dy = 0; dy < K; ++dy)
#pragma GCC unroll 8
    for (int dx = 0; dx < K; ++dx) wr[dy][dx] = *(const VT*)(wb + (dy * K + dx) * CB);
  const VT bias = *(const VT*)(b + c);
  VT a[R][T], xs[R][T];
#pragma GCC unroll 4
  for (int g = 0; g < R; ++g)
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) a[g][t] = bias;
  // the next strip's pixels of the R input rows new to this group (the rows above
  // were read by the group before: in L2); measured faster than the last row alone.
  // Into L2, not L1 (locality 2): the line is read C / L strips later, and for wide
  // rows L1 has turned over by then (measured faster: docs/performance.md)
  if (PF)
#pragma GCC unroll 8
    for (int i = K - 1; i <= K + R - 2; ++i)
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t)
        __builtin_prefetch(win.rp[i] + (w0 + P + T + t) * C + c, 0, 2);
#pragma GCC unroll 8
  for (int i = 0; i < K + R - 1; ++i) {
#pragma GCC unroll 16
    for (int q = 0; q < T + K - 1; ++q) {  // input pixel w0 - P + q of input row i
      const int64_t col = w0 - P + q;
      const bool centre = i >= P && i < P + R;  // an input row that an output overwrites
      const float* row = INPLACE && q < P && centre ? win.save[i - P] : win.rp[i];
      const bool outside = (SIDE == kLeftEdge && q < P) || (SIDE == kRightEdge && q >= T + P);
      const VT xv = outside ? VT{}
                            : *(const VT*)(EDGE && (col < 0 || col >= win.W) ? win.zeros + c
                                                                             : row + col * C + c);
      if (centre && q >= P && q < P + T) xs[i - P][q - P] = xv;
#pragma GCC unroll 8
      for (int dx = 0; dx < K; ++dx)
        if (q - dx >= 0 && q - dx < T)
#pragma GCC unroll 4
          for (int g = 0; g < R; ++g)  // output row r + g: tap row i - g
            if (i - g >= 0 && i - g < K) a[g][q - dx] += wr[i - g][dx] * xv;
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) {
    const int64_t o = (w0 + t) * C + c;
#pragma GCC unroll 4
    for (int g = 0; g < R; ++g) {
      // The next group reads input rows from r + R - P on: the rows above those need
      // their saved pixels only as the next strip's left neighbours, its last P
      // (measured: 1.2-2.0 ms less a ResNet-50 forward than saving all T)
      if (INPLACE && (g >= R - P || t >= T - P)) *(VT*)(win.save[g] + o) = xs[g][t];
      *(VT*)(y[g] + o) = vcombine(xs[g][t], a[g][t], M);
    }
  }
}

// A group's last n pixels (1 <= n <= NMAX), from w0 to the image's right edge, as one
// strip of n pixels
template <int L, int K, int R, int NMAX, int M, bool INPLACE>
__attribute__((always_inline)) inline void right_edge_strip(
    const GroupWindow& win, const float* wt, const float* b, float* const* y, int64_t C,
    int64_t w0, int n) {
  if constexpr (NMAX > 1)
    if (n < NMAX) return right_edge_strip<L, K, R, NMAX - 1, M, INPLACE>(win, wt, b, y, C, w0, n);
  for (int64_t c = 0; c < C; c += L)
    group_strip<L, K, R, NMAX, M, INPLACE, false, false, kRightEdge>(win, wt, b, y, c, C, w0);
}

// The group's rows, strip by strip: a strip of T pixels at the left edge, inner strips,
// the pixels left at the right edge as one strip (rows narrower than T + P + 1: pixel by
// pixel at the borders, EDGE). Edge strips instead of border pixels one by one:
// measured faster at widths 14 and 28 (docs/performance.md, "Scratch kept between
// calls; edge strips").
template <int L, int K, int R, int T, int M, bool INPLACE>
__attribute__((always_inline)) inline void group_rows_impl(
    const GroupWindow& win, const float* wt, const float* b, float* const* y, int64_t W,
    int64_t C) {
  constexpr int P = K / 2;
  auto border_pixel = [&](int64_t x) __attribute__((always_inline)) {
    for (int64_t c = 0; c < C; c += L) group_strip<L, K, R, 1, M, INPLACE, false, true>(win, wt, b, y, c, C, x);
  };
  int64_t w = 0;
  const bool edge_strips = W >= T + P + 1;
  if (edge_strips) {
    for (int64_t c = 0; c < C; c += L)
      group_strip<L, K, R, T, M, INPLACE, false, false, kLeftEdge>(win, wt, b, y, c, C, 0);
    w = T;
  } else {
    for (; w < P && w < W; ++w) border_pixel(w);
  }
  if (win.prefetch)
    for (; w + T - 1 + P < W; w += T)
      for (int64_t c = 0; c < C; c += L) group_strip<L, K, R, T, M, INPLACE, true>(win, wt, b, y, c, C, w);
  else
    for (; w + T - 1 + P < W; w += T)
      for (int64_t c = 0; c < C; c += L) group_strip<L, K, R, T, M, INPLACE, false>(win, wt, b, y, c, C, w);
  if (edge_strips && w < W) {
    static_assert(K / 2 == 1, "edge strips: the remainder is at most T pixels for P = 1");
    right_edge_strip<L, K, R, T, M, INPLACE>(win, wt, b, y, C, w, (int)(W - w));
    return;
  }
  for (; w < W; ++w) border_pixel(w);
}

// The group's rows in FReLU's two inference modes, in place or not, L lanes wide
template <int L, int R>
__attribute__((always_inline)) inline void group_rows_modes(
    const GroupWindow& win, const float* wt, const float* b, float* const* y, int64_t W,
    int64_t C, int mode) {
  constexpr int T = group_strip_pixels<L, R>();
  const bool inplace = win.save[0] != nullptr;
  if (mode == kMaxX)
    inplace ? group_rows_impl<L, 3, R, T, kMaxX, true>(win, wt, b, y, W, C)
            : group_rows_impl<L, 3, R, T, kMaxX, false>(win, wt, b, y, W, C);
  else
    inplace ? group_rows_impl<L, 3, R, T, kMaxZero, true>(win, wt, b, y, W, C)
            : group_rows_impl<L, 3, R, T, kMaxZero, false>(win, wt, b, y, W, C);
}

#if FRELU_ISA_BUILDS
template <int R>
FRELU_WIDE void group_rows_wide(const GroupWindow& win, const float* wt, const float* b,
                                float* const* y, int64_t W, int64_t C, int mode) {
  group_rows_modes<16, R>(win, wt, b, y, W, C, mode);
}

template <int R>
FRELU_NARROW void group_rows_narrow(const GroupWindow& win, const float* wt, const float* b,
                                    float* const* y, int64_t W, int64_t C, int mode) {
  group_rows_modes<8, R>(win, wt, b, y, W, C, mode);
}
#endif

// Whether the 8-lane groups can run here: the AVX2+FMA build (where the CPU lacks it,
// the baseline rows go one by one)
const bool g_narrow_groups = cpu_has_avx2();

// Whether rows go in groups (rows_in_group): FReLU's inference modes at k = 3, channels
// in whole vectors of the rows' width (16 lanes on the wide build, else 8 on AVX2)
bool groups_fit(int64_t C, int k, int mode) {
#if FRELU_ISA_BUILDS
  if (!g_wide && !g_narrow_groups) return false;
  return k == 3 && C % (g_wide ? 16 : 8) == 0 && (mode == kMaxX || mode == kMaxZero);
#else
  return false;
#endif
}

// How many output rows from row r (at row h of its image) go together: rows go in
// groups here (groups: groups_fit), of three while three or five and more rows of its
// chunk [., r1) and image are left, four as two pairs, two as a pair; else one.
inline int group_size(bool groups, int64_t r, int64_t r1, int64_t h, int64_t H) {
  const int64_t left = std::min(r1 - r, H - h);
  if (!groups || left < 2) return 1;
  return left == 2 || left == 4 ? 2 : 3;
}

// Groups of rows run since the library was loaded (groups_run: tests check which path
// ran, as the outputs of groups and single rows are the same to the bit); each chunk
// of rows adds its count once.
std::atomic<int64_t> g_groups_run{0};

// Output rows r .. r + n - 1 (n = 2 or 3; one image, rp / save set) into y[0 .. n - 1]
void rows_in_group(const GroupWindow& win, const float* wt, const float* b,
                   float* const* y, int64_t W, int64_t C, int mode, int n) {
#if FRELU_ISA_BUILDS
  if (g_wide)
    n == 3 ? group_rows_wide<3>(win, wt, b, y, W, C, mode) : group_rows_wide<2>(win, wt, b, y, W, C, mode);
  else
    n == 3 ? group_rows_narrow<3>(win, wt, b, y, W, C, mode) : group_rows_narrow<2>(win, wt, b, y, W, C, mode);
#endif
}

// What some modes read besides x: kPlusRest's two tensors (ra, rb; kSplit*: the
// output gradient in ra), the affine (s, sh) of kAffine* and kSplit*, and kSplit*'s
// float64 sums, (threads, 2, C).
struct Extra {
  const float* ra = nullptr;
  const float* rb = nullptr;
  const float* s = nullptr;
  const float* sh = nullptr;
  const float* sd = nullptr;
  double* sums = nullptr;
};

// Output rows [r0, r1) of the (N * H) rows into y (out of place). kSplit* sums each
// row in float, then adds the row's sums to this thread's float64 ones.
void rows_out(const float* x, const float* wt, const float* b, float* y, int64_t H,
              int64_t W, int64_t C, int k, int mode, int64_t r0, int64_t r1,
              const float* zeros, bool prefetch, const Extra& ex, float* part) {
  const int p = k / 2;
  const int64_t rs = W * C;
  Window win(zeros, W, prefetch);
  win.s = ex.s, win.sh = ex.sh, win.sd = ex.sd;
  double* acc = ex.sums ? ex.sums + at::get_thread_num() * 2 * C : nullptr;
  if (acc) win.s0 = part, win.s1 = part + C;
  const bool groups = groups_fit(C, k, mode);
  int64_t ngroups = 0;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t h = r % H;
    if (const int n = group_size(groups, r, r1, h, H); n > 1) {  // rows r .. r + n - 1
      GroupWindow w2{{}, {}, zeros, W, prefetch};
      float* yg[kMaxGroup];
      for (int i = 0; i < k + n - 1; ++i)
        w2.rp[i] = inside(h + i - p, H) ? x + (r + i - p) * rs : zeros;
      for (int g = 0; g < n; ++g) yg[g] = y + (r + g) * rs;
      rows_in_group(w2, wt, b, yg, W, C, mode, n);
      ++ngroups;
      r += n - 1;
      continue;
    }
    for (int dy = 0; dy < k; ++dy)
      win.rp[dy] = inside(h + dy - p, H) ? x + (r + dy - p) * rs : zeros;
    win.left = win.rp[p];
    if (ex.ra) win.ra = ex.ra + r * rs;
    if (ex.rb) win.rb = ex.rb + r * rs;
    if (acc) std::fill(part, part + 2 * C, 0.f);
    row(win, wt, b, y + r * rs, W, C, k, mode);
    if (acc)
      for (int64_t i = 0; i < 2 * C; ++i) acc[i] += part[i];
  }
  if (ngroups) g_groups_run.fetch_add(ngroups, std::memory_order_relaxed);
}

// In place: output rows [r0, r1) overwrite x's. An output row needs its input rows
// r - p .. r + p as they were: each row of this chunk is saved, pixel by pixel, into
// a ring of p + 3 rows as its output overwrites it (see Window; a group of rows,
// rows_in_group, saves its last row, and of the others only what its next strip
// reads: group_strip); rows of the neighbouring chunks (which other threads overwrite)
// were copied into `before` / `after` beforehand.
void rows_inplace(float* x, const float* wt, const float* b, int64_t H,
                  int64_t W, int64_t C, int k, int mode, int64_t r0, int64_t r1,
                  const float* before, const float* after, float* ring, const float* zeros,
                  bool prefetch, const Extra& ex) {
  const int p = k / 2;
  const int64_t rs = W * C;
  const int64_t ring_rows = p + kMaxGroup;  // the rows above a group, and the group's
  // input row j, at row hj of its image, as output rows from r on read it
  auto input = [&](int64_t j, int64_t hj, int64_t r) -> const float* {
    if (!inside(hj, H)) return zeros;
    if (j < r0) return before + (j - (r0 - p)) * rs;
    if (j < r) return ring + (j % ring_rows) * rs;  // saved while row j was written
    if (j < r1) return x + j * rs;
    return after + (j - r1) * rs;
  };
  Window win(zeros, W, prefetch);
  win.s = ex.s, win.sh = ex.sh, win.sd = ex.sd;
  const bool groups = groups_fit(C, k, mode);
  int64_t ngroups = 0;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t h = r % H;
    if (const int n = group_size(groups, r, r1, h, H); n > 1) {  // rows r .. r + n - 1
      GroupWindow w2{{}, {}, zeros, W, prefetch};
      float* yg[kMaxGroup];
      for (int i = 0; i < k + n - 1; ++i) w2.rp[i] = input(r + i - p, h + i - p, r);
      for (int g = 0; g < n; ++g) {
        w2.save[g] = ring + ((r + g) % ring_rows) * rs;
        yg[g] = x + (r + g) * rs;
      }
      rows_in_group(w2, wt, b, yg, W, C, mode, n);
      ++ngroups;
      r += n - 1;
      continue;
    }
    for (int dy = 0; dy < k; ++dy) win.rp[dy] = input(r + dy - p, h + dy - p, r);
    win.save = ring + (r % ring_rows) * rs;
    win.left = win.save;
    row(win, wt, b, x + r * rs, W, C, k, mode);
  }
  if (ngroups) g_groups_run.fetch_add(ngroups, std::memory_order_relaxed);
}

// Scratch that dwconv_rows_into keeps between calls, per calling thread: the weights
// in blocks, a zero row, the in-place ring. Allocated per call, each was a fresh
// allocation of up to a few hundred KB (glibc may hand back new, page-faulting memory)
// and a memset: measured on the 39 FReLU sites of a ResNet-50 at b8, 9.53 -> 8.45 ms
// over relu_ a forward (docs/performance.md). Grow-only: it holds what the largest call
// needed (a few rows of its activation), until the thread ends.
enum KeptBuffer { kKeptWeights, kKeptZeros, kKeptScratch, kKeptBuffers };

// At least n floats, 64-byte aligned, zero-filled when it grows (the zero row is never
// written, so it stays zero)
float* kept_buffer(KeptBuffer which, int64_t n) {
  thread_local std::vector<float> buffers[kKeptBuffers];
  std::vector<float>& v = buffers[which];
  if ((int64_t)v.size() < n + 16) v.assign(n + 16, 0.f);
  return (float*)(((uintptr_t)v.data() + 63) & ~(uintptr_t)63);
}

}  // namespace

// A new tensor laid out exactly as x, a channels-last contiguous tensor (its strides
// too, also those of size-1 dimensions, which channels-last leaves free: outputs and
// inputs of the training ops then compare alike).
at::Tensor like(const at::Tensor& x) { return at::empty_strided(x.sizes(), x.strides(), x.options()); }

// x: (N, C, H, W) float32, channels-last contiguous; weight: (C, 1, k, k); bias: (C).
// Writes into y (what `mode` says), which is x itself when in place.
void dwconv_rows_into(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                      int mode, const at::Tensor& y, const Extra& ex = Extra()) {
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
  float* wt = kept_buffer(kKeptWeights, nblocks * kk * CB);
  std::fill(wt + (nblocks - 1) * kk * CB, wt + nblocks * kk * CB, 0.f);
  {
    auto wc = weight.contiguous();
    const float* src = wc.data_ptr<float>();
    for (int64_t c = 0; c < C; ++c)
      for (int64_t t = 0; t < kk; ++t) wt[(c / CB) * kk * CB + t * CB + c % CB] = src[c * kk + t];
  }
  auto b = bias.contiguous();
  const float* wp = wt;
  const float* bp = b.data_ptr<float>();
  const int64_t R = N * H, rs = W * C, p = k / 2;
  const float* zeros = kept_buffer(kKeptZeros, rs);
  const bool prefetch = W - 2 * p >= kPrefetchStrips * STRIP_T;
  if (!y.is_same(x) || mode == kSums) {  // kSums writes nothing (y: x)
    const float* xp = x.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    // grain: about 32k outputs per task
    const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, rs));
    // kSplit*: a float row of sums per thread (a chunk runs on one thread)
    auto parts = at::empty({ex.sums ? at::get_num_threads() * 2 * C : 0},
                           x.options().memory_format(at::MemoryFormat::Contiguous));
    float* pp = parts.data_ptr<float>();
    at::parallel_for(0, R, grain, [&](int64_t r0, int64_t r1) {
      float* part = ex.sums ? pp + at::get_thread_num() * 2 * C : nullptr;
      rows_out(xp, wp, bp, yp, H, W, C, (int)k, mode, r0, r1, zeros, prefetch, ex, part);
    });
    return;
  }
  // In place: one chunk of rows per thread, in two passes (the second starts when
  // the first has ended): copy each chunk's neighbouring rows, then overwrite.
  // Chunks of whole images (or k = 1) read no row of another chunk: no first pass.
  float* xp = x.data_ptr<float>();
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), R));
  const int64_t per = (R + chunks - 1) / chunks;
  const int64_t slot = (3 * p + kMaxGroup) * rs;  // before (p), after (p), ring rows
  // The scratch starts kRingSkew bytes past x modulo 4 KB (why: at kRingSkew); 1024
  // floats of slack for the shift
  float* sp = kept_buffer(kKeptScratch, chunks * slot + 1024);
  sp += ((kRingSkew - ((uintptr_t)sp - (uintptr_t)xp)) & 4095) / sizeof(float);
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
      rows_inplace(xp, wp, bp, H, W, C, (int)k, mode, r0, r1, before,
                   before + p * rs, sp + i * slot + 2 * p * rs, zeros, prefetch, ex);
    }
  });
}

at::Tensor fused_frelu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                       bool with_identity) {
  auto y = like(x);
  dwconv_rows_into(x, weight, bias, with_identity ? kMaxX : kMaxZero, y);
  return y;
}

// The same, overwriting x (no allocation of the activation's size).
at::Tensor fused_frelu_(at::Tensor x, const at::Tensor& weight, const at::Tensor& bias,
                        bool with_identity) {
  dwconv_rows_into(x, weight, bias, with_identity ? kMaxX : kMaxZero, x);
  return x;
}

// --- training: the max's gradient split, in one pass each (see lean_frelu.py) ---

void check_alike(const at::Tensor& a, const at::Tensor& b) {
  TORCH_CHECK(a.scalar_type() == at::kFloat && b.scalar_type() == at::kFloat && a.is_cpu() &&
                  b.is_cpu() && a.sizes() == b.sizes() && a.strides() == b.strides() &&
                  a.is_non_overlapping_and_dense(),
              "frelu_mm: float32 CPU tensors of equal sizes and strides, dense, expected");
}

// Eight lanes at a time with vector selects (a per-element branch on the sign
// mispredicts half the time: the mask of a trained FReLU is close to a coin flip).
FRELU_CLONES void grad_split(float* t, const float* x, const float* g, int64_t n,
                             bool with_identity) {
  const v8 zero{};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const v8 b = with_identity ? *(const v8*)(x + i) : zero;
    const v8 d = *(const v8*)(t + i) - b;
    const v8 gv = *(const v8*)(g + i);
    *(v8*)(t + i) = vshare(d, gv);
  }
  for (; i < n; ++i) {
    const float b = with_identity ? x[i] : 0.f;
    const float d = t[i] - b;
    t[i] = share(d, g[i]);
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

// --- training: the depthwise conv alone, t = dwconv_kxk(x) + b, by the row kernel
// (the lean training path's condition, forward and recomputed in backward: one
// kernel for both, so the recompute is bit-identical) ---
at::Tensor dwconv(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  auto y = like(x);
  dwconv_rows_into(x, weight, bias, kPlain, y);
  return y;
}

// --- training: FReLU's own BatchNorm around the depthwise conv's output c, in
// channels-last (pixels, C) layout: t = c * scale + shift per channel ---

void check_cl(const at::Tensor& a, const char* what) {
  TORCH_CHECK(a.dim() == 4 && a.scalar_type() == at::kFloat && a.is_cpu() &&
                  a.is_contiguous(at::MemoryFormat::ChannelsLast),
              what, ": a 4-d float32 channels-last CPU tensor expected");
}

void check_vec(const at::Tensor& v, int64_t C, const char* what) {
  TORCH_CHECK(v.dim() == 1 && v.numel() == C && v.scalar_type() == at::kFloat &&
                  v.is_contiguous() && v.is_cpu(),
              what, ": float32 vectors of C values expected");
}

// Per-channel sums over pixels [p0, p1) of (pixels, C) arrays, in runs of kRun pixels:
// within a run, channel block by channel block (V vectors of 8 channels), two float
// sums per channel in registers (f(q, ch, s0, s1) adds pixel q's 8 channels from ch),
// added to the float64 sums acc[c] and acc[C + c] at the end of the run. (Summing
// pixel by pixel into a row of sums in memory was slower, and did not speed up
// with a second thread.)
constexpr int64_t kRun = 16;

template <int V, typename F>
__attribute__((always_inline)) inline void block_sums(int64_t r0, int64_t r1, int64_t C,
                                                      int64_t ch, double* acc, F f) {
  v8 s0[V] = {}, s1[V] = {};
  for (int64_t q = r0; q < r1; ++q)
    for (int j = 0; j < V; ++j) f(q, ch + 8 * j, s0[j], s1[j]);
  for (int j = 0; j < V; ++j)
    for (int l = 0; l < 8; ++l) {
      acc[ch + 8 * j + l] += s0[j][l];
      acc[C + ch + 8 * j + l] += s1[j][l];
    }
}

// f1(q, ch, s0, s1): the same for one channel (the C % 8 left), float references.
// f and f1 are always_inline lambdas: a lambda is compiled for the baseline ISA, and
// GCC inlines it into an ISA clone only if told to.
template <int V, typename F, typename F1>
__attribute__((always_inline)) inline void run_sums(int64_t p0, int64_t p1, int64_t C,
                                                    double* acc, F f, F1 f1) {
  for (int64_t r0 = p0; r0 < p1; r0 += kRun) {
    const int64_t r1 = p1 - r0 < kRun ? p1 : r0 + kRun;
    int64_t ch = 0;
    for (; ch + 8 * V <= C; ch += 8 * V) block_sums<V>(r0, r1, C, ch, acc, f);
    for (; ch + 8 <= C; ch += 8) block_sums<1>(r0, r1, C, ch, acc, f);
    for (; ch < C; ++ch) {
      float s0 = 0.f, s1 = 0.f;
      for (int64_t q = r0; q < r1; ++q) f1(q, ch, s0, s1);
      acc[ch] += s0;
      acc[C + ch] += s1;
    }
  }
}

// Per-thread float64 sums over the pixels (span(p0, p1, acc) adds pixels [p0, p1)
// to acc, 2C values), added up: (2, C).
template <typename F>
at::Tensor channel_sums(const at::Tensor& like, int64_t P, int64_t C, F span) {
  const int64_t threads = at::get_num_threads();
  auto opts = like.options().memory_format(at::MemoryFormat::Contiguous);
  auto acc = at::zeros({threads, 2 * C}, opts.dtype(at::kDouble));
  double* ap = acc.data_ptr<double>();
  at::parallel_for(0, P, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, C)),
                   [&](int64_t p0, int64_t p1) {
    span(p0, p1, ap + at::get_thread_num() * 2 * C);
  });
  auto out = at::zeros({2, C}, opts.dtype(at::kDouble));
  double* op = out.data_ptr<double>();
  for (int64_t t = 0; t < threads; ++t)
    for (int64_t c = 0; c < 2 * C; ++c) op[c] += ap[t * 2 * C + c];
  return out;
}

FRELU_CLONES void moments_span(const float* c, const float* k, int64_t C, int64_t p0,
                               int64_t p1, double* acc) {
  run_sums<4>(p0, p1, C, acc,
      [&](int64_t q, int64_t ch, v8& s0, v8& s1) __attribute__((always_inline)) {
        const v8 x = *(const v8*)(c + q * C + ch) - *(const v8*)(k + ch);
        s0 += x;
        s1 += x * x;
      },
      [&](int64_t q, int64_t ch, float& s0, float& s1) __attribute__((always_inline)) {
        const float x = c[q * C + ch] - k[ch];
        s0 += x;
        s1 += x * x;
      });
}

// Per channel, shifted by the channel's first value K (no cancellation in the
// variance when the mean is far from 0): K, the sum of c - K and the sum of
// (c - K)^2, float64, (3, C).
at::Tensor channel_moments(const at::Tensor& c) {
  check_cl(c, "channel_moments");
  const int64_t C = c.size(1), P = c.numel() / std::max<int64_t>(1, C);
  TORCH_CHECK(P > 0, "channel_moments: no values");
  const float* cp = c.data_ptr<float>();
  auto sums = channel_sums(c, P, C, [&](int64_t p0, int64_t p1, double* acc) {
    moments_span(cp, cp, C, p0, p1, acc);
  });
  auto out = at::empty({3, C}, sums.options());
  double* op = out.data_ptr<double>();
  const double* sp = sums.data_ptr<double>();
  for (int64_t ch = 0; ch < C; ++ch) {
    op[ch] = cp[ch];
    op[C + ch] = sp[ch];
    op[2 * C + ch] = sp[C + ch];
  }
  return out;
}

FRELU_CLONES void affine_add_span(const float* c, const float* id, float* x, const float* s,
                                  const float* sh, int64_t C, int64_t q0, int64_t q1) {
  for (int64_t q = q0; q < q1; ++q) {
    const int64_t o = q * C;
    int64_t ch = 0;
    for (; ch + 8 <= C; ch += 8) {
      const v8 t = vaffine(*(const v8*)(c + o + ch), *(const v8*)(s + ch), *(const v8*)(sh + ch));
      *(v8*)(x + o + ch) = id ? t + *(const v8*)(id + o + ch) : t;
    }
    for (; ch < C; ++ch) {
      const float t = affine(c[o + ch], s[ch], sh[ch]);
      x[o + ch] = id ? t + id[o + ch] : t;
    }
  }
}

// A host BatchNorm applied as c * scale + shift per channel, plus `identity` if given (a
// residual branch), into a new tensor: one pass, the same function in the forward and
// in the backward's recompute (so the same bits).
at::Tensor norm_affine(const at::Tensor& c, const at::Tensor& scale, const at::Tensor& shift,
                       const c10::optional<at::Tensor>& identity) {
  check_cl(c, "norm_affine");
  const int64_t C = c.size(1), P = c.numel() / std::max<int64_t>(1, C);
  check_vec(scale, C, "norm_affine");
  check_vec(shift, C, "norm_affine");
  if (identity.has_value()) check_alike(c, *identity);
  auto x = like(c);
  const float* cp = c.data_ptr<float>();
  const float* ip = identity.has_value() ? identity->data_ptr<float>() : nullptr;
  float* xp = x.data_ptr<float>();
  const float* sp = scale.data_ptr<float>();
  const float* hp = shift.data_ptr<float>();
  at::parallel_for(0, P, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, C)),
                   [&](int64_t q0, int64_t q1) {
    affine_add_span(cp, ip, xp, sp, hp, C, q0, q1);
  });
  return x;
}

// --- training with a frozen (eval-mode) norm folded into the condition: t = u * scale
// + shift, u = dwconv(x) + bias (bias centred by the running mean; see Mode) ---

// FReLU's output max(x or 0, t) into y (a new tensor, or x itself).
void frelu_folded_into(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                       const at::Tensor& scale, const at::Tensor& shift, bool with_identity,
                       const at::Tensor& y) {
  check_cl(x, "frelu_folded");
  check_vec(scale, x.size(1), "frelu_folded");
  check_vec(shift, x.size(1), "frelu_folded");
  Extra ex;
  ex.s = scale.data_ptr<float>();
  ex.sh = shift.data_ptr<float>();
  dwconv_rows_into(x, weight, bias, with_identity ? kAffineMaxX : kAffineMaxZero, y, ex);
}

at::Tensor frelu_folded(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                        const at::Tensor& scale, const at::Tensor& shift, bool with_identity) {
  auto y = like(x);
  frelu_folded_into(x, weight, bias, scale, shift, with_identity, y);
  return y;
}

// The same over x (no allocation of the activation's size).
at::Tensor frelu_folded_(at::Tensor x, const at::Tensor& weight, const at::Tensor& bias,
                         const at::Tensor& scale, const at::Tensor& shift, bool with_identity) {
  frelu_folded_into(x, weight, bias, scale, shift, with_identity, x);
  return x;
}

// Per channel of the depthwise conv's output c = dwconv(x) + b, without writing it:
// K, the sum of c - K and the sum of (c - K)^2, float64, (3, C), as channel_moments
// gives for c. K is c at the first pixel (no cancellation in the variance when the
// mean is far from 0).
at::Tensor dwconv_moments(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  check_cl(x, "dwconv_moments");
  const int64_t C = x.size(1), H = x.size(2), W = x.size(3), k = weight.size(-1), p = k / 2;
  TORCH_CHECK(x.numel() > 0, "dwconv_moments: no values");
  TORCH_CHECK(weight.dim() == 4 && weight.size(0) == C && bias.numel() == C,
              "dwconv_moments: weight (C, 1, k, k) and bias (C) expected");
  auto opts = x.options().memory_format(at::MemoryFormat::Contiguous);
  auto shift = at::empty({C}, opts);
  {
    auto wc = weight.contiguous();
    auto bc = bias.contiguous();
    const float* wp = wc.data_ptr<float>();
    const float* xp = x.data_ptr<float>();
    float* kp = shift.data_ptr<float>();
    for (int64_t c = 0; c < C; ++c) {
      float acc = bc.data_ptr<float>()[c];
      for (int64_t dy = 0; dy < k; ++dy)
        for (int64_t dx = 0; dx < k; ++dx) {
          const int64_t h = dy - p, w = dx - p;
          if (inside(h, H) && inside(w, W))
            acc += wp[c * k * k + dy * k + dx] * xp[(h * W + w) * C + c];
        }
      kp[c] = acc;
    }
  }
  const int64_t threads = at::get_num_threads();
  auto acc = at::zeros({threads, 2 * C}, opts.dtype(at::kDouble));
  Extra ex;
  ex.s = shift.data_ptr<float>();
  ex.sums = acc.data_ptr<double>();
  dwconv_rows_into(x, weight, bias, kSums, x, ex);
  auto out = at::zeros({3, C}, opts.dtype(at::kDouble));
  double* op = out.data_ptr<double>();
  const double* ap = acc.data_ptr<double>();
  for (int64_t c = 0; c < C; ++c) op[c] = shift.data_ptr<float>()[c];
  for (int64_t t = 0; t < threads; ++t)
    for (int64_t i = 0; i < 2 * C; ++i) op[C + i] += ap[t * 2 * C + i];
  return out;
}

// The gradient of the folded norm's input (batch statistics; see lean_frelu.py),
// a * g_t + b * u + d per channel, u = dwconv(x) + bias recomputed in the same pass,
// into `out` (laid out as x; not x, whose rows the conv still reads).
at::Tensor dwconv_bn_grad_into_(at::Tensor out, const at::Tensor& x, const at::Tensor& weight,
                                const at::Tensor& bias, const at::Tensor& gt,
                                const at::Tensor& a, const at::Tensor& b, const at::Tensor& d) {
  check_cl(x, "dwconv_bn_grad_into_");
  check_alike(out, x);
  check_alike(gt, x);
  TORCH_CHECK(!out.is_same(x), "dwconv_bn_grad_into_: out must not be x");
  const int64_t C = x.size(1);
  check_vec(a, C, "dwconv_bn_grad_into_");
  check_vec(b, C, "dwconv_bn_grad_into_");
  check_vec(d, C, "dwconv_bn_grad_into_");
  Extra ex;
  ex.ra = gt.data_ptr<float>();
  ex.s = a.data_ptr<float>();
  ex.sh = b.data_ptr<float>();
  ex.sd = d.data_ptr<float>();
  dwconv_rows_into(x, weight, bias, kBnGrad, out, ex);
  return out;
}

// From FReLU's output gradient g, t's share of it (recomputing t as frelu_folded does,
// so with its mask), with per channel the float64 sums of the share and of share * u:
// (share, (2, C)).
// out: where to write the share (laid out as x, not x itself), else a new tensor.
std::tuple<at::Tensor, at::Tensor> frelu_folded_split(
    const at::Tensor& x, const at::Tensor& g, const at::Tensor& weight, const at::Tensor& bias,
    const at::Tensor& scale, const at::Tensor& shift, bool with_identity,
    const c10::optional<at::Tensor>& out) {
  check_cl(x, "frelu_folded_split");
  check_alike(x, g);
  const int64_t C = x.size(1);
  check_vec(scale, C, "frelu_folded_split");
  check_vec(shift, C, "frelu_folded_split");
  const int64_t threads = at::get_num_threads();
  auto opts = x.options().memory_format(at::MemoryFormat::Contiguous).dtype(at::kDouble);
  auto acc = at::zeros({threads, 2 * C}, opts);
  Extra ex;
  ex.ra = g.data_ptr<float>();
  ex.s = scale.data_ptr<float>();
  ex.sh = shift.data_ptr<float>();
  ex.sums = acc.data_ptr<double>();
  at::Tensor share;
  if (out.has_value()) {
    check_alike(*out, x);
    TORCH_CHECK(!out->is_same(x) && !out->is_same(g), "frelu_folded_split: out must not be x or g");
    share = *out;
  } else {
    share = like(x);
  }
  dwconv_rows_into(x, weight, bias, with_identity ? kSplitX : kSplitZero, share, ex);
  auto sums = at::zeros({2, C}, opts);
  double* sp = sums.data_ptr<double>();
  const double* ap = acc.data_ptr<double>();
  for (int64_t t = 0; t < threads; ++t)
    for (int64_t i = 0; i < 2 * C; ++i) sp[i] += ap[t * 2 * C + i];
  return std::make_tuple(share, sums);
}

// --- training: the depthwise conv's backward (stride 1, zero padding k/2) ---

// Input gradient: the output gradient gy convolved with the kernel flipped in both
// axes (the transpose of a stride-1, size-preserving depthwise conv), by the row kernel.
at::Tensor dwconv_input_grad(const at::Tensor& gy, const at::Tensor& weight) {
  auto gx = like(gy);
  auto zero_bias = at::zeros({gy.size(1)}, weight.options().memory_format(at::MemoryFormat::Contiguous));
  dwconv_rows_into(gy, at::flip(weight, {2, 3}), zero_bias, kPlain, gx);
  return gx;
}

// The same into `out`, plus (a - b) in the same pass if a and b are given: FReLU's
// input gradient, with identity the conv's share plus x's own share g - g_t of the
// max's gradient. a and b are read only at the pixel written, so out may be a or b
// (the lean backward writes over g_t: one activation-sized buffer less).
at::Tensor dwconv_input_grad_into_(at::Tensor out, const at::Tensor& gy, const at::Tensor& weight,
                                   const c10::optional<at::Tensor>& a,
                                   const c10::optional<at::Tensor>& b) {
  TORCH_CHECK(gy.is_contiguous(at::MemoryFormat::ChannelsLast),
              "dwconv_input_grad_into_: gy must be channels-last contiguous");
  TORCH_CHECK(a.has_value() == b.has_value(), "dwconv_input_grad_into_: a and b go together");
  check_alike(gy, out);
  TORCH_CHECK(!out.is_same(gy), "dwconv_input_grad_into_: out must not be gy");
  auto zero_bias = at::zeros({gy.size(1)}, weight.options().memory_format(at::MemoryFormat::Contiguous));
  if (!a.has_value()) {
    dwconv_rows_into(gy, at::flip(weight, {2, 3}), zero_bias, kPlain, out);
    return out;
  }
  check_alike(gy, *a);
  check_alike(gy, *b);
  Extra ex;
  ex.ra = a->data_ptr<float>();
  ex.rb = b->data_ptr<float>();
  dwconv_rows_into(gy, at::flip(weight, {2, 3}), zero_bias, kPlusRest, out, ex);
  return out;
}

namespace {

// One image row of the weight gradient for the L channels from c: for every pixel w,
// a[dy * k + dx] += gy(w) * x(row dy, w + dx - p) and a[k * k] += gy(w), in registers
// along the row. K: the kernel size if known at compile time, else 0 (k at run time).
// Columns [w0, w1) only; EDGE: some of their taps fall outside the image (skipped).
template <int L, int K, bool EDGE>
__attribute__((always_inline)) inline void wgrad_span(
    const float* const* rp, const float* grow, int64_t W, int64_t C, int64_t c, int k,
    int64_t w0, int64_t w1, typename Vec<L>::type* a) {
  using VT = typename Vec<L>::type;
  const int kk = K > 0 ? K : k;
  for (int64_t w = w0; w < w1; ++w) {
    const VT gv = *(const VT*)(grow + w * C + c);
    a[kk * kk] += gv;
    taps<EDGE>(kk, W, w, [&](int dy, int dx, int64_t col) __attribute__((always_inline)) {
      a[dy * kk + dx] += gv * *(const VT*)(rp[dy] + col * C + c);
    });
  }
}

// The sums of L channels from c (L / 8 blocks of 8) added to acc, laid out per block
// of 8 channels: (k * k + 1) x 8 sums each
template <int L, int K>
__attribute__((always_inline)) inline void wgrad_block(
    const float* const* rp, const float* grow, int64_t W, int64_t C, int64_t c, int k,
    float* acc) {
  using VT = typename Vec<L>::type;
  constexpr int NA = K > 0 ? K * K + 1 : MAXK * MAXK + 1;
  const int kk = K > 0 ? K : k, p = kk / 2, n = kk * kk + 1;
  VT a[NA];
  for (int i = 0; i < n; ++i) a[i] = VT{};
  const int64_t e0 = p < W ? p : W, e1 = W - p > e0 ? W - p : e0;
  wgrad_span<L, K, true>(rp, grow, W, C, c, k, 0, e0, a);
  wgrad_span<L, K, false>(rp, grow, W, C, c, k, e0, e1, a);
  wgrad_span<L, K, true>(rp, grow, W, C, c, k, e1, W, a);
  for (int h = 0; h < L / 8; ++h) {
    float* ab = acc + (c / 8 + h) * n * 8;
    for (int i = 0; i < n; ++i) {
      v8 part;
      __builtin_memcpy(&part, (const float*)&a[i] + 8 * h, sizeof(part));
      *(v8*)(ab + i * 8) += part;
    }
  }
}

// The weight (and bias) gradient sums of rows [r0, r1) into acc: per block of 8
// channels, (k * k + 1) x 8 sums (the taps, then the bias); the channels in blocks of
// 16 if WIDE (as far as they fill them), then of 8; the last C % 8 channels one by one
// into the lanes of their block.
template <int K, bool WIDE>
__attribute__((always_inline)) inline void wgrad_rows_k(
    const float* gy, const float* x, int64_t H, int64_t W, int64_t C, int k, int64_t r0,
    int64_t r1, const float* zeros, float* acc) {
  const int p = k / 2, n = k * k + 1;
  const int64_t rs = W * C;
  const float* rp[MAXK];
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t h = r % H;
    for (int dy = 0; dy < k; ++dy) rp[dy] = inside(h + dy - p, H) ? x + (r + dy - p) * rs : zeros;
    const float* grow = gy + r * rs;
    int64_t c = 0;
    if (WIDE)
      for (; c + 16 <= C; c += 16) wgrad_block<16, K>(rp, grow, W, C, c, k, acc);
    for (; c + 8 <= C; c += 8) wgrad_block<8, K>(rp, grow, W, C, c, k, acc);
    for (; c < C; ++c) {
      float* ac = acc + (c / 8) * n * 8 + c % 8;
      for (int64_t w = 0; w < W; ++w) {
        const float gv = grow[w * C + c];
        ac[(n - 1) * 8] += gv;
        for (int dy = 0; dy < k; ++dy)
          for (int dx = 0; dx < k; ++dx) {
            const int64_t col = w + dx - p;
            if (col >= 0 && col < W) ac[(dy * k + dx) * 8] += gv * rp[dy][col * C + c];
          }
      }
    }
  }
}

template <bool WIDE>
__attribute__((always_inline)) inline void wgrad_rows_any(
    const float* gy, const float* x, int64_t H, int64_t W, int64_t C, int k, int64_t r0,
    int64_t r1, const float* zeros, float* acc) {
  switch (k) {
    case 1: return wgrad_rows_k<1, WIDE>(gy, x, H, W, C, k, r0, r1, zeros, acc);
    case 3: return wgrad_rows_k<3, WIDE>(gy, x, H, W, C, k, r0, r1, zeros, acc);
    case 5: return wgrad_rows_k<5, WIDE>(gy, x, H, W, C, k, r0, r1, zeros, acc);
    default: return wgrad_rows_k<0, WIDE>(gy, x, H, W, C, k, r0, r1, zeros, acc);
  }
}

FRELU_CLONES
void wgrad_rows_narrow(const float* gy, const float* x, int64_t H, int64_t W, int64_t C,
                       int k, int64_t r0, int64_t r1, const float* zeros, float* acc) {
  wgrad_rows_any<false>(gy, x, H, W, C, k, r0, r1, zeros, acc);
}

#if FRELU_ISA_BUILDS
FRELU_WIDE
void wgrad_rows_wide(const float* gy, const float* x, int64_t H, int64_t W, int64_t C,
                     int k, int64_t r0, int64_t r1, const float* zeros, float* acc) {
  wgrad_rows_any<true>(gy, x, H, W, C, k, r0, r1, zeros, acc);
}
#endif

// 16 lanes wide where the rows are (g_wide)
void wgrad_rows(const float* gy, const float* x, int64_t H, int64_t W, int64_t C, int k,
                int64_t r0, int64_t r1, const float* zeros, float* acc) {
#if FRELU_ISA_BUILDS
  if (g_wide) return wgrad_rows_wide(gy, x, H, W, C, k, r0, r1, zeros, acc);
#endif
  wgrad_rows_narrow(gy, x, H, W, C, k, r0, r1, zeros, acc);
}

}  // namespace

// Weight and bias gradient of the depthwise conv y = dwconv_kxk(x) + b from its output
// gradient gy: a (C, k * k + 1) float32 tensor, each row the channel's k * k taps, then
// its bias. Rows of the images are split over the threads, each summing into its own
// buffer (in registers along a row first); the buffers are added in float64 at the end.
at::Tensor dwconv_weight_grad(const at::Tensor& gy, const at::Tensor& x, int64_t k) {
  TORCH_CHECK(x.dim() == 4 && x.scalar_type() == at::kFloat && x.device().is_cpu() &&
                  x.is_contiguous(at::MemoryFormat::ChannelsLast),
              "dwconv_weight_grad: x must be a 4-d float32 channels-last CPU tensor");
  TORCH_CHECK(gy.scalar_type() == at::kFloat && gy.device().is_cpu() && gy.sizes() == x.sizes() &&
                  gy.is_contiguous(at::MemoryFormat::ChannelsLast),
              "dwconv_weight_grad: gy must be float32 channels-last like x");
  TORCH_CHECK(k % 2 == 1 && k >= 1 && k <= MAXK, "dwconv_weight_grad: odd k <= 15 expected");
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t n = k * k + 1, nb = (C + 7) / 8, per_thread = nb * n * 8, R = N * H;
  const int64_t threads = at::get_num_threads();
  auto opts = x.options().memory_format(at::MemoryFormat::Contiguous);
  auto sums = at::zeros({threads, per_thread}, opts);
  auto zero_row = at::zeros({W * C}, opts);
  float* sp = sums.data_ptr<float>();
  const float* gp = gy.data_ptr<float>();
  const float* xp = x.data_ptr<float>();
  const float* zeros = zero_row.data_ptr<float>();
  if (x.numel() > 0) {
    const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, W * C));
    at::parallel_for(0, R, grain, [&](int64_t r0, int64_t r1) {
      float* acc = sp + at::get_thread_num() * per_thread;
      wgrad_rows(gp, xp, H, W, C, (int)k, r0, r1, zeros, acc);
    });
  }
  auto out = at::empty({C, n}, opts);
  float* op = out.data_ptr<float>();
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < n; ++i) {
      double total = 0.0;
      for (int64_t t = 0; t < threads; ++t) total += sp[t * per_thread + (c / 8) * n * 8 + i * 8 + c % 8];
      op[c * n + i] = (float)total;
    }
  return out;
}

// Whether the rows run 16 lanes wide (AVX-512) now.
bool wide_rows() { return g_wide; }

// Turns the wide rows on (where the CPU has AVX-512) or off; returns wide_rows().
bool set_wide_rows(bool enable) {
  g_wide = enable && cpu_has_wide();
  return g_wide;
}

// Groups of output rows run since the library was loaded (g_groups_run)
int64_t groups_run() { return g_groups_run.load(); }

// Whether the AVX2+FMA clone runs on this CPU (the baseline one is correct but
// slower than PyTorch's eager ops).
bool fast_path() { return cpu_has_avx2(); }

// torch.ops.frelu_mm.* (no pybind11: a much shorter build)
TORCH_LIBRARY(frelu_mm, m) {
  m.def("fast_path() -> bool", &fast_path);
  m.def("wide_rows() -> bool", &wide_rows);
  m.def("set_wide_rows(bool enable) -> bool", &set_wide_rows);
  m.def("groups_run() -> int", &groups_run);
  m.def("fused_frelu(Tensor x, Tensor weight, Tensor bias, bool with_identity) -> Tensor",
        &fused_frelu);
  m.def("fused_frelu_(Tensor(a!) x, Tensor weight, Tensor bias, bool with_identity) -> Tensor(a!)",
        &fused_frelu_);
  m.def("frelu_grad_split_(Tensor(a!) t, Tensor x, Tensor g, bool with_identity) -> Tensor(a!)",
        &frelu_grad_split_);
  m.def("frelu_add_rest_(Tensor(a!) gx, Tensor g, Tensor gt) -> Tensor(a!)", &frelu_add_rest_);
  m.def("dwconv(Tensor x, Tensor weight, Tensor bias) -> Tensor", &dwconv);
  m.def("dwconv_bn_grad_into_(Tensor(a!) out, Tensor x, Tensor weight, Tensor bias, Tensor gt, Tensor a, Tensor b, Tensor d) -> Tensor(a!)",
        &dwconv_bn_grad_into_);
  m.def("channel_moments(Tensor c) -> Tensor", &channel_moments);
  m.def("dwconv_moments(Tensor x, Tensor weight, Tensor bias) -> Tensor", &dwconv_moments);
  m.def("norm_affine(Tensor c, Tensor scale, Tensor shift, Tensor? identity) -> Tensor",
        &norm_affine);
  m.def("dwconv_input_grad(Tensor gy, Tensor weight) -> Tensor", &dwconv_input_grad);
  m.def("dwconv_input_grad_into_(Tensor(a!) out, Tensor gy, Tensor weight, Tensor? a, Tensor? b) -> Tensor(a!)",
        &dwconv_input_grad_into_);
  m.def("dwconv_weight_grad(Tensor gy, Tensor x, int k) -> Tensor", &dwconv_weight_grad);
  m.def("frelu_folded(Tensor x, Tensor weight, Tensor bias, Tensor scale, Tensor shift, bool with_identity) -> Tensor",
        &frelu_folded);
  m.def("frelu_folded_(Tensor(a!) x, Tensor weight, Tensor bias, Tensor scale, Tensor shift, bool with_identity) -> Tensor(a!)",
        &frelu_folded_);
  m.def("frelu_folded_split(Tensor x, Tensor g, Tensor weight, Tensor bias, Tensor scale, Tensor shift, bool with_identity, Tensor(a!)? out=None) -> (Tensor, Tensor)",
        &frelu_folded_split);
}
