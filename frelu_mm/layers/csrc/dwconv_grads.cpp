// The depthwise conv's backward in one pass (stride 1, zero padding k/2; float32
// channels-last CPU tensors; lean_frelu.py): from the conv's output gradient gy, the
// input gradient (gy convolved with the kernel flipped in both axes, plus a - b where
// given: FReLU's input gradient with x's own share of the max's gradient) into out,
// and the weight and bias gradients. The weight gradient of tap (i, j) is the sum over
// pixels q of x(q) * gy(q - (i - p, j - p)): the values of gy's window that the input
// gradient reads at q, each times x(q). So one read of gy, x, a and b serves both,
// where two passes (dwconv_input_grad_into_, dwconv_weight_grad) read gy and x twice.
//
// Each image row is swept channel block by channel block, pixel by pixel along the row
// (as the weight gradient's pass does), the block's k * k weights and k * k + 1 sums
// in registers; the sums of a row are added to this thread's float sums, and the
// threads' sums in float64 at the end. x(q), a(q) and b(q) are read just before out(q)
// is written, so out may be x, a or b (not gy).
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>
#include <algorithm>
#include <tuple>
#include <type_traits>

#include "simd.h"

void check_alike(const at::Tensor& a, const at::Tensor& b);  // fused_frelu.cpp
void check_vec(const at::Tensor& v, int64_t C, const char* what);  // fused_frelu.cpp

