// LayerNorm over the last dimension, then the exact (erf) GELU, optionally averaged over the
// pixels of each superpixel cell, in one pass per row, for inference.
//
//   v[n, p, c]   = (y[n, p, c] - mean_np) / sqrt(var_np + eps) * weight[c] + bias[c]
//   out[n, c]    = mean over the valid p of gelu(v[n, p, c])      (cell_mean)
//   out[n, p, c] = gelu(v[n, p, c])                               (otherwise)
//
// mean / var are over the C channels of a row (biased variance, computed in two passes while
// the row is in L1). This is SPFormer's stem (LN2d + GELU after the patchify conv, on a
// channels-last map) and the tail of its superpixel initialisation (Z0 = AvgPool(GELU(LN2d(
// lift(X))))): PyTorch makes three passes over the Cs-wide map (norm, activation, mean), and
// writes two of its size. float32, CPU, no autograd; mmsp/ops/cpu_kernels.py documents and
// checks the arguments, F.layer_norm + F.gelu (+ the masked mean) is the reference
// (tests/test_ops/test_cpu_kernels.py).
//
// gelu(v) = v Phi(v) = v (1 - erfc(v / sqrt 2) / 2) for v >= 0, v erfc(|v| / sqrt 2) / 2 for
// v < 0, with erfc(x) = t (a1 + t (a2 + t (a3 + t (a4 + t a5)))) exp(-x^2), t = 1 / (1 + p x),
// x >= 0 (Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7). Taking erfc itself for v < 0 (no
// 1 + erf(v) cancellation) keeps the small negative outputs to that absolute error too.
#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#ifdef __AVX2__
#include <immintrin.h>
#endif

#include "vec_exp.h"

namespace {

constexpr float kErfP = 0.3275911f, kRsqrt2 = 0.70710678118654752f;
constexpr float kA1 = 0.254829592f, kA2 = -0.284496736f, kA3 = 1.421413741f,
                kA4 = -1.453152027f, kA5 = 1.061405429f;

inline float gelu1(float v) {
  const float x = std::fabs(v) * kRsqrt2;
  const float t = 1.0f / (1.0f + kErfP * x);
  const float poly = t * (kA1 + t * (kA2 + t * (kA3 + t * (kA4 + t * kA5))));
  const float half_erfc = 0.5f * poly * mmsp_vec::exp_nonpositive(-x * x);
  return v * (v < 0.0f ? half_erfc : 1.0f - half_erfc);
}

#ifdef __AVX2__
inline __m256 gelu8(__m256 v) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 x = _mm256_mul_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), v),
                                 _mm256_set1_ps(kRsqrt2));
  // t = 1 / d by the approximate reciprocal and one Newton step (~1e-7 relative; no divide)
  const __m256 d = _mm256_fmadd_ps(_mm256_set1_ps(kErfP), x, one);
  const __m256 r = _mm256_rcp_ps(d);
  const __m256 t = _mm256_mul_ps(r, _mm256_fnmadd_ps(d, r, _mm256_set1_ps(2.0f)));
  __m256 poly = _mm256_fmadd_ps(_mm256_set1_ps(kA5), t, _mm256_set1_ps(kA4));
  poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(kA3));
  poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(kA2));
  poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(kA1));
  poly = _mm256_mul_ps(poly, t);
  const __m256 e = mmsp_vec::exp_nonpositive8(_mm256_sub_ps(_mm256_setzero_ps(),
                                                            _mm256_mul_ps(x, x)));
  const __m256 half_erfc = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), poly), e);
  const __m256 negative = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ);
  const __m256 phi = _mm256_blendv_ps(_mm256_sub_ps(one, half_erfc), half_erfc, negative);
  return _mm256_mul_ps(v, phi);
}

inline float hsum8(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 s2 = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 0x1)));
}
#endif

// mean and 1 / sqrt(var + eps) of row[0, C)
inline void row_moments(const float* row, int64_t C, float eps, float* mean, float* rstd) {
  int64_t c = 0;
  float sum = 0.f;
#ifdef __AVX2__
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  for (; c + 16 <= C; c += 16) {
    acc0 = _mm256_add_ps(acc0, _mm256_loadu_ps(row + c));
    acc1 = _mm256_add_ps(acc1, _mm256_loadu_ps(row + c + 8));
  }
  for (; c + 8 <= C; c += 8) acc0 = _mm256_add_ps(acc0, _mm256_loadu_ps(row + c));
  sum = hsum8(_mm256_add_ps(acc0, acc1));
#endif
  for (; c < C; ++c) sum += row[c];
  const float mu = sum / static_cast<float>(C);
  float sq = 0.f;
  c = 0;
#ifdef __AVX2__
  const __m256 m8 = _mm256_set1_ps(mu);
  acc0 = _mm256_setzero_ps();
  acc1 = _mm256_setzero_ps();
  for (; c + 16 <= C; c += 16) {
    const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(row + c), m8);
    const __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(row + c + 8), m8);
    acc0 = _mm256_fmadd_ps(d0, d0, acc0);
    acc1 = _mm256_fmadd_ps(d1, d1, acc1);
  }
  for (; c + 8 <= C; c += 8) {
    const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(row + c), m8);
    acc0 = _mm256_fmadd_ps(d0, d0, acc0);
  }
  sq = hsum8(_mm256_add_ps(acc0, acc1));
