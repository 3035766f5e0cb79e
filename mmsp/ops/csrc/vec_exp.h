// exp(x) for x <= 0, scalar and AVX2, shared by the fused CPU kernels of mmsp/ops/csrc.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#ifdef __AVX2__
#include <immintrin.h>
#endif

namespace mmsp_vec {

// exp(x) for x <= 0 (a logit minus a maximum): range reduction x = n ln2 + f, |f| <= ln2 / 2,
// a degree-6 polynomial for exp(f) (Cephes expf coefficients, ~1 ulp) and 2^n from the
// exponent bits. Exactly 0 below -87 (so exp(-inf) = 0), where the true value is < 1.7e-38:
// nothing next to the maximum's exp(0) = 1 in every sum. NaN stays NaN.
constexpr float kExpLow = -87.0f, kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
constexpr float kP0 = 1.9875691500e-4f, kP1 = 1.3981999507e-3f, kP2 = 8.3334519073e-3f,
                kP3 = 4.1665795894e-2f, kP4 = 1.6666665459e-1f, kP5 = 5.0000001201e-1f;

inline float exp_nonpositive(float x) {
  if (x < kExpLow) return 0.0f;
  const float n = std::nearbyint(x * kLog2e);
  const float f = (x - n * kLn2Hi) - n * kLn2Lo;
  float y = ((((kP0 * f + kP1) * f + kP2) * f + kP3) * f + kP4) * f + kP5;
  y = y * f * f + f + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return y * scale;
}

#ifdef __AVX2__
inline __m256 exp_nonpositive8(__m256 x) {
  const __m256 low = _mm256_set1_ps(kExpLow);
  const __m256 under = _mm256_cmp_ps(x, low, _CMP_LT_OQ);
  const __m256 xc = _mm256_max_ps(low, x);  // NaN (second operand) passes through
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(kLog2e)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 f = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Hi), xc);
  f = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Lo), f);
  __m256 y = _mm256_fmadd_ps(_mm256_set1_ps(kP0), f, _mm256_set1_ps(kP1));
  y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(kP2));
  y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(kP3));
  y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(kP4));
  y = _mm256_fmadd_ps(y, f, _mm256_set1_ps(kP5));
  y = _mm256_fmadd_ps(_mm256_mul_ps(y, f), f, _mm256_add_ps(f, _mm256_set1_ps(1.0f)));
  const __m256i bits = _mm256_slli_epi32(
      _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  y = _mm256_mul_ps(y, _mm256_castsi256_ps(bits));
  return _mm256_blendv_ps(y, _mm256_setzero_ps(), under);
}
#endif

}  // namespace mmsp_vec