namespace {

// Rows go in tiles of kTile pixels, each tile channel block by channel block: the
// tiles' rows of every tensor stay in cache from block to block (whole rows channel
// block by channel block read each tensor in strides of C floats, one cache line a
// pixel, and ran 3x slower where rows hold 256 channels)
constexpr int64_t kTile = 8;

// One image row's tensors and shapes. gy[dy]: row h + dy - p of the output gradient,
// or a row of zeros outside the image; x, a, b, out: row h (a and b null: no rest).
// wf: the flipped taps, (k * k, C): tap t of channel c at t * C + c.
struct Rows {
  const float* gy[MAXK];
  const float* x;
  const float* a;
  const float* b;
  float* out;
  const float* wf;
  int64_t W, C;
  int k;
};

// Pixels [w0, w1) of the row for the L channels from c; EDGE: some of their taps fall
// outside the image (skipped). s: k * k + 1 sums; s[t] is the weight gradient of the
// unflipped tap t, s[k * k] the bias's.
template <int L, int K, bool EDGE, bool REST, bool PF = !EDGE>
__attribute__((always_inline)) inline void grads_span(const Rows& r, int64_t c, int64_t w0,
                                                      int64_t w1, const typename Vec<L>::type* wr,
                                                      typename Vec<L>::type* s) {
  using VT = typename Vec<L>::type;
  const int kk = K > 0 ? K : r.k, p = kk / 2;
  const int64_t C = r.C;
  for (int64_t w = w0; w < w1; ++w) {
    if (PF) {  // this block's lines of the next tile
      const int64_t f = (w + kTile) * C + c;
      for (int dy = 0; dy < kk; ++dy) __builtin_prefetch(r.gy[dy] + f + p * C);
      __builtin_prefetch(r.x + f);
      if (REST) {
        __builtin_prefetch(r.a + f);
        __builtin_prefetch(r.b + f);
      }
      if (r.out != r.x) __builtin_prefetch(r.out + f, 1);
    }
    const VT xv = *(const VT*)(r.x + w * C + c);
    VT acc{};
    taps<EDGE>(kk, r.W, w, [&](int dy, int dx, int64_t col) __attribute__((always_inline)) {
      const VT gv = *(const VT*)(r.gy[dy] + col * C + c);
      acc += wr[dy * kk + dx] * gv;
      s[(kk - 1 - dy) * kk + (kk - 1 - dx)] += xv * gv;
    });
    s[kk * kk] += *(const VT*)(r.gy[p] + w * C + c);
    if (REST) acc += *(const VT*)(r.a + w * C + c) - *(const VT*)(r.b + w * C + c);
    *(VT*)(r.out + w * C + c) = acc;
  }
}

// Pixels [w0, w1) of a row: the border pixels (whose taps may fall outside the
// image) through span<true>, the others through span<false>
template <typename F>
__attribute__((always_inline)) inline void by_border(int64_t W, int p, int64_t w0, int64_t w1,
                                                     F span) {
  const int64_t e0 = p < W ? p : W, e1 = W - p > e0 ? W - p : e0;
  const int64_t a = w1 < e0 ? w1 : e0, b0 = w0 > e0 ? w0 : e0, b1 = w1 < e1 ? w1 : e1;
  const int64_t c0 = w0 > e1 ? w0 : e1;
  if (w0 < a) span(std::integral_constant<bool, true>(), w0, a);
  if (b0 < b1) span(std::integral_constant<bool, false>(), b0, b1);
  if (c0 < w1) span(std::integral_constant<bool, true>(), c0, w1);
}

// Pixels [w0, w1) of the row for the L channels from c, their sums added to sums
// ((k * k + 1, C) floats)
template <int L, int K, bool REST>
__attribute__((always_inline)) inline void grads_block(const Rows& r, int64_t c, int64_t w0,
                                                       int64_t w1, float* sums) {
  using VT = typename Vec<L>::type;
  constexpr int NA = K > 0 ? K * K + 1 : MAXK * MAXK + 1;
  const int kk = K > 0 ? K : r.k, n = kk * kk + 1;
  VT wr[NA], s[NA];
  for (int t = 0; t < kk * kk; ++t) wr[t] = *(const VT*)(r.wf + t * r.C + c);
  for (int i = 0; i < n; ++i) s[i] = VT{};
  by_border(r.W, kk / 2, w0, w1, [&](auto edge, int64_t a, int64_t b)
                __attribute__((always_inline)) {
    grads_span<L, K, decltype(edge)::value, REST>(r, c, a, b, wr, s);
  });
  for (int i = 0; i < n; ++i) *(VT*)(sums + i * r.C + c) += s[i];
}

// One channel (the C % 8 left)
template <bool REST>
__attribute__((always_inline)) inline void grads_channel(const Rows& r, int64_t c, float* sums) {
  const int k = r.k, p = k / 2, kk = k * k;
  const int64_t C = r.C;
  for (int64_t w = 0; w < r.W; ++w) {
    const float xv = r.x[w * C + c];
    float acc = 0.f;
    for (int dy = 0; dy < k; ++dy)
      for (int dx = 0; dx < k; ++dx) {
        const int64_t col = w + dx - p;
        if (col < 0 || col >= r.W) continue;
        const float gv = r.gy[dy][col * C + c];
        acc += r.wf[(dy * k + dx) * C + c] * gv;
        sums[((k - 1 - dy) * k + (k - 1 - dx)) * C + c] += xv * gv;
      }
    sums[kk * C + c] += r.gy[p][w * C + c];
    if (REST) acc += r.a[w * C + c] - r.b[w * C + c];
    r.out[w * C + c] = acc;
  }
}


template <int K, bool WIDE, bool REST>
__attribute__((always_inline)) inline void grads_row_k(const Rows& r, float* sums) {
  for (int64_t w0 = 0; w0 < r.W; w0 += kTile) {
    const int64_t w1 = w0 + kTile < r.W ? w0 + kTile : r.W;
    int64_t c = 0;
    if (WIDE)
      for (; c + 16 <= r.C; c += 16) grads_block<16, K, REST>(r, c, w0, w1, sums);
    for (; c + 8 <= r.C; c += 8) grads_block<8, K, REST>(r, c, w0, w1, sums);
  }
  for (int64_t c = r.C - r.C % 8; c < r.C; ++c) grads_channel<REST>(r, c, sums);
}

template <bool WIDE>
__attribute__((always_inline)) inline void grads_row_any(const Rows& r, float* sums) {
  const bool rest = r.a != nullptr;
  switch (r.k) {
    case 1: return rest ? grads_row_k<1, WIDE, true>(r, sums) : grads_row_k<1, WIDE, false>(r, sums);
    case 3: return rest ? grads_row_k<3, WIDE, true>(r, sums) : grads_row_k<3, WIDE, false>(r, sums);
    case 5: return rest ? grads_row_k<5, WIDE, true>(r, sums) : grads_row_k<5, WIDE, false>(r, sums);
    default: return rest ? grads_row_k<0, WIDE, true>(r, sums) : grads_row_k<0, WIDE, false>(r, sums);
  }
}

FRELU_CLONES
void grads_row_narrow(const Rows& r, float* sums) { grads_row_any<false>(r, sums); }

#if FRELU_ISA_BUILDS
FRELU_WIDE
void grads_row_wide(const Rows& r, float* sums) { grads_row_any<true>(r, sums); }
#endif

void grads_row(const Rows& r, float* sums) {
#if FRELU_ISA_BUILDS
  if (wide_rows()) return grads_row_wide(r, sums);
#endif
  grads_row_narrow(r, sums);
}

// --- with the norm's input gradient produced row by row (batch statistics) ---

// What one row of g_c = a * g_t + b * u + d is made from (u = dwconv(x) + bias_c, the
// folded norm's input; lean_frelu.py): x[dy], row j + dy - p of x or zeros outside the
// image; gt, row j of g_t; wu, the taps unflipped, (k * k, C); bc, a, b, d per channel.
struct BnRow {
  const float* x[MAXK];
  const float* gt;
  float* gc;
  const float* wu;
  const float *bc, *a, *b, *d;
  int64_t W, C;
  int k;
};

template <int L, int K, bool EDGE, bool PF = !EDGE>
__attribute__((always_inline)) inline void bn_span(const BnRow& r, int64_t c, int64_t w0,
                                                   int64_t w1, const typename Vec<L>::type* wr) {
  using VT = typename Vec<L>::type;
  const int kk = K > 0 ? K : r.k, p = kk / 2;
  const int64_t C = r.C;
  const VT bc = *(const VT*)(r.bc + c), av = *(const VT*)(r.a + c);
  const VT bv = *(const VT*)(r.b + c), dv = *(const VT*)(r.d + c);
  for (int64_t w = w0; w < w1; ++w) {
    if (PF) {  // this block's lines of the next tile (as grads_span)
      const int64_t f = (w + kTile) * C + c;
      for (int dy = 0; dy < kk; ++dy) __builtin_prefetch(r.x[dy] + f + p * C);
      __builtin_prefetch(r.gt + f);
    }
    VT u = bc;
    taps<EDGE>(kk, r.W, w, [&](int dy, int dx, int64_t col) __attribute__((always_inline)) {
      u += wr[dy * kk + dx] * *(const VT*)(r.x[dy] + col * C + c);
    });
    *(VT*)(r.gc + w * C + c) = av * *(const VT*)(r.gt + w * C + c) + bv * u + dv;
  }
}

template <int L, int K>
__attribute__((always_inline)) inline void bn_block(const BnRow& r, int64_t c, int64_t w0,
                                                    int64_t w1) {
  using VT = typename Vec<L>::type;
  constexpr int NA = K > 0 ? K * K : MAXK * MAXK;
  const int kk = K > 0 ? K : r.k;
  VT wr[NA];
  for (int t = 0; t < kk * kk; ++t) wr[t] = *(const VT*)(r.wu + t * r.C + c);
  by_border(r.W, kk / 2, w0, w1, [&](auto edge, int64_t a, int64_t b)
                __attribute__((always_inline)) {
    bn_span<L, K, decltype(edge)::value>(r, c, a, b, wr);
  });
}

__attribute__((always_inline)) inline void bn_channel(const BnRow& r, int64_t c) {
  const int k = r.k, p = k / 2;
  const int64_t C = r.C;
  for (int64_t w = 0; w < r.W; ++w) {
    float u = r.bc[c];
    for (int dy = 0; dy < k; ++dy)
      for (int dx = 0; dx < k; ++dx) {
        const int64_t col = w + dx - p;
        if (col >= 0 && col < r.W) u += r.wu[(dy * k + dx) * C + c] * r.x[dy][col * C + c];
      }
    r.gc[w * C + c] = r.a[c] * r.gt[w * C + c] + r.b[c] * u + r.d[c];
  }
}

template <int K, bool WIDE>
__attribute__((always_inline)) inline void bn_row_k(const BnRow& r) {
  for (int64_t w0 = 0; w0 < r.W; w0 += kTile) {  // tiles, as grads_row_k
    const int64_t w1 = w0 + kTile < r.W ? w0 + kTile : r.W;
    int64_t c = 0;
    if (WIDE)
      for (; c + 16 <= r.C; c += 16) bn_block<16, K>(r, c, w0, w1);
    for (; c + 8 <= r.C; c += 8) bn_block<8, K>(r, c, w0, w1);
  }
  for (int64_t c = r.C - r.C % 8; c < r.C; ++c) bn_channel(r, c);
}

template <bool WIDE>
__attribute__((always_inline)) inline void bn_row_any(const BnRow& r) {
  switch (r.k) {
    case 1: return bn_row_k<1, WIDE>(r);
    case 3: return bn_row_k<3, WIDE>(r);
    case 5: return bn_row_k<5, WIDE>(r);
    default: return bn_row_k<0, WIDE>(r);
  }
}

FRELU_CLONES
void bn_row_narrow(const BnRow& r) { bn_row_any<false>(r); }

#if FRELU_ISA_BUILDS
FRELU_WIDE
void bn_row_wide(const BnRow& r) { bn_row_any<true>(r); }
#endif

void bn_row(const BnRow& r) {
#if FRELU_ISA_BUILDS
  if (wide_rows()) return bn_row_wide(r);
#endif
  bn_row_narrow(r);
}

// (k * k, C) float32 taps of a (C, 1, k, k) weight, flipped in both axes or not
at::Tensor taps_by_channel(const at::Tensor& weight, bool flip) {
  const int64_t C = weight.size(0), kk = weight.size(2) * weight.size(3);
  auto out = at::empty({kk, C}, weight.options().memory_format(at::MemoryFormat::Contiguous));
  auto wc = weight.contiguous();
  const float* src = wc.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  for (int64_t c = 0; c < C; ++c)
    for (int64_t t = 0; t < kk; ++t) dst[t * C + c] = src[c * kk + (flip ? kk - 1 - t : t)];
  return out;
}

// The threads' float sums ((threads, (k * k + 1) * C)) added in float64: (C, k * k + 1)
at::Tensor total_sums(const at::Tensor& parts, int64_t C, int64_t n) {
  auto grads = at::empty({C, n}, parts.options());
  float* gr = grads.data_ptr<float>();
  const float* pp = parts.data_ptr<float>();
  const int64_t threads = parts.size(0);
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < n; ++i) {
      double total = 0.0;
      for (int64_t t = 0; t < threads; ++t) total += pp[t * n * C + i * C + c];
      gr[c * n + i] = (float)total;
    }
  return grads;
}

