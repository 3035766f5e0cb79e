// 3x3 depthwise convolution (stride 1, zero padding 1) of a channels-last map, for inference.
//
//   out[b, y, x, c] = bias[c] + sum_{i, j in 0..2} w[c, i, j] * in[b, y + i - 1, x + j - 1, c]
//                     (+ in[b, y, x, c] with add_identity: the conditional position encoding
//                     x + dwconv(x) of SCA in one pass)
//
// float32, CPU, no autograd; mmsp/ops/cpu_kernels.py documents and checks the arguments, and
// the plain F.conv2d is the reference (tests/test_ops/test_cpu_kernels.py). oneDNN spends
// ~0.1 ms per call on set-up whatever the map size (measured: 99 us for a 1x1 map of 384
// channels, 121 us at 14x14), which is most of the cost of SPFormer's superpixel-side encoding.
// The channels of a pixel are contiguous, so each tap is a run of multiply-adds over them,
// 64 channels (eight AVX2 registers; then 16, then one at a time) with the accumulators kept
// in registers.
#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#ifdef __AVX2__
#include <immintrin.h>
#endif

namespace {

// One output pixel, channels [c0, c0 + 8 NV): `taps` input pointers (the in-map neighbours)
// with their weight rows of the (9, C) table; NV = 8 covers the 64 channels of SPFormer's
// pixel map (and 384 = 6 x 64 of its superpixels) with independent accumulators.
template <int NV>
inline void pixel_block(float* __restrict__ out, const float* const* in, const float* const* wt,
                        int taps, const float* __restrict__ bias, const float* __restrict__ self,
                        int64_t c0) {
#ifdef __AVX2__
  __m256 acc[NV];
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) {
    acc[v] = bias ? _mm256_loadu_ps(bias + c0 + 8 * v) : _mm256_setzero_ps();
    if (self) acc[v] = _mm256_add_ps(acc[v], _mm256_loadu_ps(self + c0 + 8 * v));
  }
  for (int t = 0; t < taps; ++t) {
    const float* wp = wt[t] + c0;
    const float* ip = in[t] + c0;
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v)
      acc[v] = _mm256_fmadd_ps(_mm256_loadu_ps(wp + 8 * v), _mm256_loadu_ps(ip + 8 * v), acc[v]);
  }
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) _mm256_storeu_ps(out + c0 + 8 * v, acc[v]);
#else
  float acc[8 * NV];
  for (int64_t j = 0; j < 8 * NV; ++j)
    acc[j] = (bias ? bias[c0 + j] : 0.f) + (self ? self[c0 + j] : 0.f);
  for (int t = 0; t < taps; ++t)
    for (int64_t j = 0; j < 8 * NV; ++j) acc[j] += wt[t][c0 + j] * in[t][c0 + j];
  for (int64_t j = 0; j < 8 * NV; ++j) out[c0 + j] = acc[j];
#endif
}

inline void pixel_tail(float* out, const float* const* in, const float* const* wt, int taps,
                       const float* bias, const float* self, int64_t c0, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    float acc = (bias ? bias[c0 + j] : 0.f) + (self ? self[c0 + j] : 0.f);
    for (int t = 0; t < taps; ++t) acc += wt[t][c0 + j] * in[t][c0 + j];
    out[c0 + j] = acc;
  }
}

}  // namespace

// x (B, H, W, C) contiguous; weight (C, 1, 3, 3); bias (C) or None -> (B, H, W, C).
at::Tensor depthwise_conv3x3(const at::Tensor& x, const at::Tensor& weight,
                             const c10::optional<at::Tensor>& bias, bool add_identity) {
  for (const at::Tensor* t : {&x, &weight}) {
    TORCH_CHECK(t->device().is_cpu() && t->scalar_type() == at::kFloat && t->is_contiguous(),
                "depthwise_conv3x3: contiguous float32 CPU tensors needed");
  }
  TORCH_CHECK(x.dim() == 4, "depthwise_conv3x3: x must be (B, H, W, C)");
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3);
  TORCH_CHECK(weight.dim() == 4 && weight.size(0) == C && weight.size(1) == 1 &&
                  weight.size(2) == 3 && weight.size(3) == 3,
              "depthwise_conv3x3: weight must be (C, 1, 3, 3) for C = x.size(3)");
  const float* BI = nullptr;
  if (bias.has_value()) {
    TORCH_CHECK(bias->device().is_cpu() && bias->scalar_type() == at::kFloat &&
                    bias->is_contiguous() && bias->numel() == C,
                "depthwise_conv3x3: bias must be a float32 (C) tensor");
    BI = bias->data_ptr<float>();
  }
  // (9, C) weights: the taps of every channel contiguous over the channels
  std::vector<float> wt(9 * C);
  const float* WS = weight.data_ptr<float>();
  for (int64_t c = 0; c < C; ++c)
    for (int k = 0; k < 9; ++k) wt[k * C + c] = WS[c * 9 + k];
  at::Tensor out = at::empty({B, H, W, C}, x.options());
  const float* X = x.data_ptr<float>();
  float* O = out.data_ptr<float>();
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(W * C, 1));
  at::parallel_for(0, B * H, grain, [&](int64_t begin, int64_t end) {
    const float* in[9];
    const float* wp[9];
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / H, y = row % H;
      for (int64_t px = 0; px < W; ++px) {
        int taps = 0;
        for (int i = 0; i < 3; ++i) {
          const int64_t yy = y + i - 1;
          if (yy < 0 || yy >= H) continue;
          for (int j = 0; j < 3; ++j) {
            const int64_t xx = px + j - 1;
            if (xx < 0 || xx >= W) continue;
            in[taps] = X + ((b * H + yy) * W + xx) * C;
            wp[taps++] = wt.data() + (i * 3 + j) * C;
          }
        }
        const float* self = add_identity ? X + ((b * H + y) * W + px) * C : nullptr;
        float* o = O + ((b * H + y) * W + px) * C;
        int64_t c0 = 0;
        for (; c0 + 64 <= C; c0 += 64) pixel_block<8>(o, in, wp, taps, BI, self, c0);
        for (; c0 + 16 <= C; c0 += 16) pixel_block<2>(o, in, wp, taps, BI, self, c0);
        if (c0 < C) pixel_tail(o, in, wp, taps, BI, self, c0, C - c0);
      }
    }
  });
  return out;
}
