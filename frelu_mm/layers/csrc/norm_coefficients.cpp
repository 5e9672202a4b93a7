// The per-channel arithmetic of the lean training path's BatchNorms (lean_frelu.py),
// one call per norm and step instead of some twenty small tensor ops (each one a
// dispatch of a few microseconds, run between the kernels with cold caches):
//   host_norm_affine      the host norm as c * scale + shift (norm_affine's inputs),
//   folded_norm           FReLU's own norm folded into its conv: (u * scale + shift,
//                         u = dwconv(x) + bias_c),
//   folded_norm_backward  the folded norm's backward coefficients from the split's sums,
// each from the batch moments (updating the running statistics once, as
// native_batch_norm does) or from given statistics (a frozen norm). float64 inside;
// what the kernels read comes out float32.
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>
#include <cmath>
#include <tuple>

namespace {

at::Tensor vec_f32(int64_t C) { return at::empty({C}, at::TensorOptions().dtype(at::kFloat)); }

void check_channels(const at::Tensor& v, int64_t C, const char* what) {
  TORCH_CHECK(v.dim() == 1 && v.numel() == C && v.is_cpu() && v.is_contiguous() &&
                  (v.scalar_type() == at::kFloat || v.scalar_type() == at::kDouble),
              what, ": a contiguous float32/float64 CPU vector of C values expected");
}

// v[i] as a double, v float32 or float64
inline double get(const at::Tensor& v, int64_t i) {
  return v.scalar_type() == at::kFloat ? v.data_ptr<float>()[i] : v.data_ptr<double>()[i];
}

inline void set(at::Tensor& v, int64_t i, double value) {
  if (v.scalar_type() == at::kFloat)
    v.data_ptr<float>()[i] = static_cast<float>(value);
  else
    v.data_ptr<double>()[i] = value;
}

// Mean and 1 / sqrt(var + eps) per channel, float64 (2, C). With `moments` (K, sum of
// c - K, sum of (c - K)^2 over m values; channel_moments / dwconv_moments): the batch
// statistics, and where `update`, running_mean and running_var move towards them by
// `factor` (the variance unbiased), in place. Without: mean and var are the
// statistics (a frozen norm's running ones).
at::Tensor statistics(const c10::optional<at::Tensor>& moments, int64_t m,
                      const c10::optional<at::Tensor>& mean,
                      const c10::optional<at::Tensor>& var, bool update, double factor,
                      double eps, int64_t C) {
  auto out = at::empty({2, C}, at::TensorOptions().dtype(at::kDouble));
  double* mu = out.data_ptr<double>();
  double* invstd = mu + C;
  const bool batch = moments.has_value() && moments->defined();
  if (batch) {
    const at::Tensor& mo = *moments;
    TORCH_CHECK(mo.dim() == 2 && mo.size(0) == 3 && mo.size(1) == C &&
                    mo.scalar_type() == at::kDouble && mo.is_contiguous(),
                "moments: a contiguous float64 (3, C) tensor expected");
    TORCH_CHECK(m > 0, "moments over no values");
    const double* k = mo.data_ptr<double>();
    const bool run = update && mean.has_value() && mean->defined();
    at::Tensor rm, rv;
    if (run) {
      rm = *mean;
      rv = *var;
      check_channels(rm, C, "running_mean");
      check_channels(rv, C, "running_var");
    }
    const double unbias = static_cast<double>(m) / static_cast<double>(std::max<int64_t>(m - 1, 1));
    for (int64_t c = 0; c < C; ++c) {
      const double s1 = k[C + c] / m, s2 = k[2 * C + c] / m;
      const double v = std::max(s2 - s1 * s1, 0.0);
      mu[c] = k[c] + s1;
      invstd[c] = 1.0 / std::sqrt(v + eps);
      if (run) {
        set(rm, c, get(rm, c) * (1.0 - factor) + mu[c] * factor);
        set(rv, c, get(rv, c) * (1.0 - factor) + v * unbias * factor);
      }
    }
  } else {
    TORCH_CHECK(mean.has_value() && mean->defined() && var.has_value() && var->defined(),
                "statistics: moments or (mean, var) expected");
    check_channels(*mean, C, "mean");
    check_channels(*var, C, "var");
    for (int64_t c = 0; c < C; ++c) {
      mu[c] = get(*mean, c);
      invstd[c] = 1.0 / std::sqrt(get(*var, c) + eps);
    }
  }
  return out;
}

}  // namespace

// The host norm as norm(c) = c * scale + shift: float32 (scale, shift, mean, invstd),
// the last two what native_batch_norm_backward takes as its saved statistics.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> host_norm_affine(
    const c10::optional<at::Tensor>& moments, int64_t m, const c10::optional<at::Tensor>& mean,
    const c10::optional<at::Tensor>& var, bool update, double factor, double eps,
    const at::Tensor& gamma, const at::Tensor& beta) {
  const int64_t C = gamma.numel();
  check_channels(gamma, C, "gamma");
  check_channels(beta, C, "beta");
  auto st = statistics(moments, m, mean, var, update, factor, eps, C);
  const double* mu = st.data_ptr<double>();
  const double* invstd = mu + C;
  auto scale = vec_f32(C), shift = vec_f32(C), save_mean = vec_f32(C), save_invstd = vec_f32(C);
  float *sp = scale.data_ptr<float>(), *hp = shift.data_ptr<float>();
  float *mp = save_mean.data_ptr<float>(), *ip = save_invstd.data_ptr<float>();
  for (int64_t c = 0; c < C; ++c) {
    const double s = get(gamma, c) * invstd[c];
    sp[c] = static_cast<float>(s);
    hp[c] = static_cast<float>(get(beta, c) - mu[c] * s);
    mp[c] = static_cast<float>(mu[c]);
    ip[c] = static_cast<float>(invstd[c]);
  }
  return {scale, shift, save_mean, save_invstd};
}