#endif
  for (; c < C; ++c) sq += (row[c] - mu) * (row[c] - mu);
  *mean = mu;
  *rstd = 1.0f / std::sqrt(sq / static_cast<float>(C) + eps);
}

// out[c] (+)= gelu((row[c] - mean) * rstd * weight[c] + bias[c]) over C channels
inline void norm_gelu_row(float* out, const float* row, const float* weight, const float* bias,
                          float mean, float rstd, int64_t C, bool accumulate) {
  int64_t c = 0;
#ifdef __AVX2__
  const __m256 m8 = _mm256_set1_ps(mean), r8 = _mm256_set1_ps(rstd);
  for (; c + 8 <= C; c += 8) {
    const __m256 v = _mm256_fmadd_ps(
        _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(row + c), m8), r8),
        _mm256_loadu_ps(weight + c), _mm256_loadu_ps(bias + c));
    __m256 g = gelu8(v);
    if (accumulate) g = _mm256_add_ps(g, _mm256_loadu_ps(out + c));
    _mm256_storeu_ps(out + c, g);
  }
#endif
  for (; c < C; ++c) {
    const float g = gelu1((row[c] - mean) * rstd * weight[c] + bias[c]);
    out[c] = accumulate ? out[c] + g : g;
  }
}

}  // namespace

// y (N, P, C) contiguous; weight, bias (C); valid (R, P) uint8 with R dividing N (cell n uses
// row n % R), or None: every pixel valid. cell_mean: -> (N, C); otherwise -> (N, P, C), the
// rows normalised and activated one by one (valid must then be None).
at::Tensor layer_norm_gelu(const at::Tensor& y, const at::Tensor& weight, const at::Tensor& bias,
                           double eps, bool cell_mean, const c10::optional<at::Tensor>& valid) {
  for (const at::Tensor* t : {&y, &weight, &bias}) {
    TORCH_CHECK(t->device().is_cpu() && t->scalar_type() == at::kFloat && t->is_contiguous(),
                "layer_norm_gelu: contiguous float32 CPU tensors needed");
  }
  TORCH_CHECK(y.dim() == 3, "layer_norm_gelu: y must be (N, P, C)");
  const int64_t N = y.size(0), P = y.size(1), C = y.size(2);
  TORCH_CHECK(C >= 1 && weight.numel() == C && bias.numel() == C,
              "layer_norm_gelu: weight and bias must have C = y.size(2) elements");
  TORCH_CHECK(P >= 1 || !cell_mean, "layer_norm_gelu: cell_mean needs P >= 1");
  const uint8_t* V = nullptr;
  int64_t R = 1;
  if (valid.has_value()) {
    TORCH_CHECK(cell_mean, "layer_norm_gelu: valid needs cell_mean");
    TORCH_CHECK(valid->device().is_cpu() && valid->scalar_type() == at::kByte &&
                    valid->is_contiguous() && valid->dim() == 2 && valid->size(1) == P &&
                    valid->size(0) >= 1 && N % valid->size(0) == 0,
                "layer_norm_gelu: valid must be a contiguous uint8 (R, P) tensor, R dividing N");
    V = valid->data_ptr<uint8_t>();
    R = valid->size(0);
    for (int64_t r = 0; r < R; ++r) {
      TORCH_CHECK(std::any_of(V + r * P, V + (r + 1) * P, [](uint8_t b) { return b != 0; }),
                  "layer_norm_gelu: every cell needs a valid pixel");
    }
  }
  at::Tensor out = cell_mean ? at::empty({N, C}, y.options()) : at::empty({N, P, C}, y.options());
  const float* Y = y.data_ptr<float>();
  const float* WT = weight.data_ptr<float>();
  const float* BI = bias.data_ptr<float>();
  float* O = out.data_ptr<float>();
  const float e = static_cast<float>(eps);
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(P * C, 1));
  at::parallel_for(0, N, grain, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      const float* rows = Y + n * P * C;
      if (!cell_mean) {
        for (int64_t p = 0; p < P; ++p) {
          float mean, rstd;
          row_moments(rows + p * C, C, e, &mean, &rstd);
          norm_gelu_row(O + (n * P + p) * C, rows + p * C, WT, BI, mean, rstd, C, false);
        }
        continue;
      }
      float* o = O + n * C;
      const uint8_t* mask = V ? V + (n % R) * P : nullptr;
      int64_t count = 0;
      for (int64_t p = 0; p < P; ++p) {
        if (mask && !mask[p]) continue;
        float mean, rstd;
        row_moments(rows + p * C, C, e, &mean, &rstd);
        norm_gelu_row(o, rows + p * C, WT, BI, mean, rstd, C, count > 0);
        ++count;
      }
      const float inv = 1.0f / static_cast<float>(count);
      for (int64_t c = 0; c < C; ++c) o[c] *= inv;
    }
  });
  return out;
}
