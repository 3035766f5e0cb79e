// The element-wise part of one absorbed-key Superpixel Cross Attention layer, fused per cell.
//
// Inference only (no autograd), float32, CPU. Python keeps the one large matrix product (G x
// for the LN statistics) in MKL; this pass does, per superpixel cell and while its pixels are
// in cache, everything after it (a further pass, sca_window_sum, normalises the superpixel
// update over each window):
//
//   LN scale       r_p = 1 / sqrt(x_p^T G x_p + eps), from stat = G x_p (G = Wc^T Wc / O)
//   products       raw(p, n, k) = <keys(c + n, k), x_p>: the cell's 16 (s*s) pixels against
//                  the 9 K keys of its candidates, a register-blocked micro-kernel (three
//                  batched matmuls of 16 x 64 by 64 x 12 took 0.53 ms for the 7.2 M MACs of an
//                  SPFormer-S layer at batch 1; the layer went 3.35 -> 2.88 ms with them here,
//                  docs/sca-speed.md round 7)
//   logit(p, n, k) = r_p * raw(p, n, k) + offset(c + n, k)      (-inf outside the grid)
//   pixel update   x'_p = x_p + gamma * sum_n softmax_n(logit(p, ., m))_n V(c + n, m)
//                  for the pixel-update heads m < M (when `values` is given)
//   superpixel update, per cell c, candidate n and head m (heads K - M .. K - 1):
//                  mx(c, n, m)    = max_p logit(p, n, m)
//                  sum(c, n, m) = sum_p exp(logit(p, n, m) - mx)
//                  sums(c, n, m) = sum_p exp(logit(p, n, m) - mx) * r_p * x_p
//                  (then sca_window_sum: the normalisation over each window)
//   association    the superpixel-update logits in the exported (B, M, 9, H, W) layout
//
// mmsp/ops/cpu_kernels.py documents the arguments and checks them; the Python reference is
// mmsp.ops.association (block_logits_absorbed, candidate_softmax, block_unfold,
// block_superpixel_update, blocks_to_association).
#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#ifdef __AVX2__
#include <immintrin.h>
#endif

#include "vec_exp.h"

namespace {

using mmsp_vec::exp_nonpositive;
#ifdef __AVX2__
using mmsp_vec::exp_nonpositive8;
#endif

constexpr int kNeighbors = 9;

// dst[i] = exp_nonpositive(src[i] - shift), i < count (dst may be src)
inline void exp_shifted(float* dst, const float* src, float shift, int64_t count) {
  int64_t i = 0;
#ifdef __AVX2__
  const __m256 s = _mm256_set1_ps(shift);
  for (; i + 8 <= count; i += 8) {
    _mm256_storeu_ps(dst + i, exp_nonpositive8(_mm256_sub_ps(_mm256_loadu_ps(src + i), s)));
  }
#endif
  for (; i < count; ++i) dst[i] = exp_nonpositive(src[i] - shift);
}

// out[0, d) = sum_i w[i] * rows[i][0, d) over `count` rows (rows[i] == nullptr: skipped).
inline void weighted_rows_any(float* out, const float* const* rows, const float* w,
                              int64_t count, int64_t d) {
  std::fill(out, out + d, 0.f);
  for (int64_t r = 0; r < count; ++r) {
    if (rows[r] == nullptr) continue;
    const float wr = w[r];
    const float* row = rows[r];
#pragma omp simd
    for (int64_t i = 0; i < d; ++i) out[i] += wr * row[i];
  }
}

// The same for the widths the models use (multiples of 8): the accumulators stay in vector
// registers.
template <int D>
inline void weighted_rows_fixed(float* out, const float* const* rows, const float* w,
                                int64_t count) {
#ifdef __AVX2__
  constexpr int NV = D / 8;
  __m256 acc[NV];
  for (int v = 0; v < NV; ++v) acc[v] = _mm256_setzero_ps();
  for (int64_t r = 0; r < count; ++r) {
    if (rows[r] == nullptr) continue;
    const __m256 wr = _mm256_set1_ps(w[r]);
    const float* row = rows[r];
    for (int v = 0; v < NV; ++v) {
      acc[v] = _mm256_fmadd_ps(wr, _mm256_loadu_ps(row + 8 * v), acc[v]);
    }
  }
  for (int v = 0; v < NV; ++v) _mm256_storeu_ps(out + 8 * v, acc[v]);
#else
  weighted_rows_any(out, rows, w, count, D);
#endif
}

inline void weighted_rows(float* out, const float* const* rows, const float* w, int64_t count,
                          int64_t d) {
  switch (d) {
    case 16: return weighted_rows_fixed<16>(out, rows, w, count);
    case 24: return weighted_rows_fixed<24>(out, rows, w, count);
    case 32: return weighted_rows_fixed<32>(out, rows, w, count);
    case 48: return weighted_rows_fixed<48>(out, rows, w, count);
    case 64: return weighted_rows_fixed<64>(out, rows, w, count);
    case 96: return weighted_rows_fixed<96>(out, rows, w, count);
    default: return weighted_rows_any(out, rows, w, count, d);
  }
}

void check_float(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == at::kFloat && t.is_contiguous(),
              "sca_cell_pass: ", name, " must be a contiguous float32 CPU tensor");
}