// FReLU's own norm folded into its conv: norm(conv(x) + bias) = (conv(x) + bias_c) *
// scale + shift, bias_c = bias - mean. Returns float32 (bias_c, scale, shift) and the
// float64 (mean, invstd) (2, C) that folded_norm_backward takes.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> folded_norm(
    const c10::optional<at::Tensor>& moments, int64_t m, const c10::optional<at::Tensor>& mean,
    const c10::optional<at::Tensor>& var, bool update, double factor, double eps,
    const at::Tensor& gamma, const at::Tensor& beta, const c10::optional<at::Tensor>& bias) {
  const int64_t C = gamma.numel();
  check_channels(gamma, C, "gamma");
  check_channels(beta, C, "beta");
  const bool has_bias = bias.has_value() && bias->defined();
  if (has_bias) check_channels(*bias, C, "bias");
  auto st = statistics(moments, m, mean, var, update, factor, eps, C);
  const double* mu = st.data_ptr<double>();
  const double* invstd = mu + C;
  auto bias_c = vec_f32(C), scale = vec_f32(C), shift = vec_f32(C);
  float *bp = bias_c.data_ptr<float>(), *sp = scale.data_ptr<float>();
  float* hp = shift.data_ptr<float>();
  for (int64_t c = 0; c < C; ++c) {
    bp[c] = static_cast<float>((has_bias ? get(*bias, c) : 0.0) - mu[c]);
    sp[c] = static_cast<float>(get(gamma, c) * invstd[c]);
    hp[c] = static_cast<float>(get(beta, c));
  }
  return {bias_c, scale, shift, st};
}

// The folded norm's backward on batch statistics, from the split's float64 (2, C)
// sums of g_t and g_t * u (u = conv(x) + bias_c): float32 (a, b, d, g_gamma, g_beta),
// the gradient of the norm's input being a * g_t + b * u + d. `stats`: folded_norm's.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> folded_norm_backward(
    const at::Tensor& sums, const at::Tensor& stats, const at::Tensor& gamma,
    const c10::optional<at::Tensor>& bias, const at::Tensor& bias_c, int64_t m) {
  const int64_t C = gamma.numel();
  check_channels(gamma, C, "gamma");
  check_channels(bias_c, C, "bias_c");
  const bool has_bias = bias.has_value() && bias->defined();
  if (has_bias) check_channels(*bias, C, "bias");
  TORCH_CHECK(sums.dim() == 2 && sums.size(0) == 2 && sums.size(1) == C &&
                  sums.scalar_type() == at::kDouble && sums.is_contiguous(),
              "sums: a contiguous float64 (2, C) tensor expected");
  TORCH_CHECK(stats.dim() == 2 && stats.size(0) == 2 && stats.size(1) == C &&
                  stats.scalar_type() == at::kDouble && stats.is_contiguous(),
              "stats: folded_norm's float64 (2, C) statistics expected");
  TORCH_CHECK(m > 0, "folded_norm_backward: no values");
  const double* s = sums.data_ptr<double>();
  const double* mu = stats.data_ptr<double>();
  const double* invstd = mu + C;
  auto a = vec_f32(C), b = vec_f32(C), d = vec_f32(C), gg = vec_f32(C), gb = vec_f32(C);
  float *ap = a.data_ptr<float>(), *bp = b.data_ptr<float>(), *dp = d.data_ptr<float>();
  float *ggp = gg.data_ptr<float>(), *gbp = gb.data_ptr<float>();
  for (int64_t c = 0; c < C; ++c) {
    // u's mean: the batch mean less what u is conv(x) + bias less (bias - bias_c)
    const double center = (has_bias ? get(*bias, c) : 0.0) - get(bias_c, c);
    const double off = mu[c] - center;
    const double g_beta = s[c];
    const double g_gamma = invstd[c] * (s[C + c] - off * g_beta);
    const double ac = get(gamma, c) * invstd[c];
    const double bc = -ac * invstd[c] * g_gamma / m;
    ap[c] = static_cast<float>(ac);
    bp[c] = static_cast<float>(bc);
    dp[c] = static_cast<float>(-ac * g_beta / m - bc * off);
    ggp[c] = static_cast<float>(g_gamma);
    gbp[c] = static_cast<float>(g_beta);
  }
  return {a, b, d, gg, gb};
}

TORCH_LIBRARY_FRAGMENT(frelu_mm, m) {
  m.def("host_norm_affine(Tensor? moments, int m, Tensor(a!)? mean, Tensor(b!)? var, bool update, float factor, float eps, Tensor gamma, Tensor beta) -> (Tensor, Tensor, Tensor, Tensor)",
        &host_norm_affine);
  m.def("folded_norm(Tensor? moments, int m, Tensor(a!)? mean, Tensor(b!)? var, bool update, float factor, float eps, Tensor gamma, Tensor beta, Tensor? bias) -> (Tensor, Tensor, Tensor, Tensor)",
        &folded_norm);
  m.def("folded_norm_backward(Tensor sums, Tensor stats, Tensor gamma, Tensor? bias, Tensor bias_c, int m) -> (Tensor, Tensor, Tensor, Tensor, Tensor)",
        &folded_norm_backward);
}