void check_weight(const at::Tensor& weight, int64_t C, const char* what) {
  const int64_t k = weight.size(-1);
  TORCH_CHECK(weight.dim() == 4 && weight.size(0) == C && weight.size(1) == 1 &&
                  weight.size(2) == k && k % 2 == 1 && k <= MAXK &&
                  weight.scalar_type() == at::kFloat && weight.is_cpu(),
              what, ": weight must be float32 (C, 1, k, k) with odd k <= 15");
}

// The ops' tensors: `like` 4-d channels-last; `other`, a and b (given together) and out
// laid out as it; out not `early` (read ahead of the rows written, or around them).
void check_operands(const char* op, const at::Tensor& like, const at::Tensor& other,
                    const c10::optional<at::Tensor>& a, const c10::optional<at::Tensor>& b,
                    const at::Tensor& out, const at::Tensor& early, const char* early_name) {
  TORCH_CHECK(like.dim() == 4 && like.is_contiguous(at::MemoryFormat::ChannelsLast), op,
              ": 4-d channels-last contiguous tensors expected");
  TORCH_CHECK(a.has_value() == b.has_value(), op, ": the two added tensors go together");
  check_alike(like, out);
  check_alike(like, other);
  if (a.has_value()) {
    check_alike(like, *a);
    check_alike(like, *b);
  }
  TORCH_CHECK(!out.is_same(early), op, ": out must not be ", early_name);
}

}  // namespace