// out[r][p0 + i] = <key[r], x_{p0 + i}> for R key rows and the 8 NPV pixels from p0 of one
// cell, from the cell's transposed pixels xt (CI, PP): per input channel one broadcast of each
// key entry against the pixel vectors, R x NPV accumulators kept in registers.
template <int NPV, int R>
inline void key_block(float* const* out, const float* const* key, const float* xt, int64_t CI,
                      int64_t PP, int64_t p0) {
#ifdef __AVX2__
  __m256 acc[R][NPV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NPV; ++v) acc[r][v] = _mm256_setzero_ps();
  for (int64_t c = 0; c < CI; ++c) {
    __m256 xv[NPV];
    for (int v = 0; v < NPV; ++v) xv[v] = _mm256_loadu_ps(xt + c * PP + p0 + 8 * v);
    for (int r = 0; r < R; ++r) {
      const __m256 kb = _mm256_broadcast_ss(key[r] + c);
      for (int v = 0; v < NPV; ++v) acc[r][v] = _mm256_fmadd_ps(kb, xv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NPV; ++v) _mm256_storeu_ps(out[r] + p0 + 8 * v, acc[r][v]);
#else
  for (int r = 0; r < R; ++r) {
    float* o = out[r] + p0;
    std::fill(o, o + 8 * NPV, 0.f);
    for (int64_t c = 0; c < CI; ++c) {
      const float kc = key[r][c];
      for (int64_t p = 0; p < 8 * NPV; ++p) o[p] += kc * xt[c * PP + p0 + p];
    }
  }
#endif
}

template <int NPV, int R>
inline void key_rows(float* const* out, const float* const* key, int64_t rows, const float* xt,
                     int64_t CI, int64_t PP, int64_t p0) {
  int64_t r = 0;
  for (; r + R <= rows; r += R) key_block<NPV, R>(out + r, key + r, xt, CI, PP, p0);
  for (; r < rows; ++r) key_block<NPV, 1>(out + r, key + r, xt, CI, PP, p0);
}

// out[r][0, PP) = <key[r], x_p> for `rows` key rows (CI values each) and the pixels of one cell
// (xt: (CI, PP), the pixels transposed, PP a multiple of 8, zero beyond P): the absorbed-key
// logit products, in blocks of 16 pixels by 6 key rows (12 accumulators, 2 pixel vectors and a
// broadcast: 15 of the 16 AVX2 registers), a last block of 8 pixels by 8 rows.
inline void key_products(float* const* out, const float* const* key, int64_t rows,
                         const float* xt, int64_t CI, int64_t PP) {
  int64_t p0 = 0;
  for (; p0 + 16 <= PP; p0 += 16) key_rows<2, 6>(out, key, rows, xt, CI, PP, p0);
  if (p0 < PP) key_rows<1, 8>(out, key, rows, xt, CI, PP, p0);
}

// The cells of candidates n = 3 (dy + 1) + dx + 1 of cell (b, y, x) on an h x w grid:
// cell (y + sign dy, x + sign dx), or -1 outside the grid. sign = 1: the 9 candidates of a
// cell; sign = -1: the 9 window cells whose candidate n is superpixel (y, x).
inline void candidate_cells(int64_t b, int64_t y, int64_t x, int64_t h, int64_t w, int sign,
                            int64_t* cell) {
  for (int n = 0; n < kNeighbors; ++n) {
    const int64_t yy = y + sign * (n / 3 - 1), xx = x + sign * (n % 3 - 1);
    cell[n] = yy >= 0 && yy < h && xx >= 0 && xx < w ? (b * h + yy) * w + xx : -1;
  }
}

// out = sum_n softmax_n * V(cell n, head m): e the 9 exponentials of one pixel's shifted
// logits (0 outside the grid), values (cells, M, d).
inline void combine_candidates(float* out, const float* e, const int64_t* cell,
                               const float* values, int64_t M, int64_t m, int64_t d) {
  float sum = 0.f;
  for (int n = 0; n < kNeighbors; ++n) sum += e[n];
  const float inv = 1.f / sum;
  float wts[kNeighbors];
  const float* src[kNeighbors];
  for (int n = 0; n < kNeighbors; ++n) {
    wts[n] = e[n] * inv;
    src[n] = cell[n] >= 0 ? values + (cell[n] * M + m) * d : nullptr;
  }
  weighted_rows(out, src, wts, kNeighbors, d);
}

// out = x + gamma * u over C channels (out may be u)
inline void residual(float* out, const float* x, const float* gamma, const float* u,
                     int64_t C) {
#pragma omp simd
  for (int64_t c = 0; c < C; ++c) out[c] = x[c] + gamma[c] * u[c];
}

}  // namespace

std::vector<at::Tensor> sca_cell_pass(const at::Tensor& keys, const at::Tensor& offsets,
                                      const at::Tensor& stat, const at::Tensor& pixels,
                                      double eps, int64_t height, int64_t width,
                                      int64_t stride, int64_t num_heads,
                                      const c10::optional<at::Tensor>& values,
                                      const c10::optional<at::Tensor>& x,
                                      const c10::optional<at::Tensor>& gamma,
                                      bool export_association) {
  check_float(offsets, "offsets");
  TORCH_CHECK(offsets.dim() == 4, "sca_cell_pass: offsets must be (B, h, w, K)");
  const int64_t B = offsets.size(0), h = offsets.size(1), w = offsets.size(2);
  const int64_t K = offsets.size(3), M = num_heads, P = stride * stride, cells = B * h * w;
  TORCH_CHECK(stride >= 1 && M >= 1 && M <= K, "sca_cell_pass: bad stride or heads");
  TORCH_CHECK(h == (height + stride - 1) / stride && w == (width + stride - 1) / stride,
              "sca_cell_pass: the grid does not match the map size");
  check_float(stat, "stat");
  check_float(pixels, "pixels");
  TORCH_CHECK(pixels.dim() == 3 && pixels.size(0) == cells && pixels.size(1) == P &&
                  stat.sizes() == pixels.sizes(),
              "sca_cell_pass: pixels and stat must be (B*h*w, s*s, C_in)");
  const int64_t CI = pixels.size(2);
  check_float(keys, "keys");
  TORCH_CHECK(keys.dim() == 5 && keys.size(0) == B && keys.size(1) == h && keys.size(2) == w &&
                  keys.size(3) == K && keys.size(4) == CI,
              "sca_cell_pass: keys must be (B, h, w, K, C_in)");
  const bool update = values.has_value();
  TORCH_CHECK(update == x.has_value() && update == gamma.has_value(),
              "sca_cell_pass: values, x and gamma go together");
  int64_t C = 0, d = 0;
  if (update) {
    check_float(*values, "values");
    check_float(*x, "x");
    check_float(*gamma, "gamma");
    TORCH_CHECK(2 * M <= K, "sca_cell_pass: the pixel update needs 2M pseudo-heads");
    C = x->size(3);
    d = C / M;
    TORCH_CHECK(x->dim() == 4 && x->size(0) == B && x->size(1) == height &&
                    x->size(2) == width && C % M == 0 && gamma->numel() == C,
                "sca_cell_pass: x must be (B, H, W, C) with C divisible by M, gamma (C)");
    TORCH_CHECK(values->dim() == 5 && values->size(0) == B && values->size(1) == h &&
                    values->size(2) == w && values->size(3) == M && values->size(4) == d,
                "sca_cell_pass: values must be (B, h, w, M, C / M)");
  }
  const auto opts = offsets.options();
  at::Tensor x_out = update ? at::empty_like(*x) : at::Tensor();
  at::Tensor sums = at::empty({cells, kNeighbors * M, CI}, opts);
  at::Tensor cell_max = at::empty({cells, kNeighbors, M}, opts);
  at::Tensor cell_sum = at::empty({cells, kNeighbors, M}, opts);
  at::Tensor assoc = export_association
                         ? at::empty({B, M, kNeighbors, height, width}, opts)
                         : at::Tensor();

  const float* KY = keys.data_ptr<float>();
  const float* OF = offsets.data_ptr<float>();
  const float* ST = stat.data_ptr<float>();
  const float* PX = pixels.data_ptr<float>();
  const float epsf = static_cast<float>(eps);
  const float* V = update ? values->data_ptr<float>() : nullptr;
  const float* XI = update ? x->data_ptr<float>() : nullptr;
  const float* G = update ? gamma->data_ptr<float>() : nullptr;
  float* XO = update ? x_out.data_ptr<float>() : nullptr;
  float* SU = sums.data_ptr<float>();
  float* MX = cell_max.data_ptr<float>();
  float* SM = cell_sum.data_ptr<float>();
  float* AS = export_association ? assoc.data_ptr<float>() : nullptr;
  const float ninf = -std::numeric_limits<float>::infinity();
  const int64_t NM = kNeighbors * M, HW = height * width;

  at::parallel_for(0, cells, 8, [&](int64_t begin, int64_t end) {
    // per cell: superpixel-update logits (P, 9, M) -> transposed (9 M, P); pixel-update
    // logits (P, M, 9) and their exps; one pixel's update (C)
    std::vector<float> sp(NM * P), pu(update ? P * M * kNeighbors : 0),
        ex(std::max<int64_t>(NM * P, P * M * kNeighbors)), dx(C);
    std::vector<char> real(P);
    std::vector<float> rc(P);
    std::vector<const float*> prow(P);
    // the cell's pixels transposed (CI, PP) and their products with the candidates' keys
    // (9 K, PP), row n K + k for candidate n and pseudo-head k (rows of candidates outside
    // the grid are not computed nor read)
    const int64_t PP = (P + 7) / 8 * 8;
    std::vector<float> xt(CI * PP, 0.f), raw(kNeighbors * K * PP);
    std::vector<float*> raw_rows(kNeighbors * K);
    std::vector<const float*> key_ptrs(kNeighbors * K);
    for (int64_t cell = begin; cell < end; ++cell) {
      const int64_t b = cell / (h * w), cy = (cell / w) % h, cx = cell % w;
      int64_t nb[kNeighbors];
      candidate_cells(b, cy, cx, h, w, 1, nb);
      // 0. the LN scale r_p = 1 / sqrt(x_p^T G x_p + eps) of every pixel (stat = G x)
      for (int64_t p = 0; p < P; ++p) {
        const float* gx = ST + (cell * P + p) * CI;
        const float* xp = PX + (cell * P + p) * CI;
        float var = 0.f;
#pragma omp simd reduction(+ : var)
        for (int64_t c = 0; c < CI; ++c) var += gx[c] * xp[c];
        rc[p] = 1.f / std::sqrt(std::max(var, 0.f) + epsf);
      }
      // 1. the absorbed-key products <keys of candidate n, x_p>, then the logits of every
      //    pixel (padding slots: -inf for the superpixel update)
      for (int64_t p = 0; p < P; ++p) {
        const float* xp = PX + (cell * P + p) * CI;
        for (int64_t c = 0; c < CI; ++c) xt[c * PP + p] = xp[c];
      }
      int64_t nrows = 0;
      for (int n = 0; n < kNeighbors; ++n) {
        if (nb[n] < 0) continue;
        for (int64_t k = 0; k < K; ++k) {
          raw_rows[nrows] = raw.data() + (n * K + k) * PP;
          key_ptrs[nrows++] = KY + (nb[n] * K + k) * CI;
        }
      }
      key_products(raw_rows.data(), key_ptrs.data(), nrows, xt.data(), CI, PP);
      for (int64_t p = 0; p < P; ++p) {
        const int64_t py = cy * stride + p / stride, px = cx * stride + p % stride;
        real[p] = py < height && px < width;
        const float rp = rc[p];
        for (int n = 0; n < kNeighbors; ++n) {
          const bool ok = nb[n] >= 0;
          const float* rn = raw.data() + n * K * PP + p;  // row n K + k at rn[k PP]
          const float* off = OF + (ok ? nb[n] : 0) * K;
          for (int64_t m = 0; m < M; ++m) {
            const int64_t k = K - M + m;
            const float v = ok ? rp * rn[k * PP] + off[k] : ninf;
            sp[(n * M + m) * P + p] = real[p] ? v : ninf;
            if (export_association && real[p]) {
              AS[((b * M + m) * kNeighbors + n) * HW + py * width + px] = v;
            }
            if (update) pu[(p * M + m) * kNeighbors + n] = ok ? rp * rn[m * PP] + off[m] : ninf;
          }
        }
      }
      // 2. superpixel update: per (candidate, head) the max over the cell's pixels, exps,
      //    their sum and the sum of the pixels weighted by exp * r_p
      for (int64_t p = 0; p < P; ++p) prow[p] = PX + (cell * P + p) * CI;
      for (int64_t j = 0; j < NM; ++j) {
        const float* lj = sp.data() + j * P;
        float mx = ninf;
        for (int64_t p = 0; p < P; ++p) mx = std::max(mx, lj[p]);
        float* sj = SU + (cell * NM + j) * CI;
        const int64_t n = j / M, m = j % M;
        MX[(cell * kNeighbors + n) * M + m] = mx;
        if (mx == ninf) {  // candidate outside the grid: no pixel of this cell sees it
          std::fill(sj, sj + CI, 0.f);
          SM[(cell * kNeighbors + n) * M + m] = 0.f;
          continue;
        }
        float* ej = ex.data();
        exp_shifted(ej, lj, mx, P);
        float sum = 0.f;
        for (int64_t p = 0; p < P; ++p) sum += ej[p];
        SM[(cell * kNeighbors + n) * M + m] = sum;
#pragma omp simd
        for (int64_t p = 0; p < P; ++p) ej[p] *= rc[p];
        weighted_rows(sj, prow.data(), ej, P, CI);
      }
      if (!update) continue;
      // 3. pixel update: softmax over the 9 candidates, their values, the residual
      const int64_t PM = P * M;
      for (int64_t q = 0; q < PM; ++q) {  // max over the candidates, subtracted
        float* lq = pu.data() + q * kNeighbors;
        float mx = lq[4];  // the own cell is always inside the grid
        for (int n = 0; n < kNeighbors; ++n) mx = std::max(mx, lq[n]);
        for (int n = 0; n < kNeighbors; ++n) lq[n] -= mx;
      }
      float* eu = ex.data();
      exp_shifted(eu, pu.data(), 0.f, PM * kNeighbors);  // exp(-inf) = 0 outside the grid
      for (int64_t p = 0; p < P; ++p) {
        if (!real[p]) continue;
        for (int64_t m = 0; m < M; ++m) {
          combine_candidates(dx.data() + m * d, eu + (p * M + m) * kNeighbors, nb, V, M, m, d);
        }
        const int64_t py = cy * stride + p / stride, px = cx * stride + p % stride;
        const int64_t pixel = ((b * height + py) * width + px) * C;
        residual(XO + pixel, XI + pixel, G, dx.data(), C);
      }
    }
  });
  return {x_out, sums, cell_max, cell_sum, assoc};
}

// The superpixel update from the per-cell sums of sca_cell_pass: superpixel j = c + offset(n)
// receives sums(c, n, m) * exp(mx(c, n, m) - W(j, m)), W the logsumexp of mx + log(sum) over
// the 9 cells of its window (the window softmax's normaliser).
//   sums (B*h*w, 9M, C) = sum_p exp(logit - mx) r_p x_p, cell_max / cell_sum (B*h*w, 9, M)
//   -> (B, h, w, M, C)
at::Tensor sca_window_sum(const at::Tensor& sums, const at::Tensor& cell_max,
                          const at::Tensor& cell_sum, int64_t h, int64_t w) {
  check_float(sums, "sums");
  check_float(cell_max, "cell_max");
  check_float(cell_sum, "cell_sum");
  TORCH_CHECK(cell_max.dim() == 3 && cell_max.size(1) == kNeighbors && h >= 1 && w >= 1 &&
                  cell_max.size(0) % (h * w) == 0 && cell_sum.sizes() == cell_max.sizes(),
              "sca_window_sum: cell_max and cell_sum must be (B*h*w, 9, M)");
  const int64_t cells = cell_max.size(0), M = cell_max.size(2), B = cells / (h * w);
  TORCH_CHECK(sums.dim() == 3 && sums.size(0) == cells && sums.size(1) == kNeighbors * M,
              "sca_window_sum: sums must be (B*h*w, 9M, C)");
  const int64_t C = sums.size(2);
  at::Tensor out = at::empty({B, h, w, M, C}, sums.options());
  const float* S = sums.data_ptr<float>();
  const float* MX = cell_max.data_ptr<float>();
  const float* SM = cell_sum.data_ptr<float>();
  float* O = out.data_ptr<float>();
  const float ninf = -std::numeric_limits<float>::infinity();
  at::parallel_for(0, cells, 16, [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j) {
      int64_t src[kNeighbors];  // the cell whose candidate n is superpixel j, or -1
      candidate_cells(j / (h * w), (j / w) % h, j % w, h, w, -1, src);
      for (int64_t m = 0; m < M; ++m) {
        float lse[kNeighbors], top = ninf;
        for (int n = 0; n < kNeighbors; ++n) {
          const int64_t e = src[n] * kNeighbors * M + n * M + m;
          lse[n] = src[n] >= 0 && SM[e] > 0.f ? MX[e] + std::log(SM[e]) : ninf;
          top = std::max(top, lse[n]);
        }
        float total = 0.f;
        for (int n = 0; n < kNeighbors; ++n) total += lse[n] == ninf ? 0.f : std::exp(lse[n] - top);
        const float norm = top + std::log(total);
        float factor[kNeighbors];
        const float* rows[kNeighbors];
        for (int n = 0; n < kNeighbors; ++n) {
          const int64_t e = src[n] * kNeighbors * M + n * M + m;
          factor[n] = lse[n] == ninf ? 0.f : std::exp(MX[e] - norm);
          rows[n] = lse[n] == ninf ? nullptr : S + e * C;
        }
        weighted_rows(O + (j * M + m) * C, rows, factor, kNeighbors, C);
      }
    }
  });
  return out;
}