// out <- the input gradient (plus a - b if given); returns the weight and bias
// gradients, (C, k * k + 1) float32: each row a channel's k * k taps, then its bias.
at::Tensor dwconv_grads_into_(at::Tensor out, const at::Tensor& gy, const at::Tensor& weight,
                              const at::Tensor& x, const c10::optional<at::Tensor>& a,
                              const c10::optional<at::Tensor>& b) {
  check_operands("dwconv_grads_into_", gy, x, a, b, out, gy, "gy");
  const int64_t N = gy.size(0), C = gy.size(1), H = gy.size(2), W = gy.size(3);
  check_weight(weight, C, "dwconv_grads_into_");
  const int64_t k = weight.size(-1), n = k * k + 1, p = k / 2, rs = W * C, R = N * H;
  auto opts = gy.options().memory_format(at::MemoryFormat::Contiguous);
  auto wf = taps_by_channel(weight, true);
  auto parts = at::zeros({at::get_num_threads(), n * C}, opts);
  auto zero_row = at::zeros({rs}, opts);
  if (gy.numel() > 0) {
    float* pp = parts.data_ptr<float>();
    const float *gp = gy.data_ptr<float>(), *xp = x.data_ptr<float>();
    const float* ap = a.has_value() ? a->data_ptr<float>() : nullptr;
    const float* bp = b.has_value() ? b->data_ptr<float>() : nullptr;
    float* op = out.data_ptr<float>();
    const float* zeros = zero_row.data_ptr<float>();
    const float* wfp = wf.data_ptr<float>();
    const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, rs));
    at::parallel_for(0, R, grain, [&](int64_t r0, int64_t r1) {
      float* sums = pp + at::get_thread_num() * n * C;
      Rows rows;
      rows.wf = wfp, rows.W = W, rows.C = C, rows.k = (int)k;
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t h = r % H;
        for (int64_t dy = 0; dy < k; ++dy)
          rows.gy[dy] = inside(h + dy - p, H) ? gp + (r + dy - p) * rs : zeros;
        rows.x = xp + r * rs;
        rows.a = ap ? ap + r * rs : nullptr;
        rows.b = bp ? bp + r * rs : nullptr;
        rows.out = op + r * rs;
        grads_row(rows, sums);
      }
    });
  }
  return total_sums(parts, C, n);
}

// The same with the conv's output gradient the folded norm's input gradient (batch
// statistics; lean_frelu.py), gy = a * g_t + b * u + d per channel, u = dwconv(x) +
// bias_c: made row by row just ahead of the rows that read it (a ring of k rows per
// thread), never written whole. Returns the conv's weight and bias gradients (the
// bias's: the sum of gy). out may be x (its rows that a thread's first or last output
// rows need from a neighbouring thread's range are copied first), ra or rb, not gt.
at::Tensor dwconv_bn_grads_into_(at::Tensor out, const at::Tensor& x, const at::Tensor& weight,
                                 const at::Tensor& bias_c, const at::Tensor& gt,
                                 const at::Tensor& a, const at::Tensor& b, const at::Tensor& d,
                                 const c10::optional<at::Tensor>& ra,
                                 const c10::optional<at::Tensor>& rb) {
  check_operands("dwconv_bn_grads_into_", x, gt, ra, rb, out, gt, "gt");
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  check_weight(weight, C, "dwconv_bn_grads_into_");
  check_vec(bias_c, C, "dwconv_bn_grads_into_: bias_c");
  check_vec(a, C, "dwconv_bn_grads_into_: a");
  check_vec(b, C, "dwconv_bn_grads_into_: b");
  check_vec(d, C, "dwconv_bn_grads_into_: d");
  const int64_t k = weight.size(-1), n = k * k + 1, p = k / 2, rs = W * C, R = N * H;
  auto opts = x.options().memory_format(at::MemoryFormat::Contiguous);
  auto wf = taps_by_channel(weight, true), wu = taps_by_channel(weight, false);
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), R));
  const int64_t per = (R + chunks - 1) / chunks;
  // per chunk: x's 2p rows before and 2p after it (in place), a ring of 2p + 1 rows of gy
  const int64_t ring = 2 * p + 1, slot = (4 * p + ring) * rs;
  auto parts = at::zeros({chunks, n * C}, opts);
  auto zero_row = at::zeros({rs}, opts);
  auto scratch = at::empty({chunks * slot}, opts);
  if (x.numel() == 0) return total_sums(parts, C, n);
  const bool inplace = out.is_same(x);
  float* sp = scratch.data_ptr<float>();
  const float* xp = x.data_ptr<float>();
  const float* zeros = zero_row.data_ptr<float>();
  auto bounds = [&](int64_t i, int64_t* r0, int64_t* r1) {
    *r0 = std::min(R, i * per);
    *r1 = std::min(R, *r0 + per);
  };
  if (inplace && p > 0)
    at::parallel_for(0, chunks, 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        int64_t r0, r1;
        bounds(i, &r0, &r1);
        float* before = sp + i * slot;
        float* after = before + 2 * p * rs;
        for (int64_t j = std::max<int64_t>(0, r0 - 2 * p); j < r0; ++j)
          std::copy(xp + j * rs, xp + (j + 1) * rs, before + (j - (r0 - 2 * p)) * rs);
        for (int64_t j = r1; j < std::min(R, r1 + 2 * p); ++j)
          std::copy(xp + j * rs, xp + (j + 1) * rs, after + (j - r1) * rs);
      }
    });
  const float* gtp = gt.data_ptr<float>();
  const float* rap = ra.has_value() ? ra->data_ptr<float>() : nullptr;
  const float* rbp = rb.has_value() ? rb->data_ptr<float>() : nullptr;
  float* op = out.data_ptr<float>();
  float* pp = parts.data_ptr<float>();
  at::parallel_for(0, chunks, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      int64_t r0, r1;
      bounds(i, &r0, &r1);
      if (r0 >= r1) continue;
      const float* before = sp + i * slot;
      const float* after = before + 2 * p * rs;
      float* gring = sp + i * slot + 4 * p * rs;
      // row j of x as it was (rows of other chunks from the copies when in place)
      auto x_row = [&](int64_t j) -> const float* {
        if (!inplace || (j >= r0 && j < r1)) return xp + j * rs;
        return j < r0 ? before + (j - (r0 - 2 * p)) * rs : after + (j - r1) * rs;
      };
      auto gy_row = [&](int64_t j) { return gring + ((j % ring + ring) % ring) * rs; };
      BnRow bn;
      bn.wu = wu.data_ptr<float>(), bn.bc = bias_c.data_ptr<float>();
      bn.a = a.data_ptr<float>(), bn.b = b.data_ptr<float>(), bn.d = d.data_ptr<float>();
      bn.W = W, bn.C = C, bn.k = (int)k;
      // gy's row j (none before the chunk in another image: no output row reads it)
      auto produce = [&](int64_t j) {
        if (j < 0 || j >= R || (j < r0 && j / H != r0 / H)) return;
        const int64_t h = j % H;
        for (int64_t dy = 0; dy < k; ++dy)
          bn.x[dy] = inside(h + dy - p, H) ? x_row(j + dy - p) : zeros;
        bn.gt = gtp + j * rs;
        bn.gc = gy_row(j);
        bn_row(bn);
      };
      Rows rows;
      rows.wf = wf.data_ptr<float>(), rows.W = W, rows.C = C, rows.k = (int)k;
      float* sums = pp + i * n * C;
      for (int64_t j = r0 - p; j < r0 + p; ++j) produce(j);
      for (int64_t r = r0; r < r1; ++r) {
        produce(r + p);  // reads x rows r .. r + 2p: row r is written below
        const int64_t h = r % H;
        for (int64_t dy = 0; dy < k; ++dy)
          rows.gy[dy] = inside(h + dy - p, H) ? gy_row(r + dy - p) : zeros;
        rows.x = x_row(r);
        rows.a = rap ? rap + r * rs : nullptr;
        rows.b = rbp ? rbp + r * rs : nullptr;
        rows.out = op + r * rs;
        grads_row(rows, sums);
      }
    }
  });
  return total_sums(parts, C, n);
}

TORCH_LIBRARY_FRAGMENT(frelu_mm, m) {
  m.def("dwconv_grads_into_(Tensor(a!) out, Tensor gy, Tensor weight, Tensor x, Tensor? a, Tensor? b) -> Tensor",
        &dwconv_grads_into_);
  m.def("dwconv_bn_grads_into_(Tensor(a!) out, Tensor x, Tensor weight, Tensor bias_c, Tensor gt, Tensor a, Tensor b, Tensor d, Tensor? ra, Tensor? rb) -> Tensor",
        &dwconv_bn_grads_into_);
}