// Unfolding with logits: out_p = [x_p + gamma *] sum_n softmax_n(A(m, n, p)) V(c_n(p), m) per
// head m (channel group m of V), A the association logits (B, M, 9, H, W) (-inf outside the
// grid), V (B, h, w, M, d) the superpixel values, x (B, H, W, M d) -> out (B, H, W, M d).
at::Tensor unfold_logits(const at::Tensor& assoc, const at::Tensor& values, int64_t stride,
                         const c10::optional<at::Tensor>& x,
                         const c10::optional<at::Tensor>& gamma) {
  check_float(assoc, "association");
  check_float(values, "values");
  TORCH_CHECK(assoc.dim() == 5 && assoc.size(2) == kNeighbors && values.dim() == 5,
              "unfold_logits: association (B, M, 9, H, W) and values (B, h, w, M, d) needed");
  const int64_t B = assoc.size(0), M = assoc.size(1), H = assoc.size(3), W = assoc.size(4);
  const int64_t h = values.size(1), w = values.size(2), d = values.size(4), C = M * d;
  TORCH_CHECK(stride >= 1 && values.size(0) == B && values.size(3) == M &&
                  h == (H + stride - 1) / stride && w == (W + stride - 1) / stride,
              "unfold_logits: values do not match the association's grid");
  const bool add = x.has_value();
  TORCH_CHECK(add == gamma.has_value(), "unfold_logits: x and gamma go together");
  if (add) {
    check_float(*x, "x");
    check_float(*gamma, "gamma");
    TORCH_CHECK(x->dim() == 4 && x->size(0) == B && x->size(1) == H && x->size(2) == W &&
                    x->size(3) == C && gamma->numel() == C,
                "unfold_logits: x must be (B, H, W, C) and gamma (C)");
  }
  at::Tensor out = at::empty({B, H, W, C}, values.options());
  const float* AS = assoc.data_ptr<float>();
  const float* V = values.data_ptr<float>();
  const float* XI = add ? x->data_ptr<float>() : nullptr;
  const float* G = add ? gamma->data_ptr<float>() : nullptr;
  float* O = out.data_ptr<float>();
  const int64_t HW = H * W;
  at::parallel_for(0, B * H, 4, [&](int64_t begin, int64_t end) {
    std::vector<float> e(W * kNeighbors);
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / H, py = row % H, cy = py / stride;
      for (int64_t m = 0; m < M; ++m) {
        // the row's logits, pixel-major, shifted by each pixel's max and exponentiated
        const float* a = AS + (b * M + m) * kNeighbors * HW + py * W;
        for (int64_t px = 0; px < W; ++px) {
          float mx = a[4 * HW + px];  // the own cell is always inside the grid
          for (int n = 0; n < kNeighbors; ++n) mx = std::max(mx, a[n * HW + px]);
          for (int n = 0; n < kNeighbors; ++n) e[px * kNeighbors + n] = a[n * HW + px] - mx;
        }
        float* ep = e.data();
        exp_shifted(ep, ep, 0.f, W * kNeighbors);
        for (int64_t px = 0; px < W; ++px) {
          int64_t nb[kNeighbors];
          candidate_cells(b, cy, px / stride, h, w, 1, nb);
          combine_candidates(O + ((b * H + py) * W + px) * C + m * d, ep + px * kNeighbors, nb,
                             V, M, m, d);
        }
      }
      if (!add) continue;
      for (int64_t px = 0; px < W; ++px) {
        const int64_t pixel = ((b * H + py) * W + px) * C;
        residual(O + pixel, XI + pixel, G, O + pixel, C);
      }
    }
  });
  return out;
}

// depthwise_conv3x3.cpp
at::Tensor depthwise_conv3x3(const at::Tensor& x, const at::Tensor& weight,
                             const c10::optional<at::Tensor>& bias, bool add_identity);
// layer_norm_gelu.cpp
at::Tensor layer_norm_gelu(const at::Tensor& y, const at::Tensor& weight, const at::Tensor& bias,
                           double eps, bool cell_mean, const c10::optional<at::Tensor>& valid);

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("sca_cell_pass", &sca_cell_pass,
        "Element-wise part of an absorbed-key SCA layer, fused per superpixel cell (CPU)");
  m.def("unfold_logits", &unfold_logits,
        "Association-weighted unfolding of superpixel values, softmax over the 9 (CPU)");
  m.def("sca_window_sum", &sca_window_sum,
        "Superpixel update from the per-cell sums of sca_cell_pass (CPU)");
  m.def("depthwise_conv3x3", &depthwise_conv3x3,
        "3x3 depthwise convolution of a channels-last map, optionally plus the input (CPU)");
  m.def("layer_norm_gelu", &layer_norm_gelu,
        "LayerNorm over the last dimension and exact GELU, optionally averaged per cell (CPU)");
}
