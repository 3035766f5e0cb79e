"""Prototype, not used by mmsp: the SCA pixel side as one fused C++ loop, timed against mmsp.

What it measures (``docs/sca-speed.md``, round 4): whether a hand-written CPU kernel could
close the SPFormer-S / DeiT-S latency gap of issue #4. The kernel covers the pixel side of
one SPFormer SCA layer in eval mode: the absorbed-key logits of every pixel against the
keys of its 9 candidate superpixels (``mmsp.ops.block_logits_absorbed``), the softmax over the
candidates, the unfolding of the superpixel values (``block_unfold``) and the residual
``x + gamma * dx`` written into the channels-last map (``from_blocks`` + ``addcmul``). The
reference is exactly those mmsp ops. Both return the new pixel map and the logits.

Per cell (one OpenMP task each, via ``at::parallel_for``) the keys of the 9 candidates are
transposed into a local ``(C, 9K)`` table, so each pixel's ``9K`` logits are ``C`` vectorised
multiply-adds; then the softmax, the weighted sum of the candidates' values and the residual
run on that pixel while it is in cache. Float32, contiguous inputs, ``9K <= 64``.

The superpixel side (the window softmax and the weighted pixel means) is not in it. The
library does not use this kernel: the gain measured on the 2-core CPU (about -20% of these ops
at batch 1, -40% at batch 32) is too small to reach the target on its own. The numbers and the
estimate are in ``docs/sca-speed.md``.

Usage (compiles with the system C++ compiler and ninja on first use, ~25 s)::

    python tools/prototypes/fused_pixel_side.py [--batch-sizes 1 32] [--rounds 15] [--threads 2]
"""
import argparse
import statistics
import time
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor
from torch.utils.cpp_extension import load_inline

from mmsp.ops import SuperpixelGrid, block_logits_absorbed, block_unfold, from_blocks
from mmsp.ops.association import candidate_softmax
from mmsp.ops.cell_layout import cell_heads

CPP_SOURCE = r'''
#include <torch/extension.h>
#include <cmath>
#include <limits>

std::vector<torch::Tensor> pixel_side(torch::Tensor xc, torch::Tensor r, torch::Tensor keys,
                                      torch::Tensor offs, torch::Tensor vals,
                                      torch::Tensor gamma, torch::Tensor x, int64_t s) {
  // xc (B,h,w,P,C)  r (B,h,w,P)  keys (B,h,w,K,C)  offs (B,h,w,K)  vals (B,h,w,M,d)
  // gamma (M*d = C)  x (B,H,W,C): all float32, contiguous
  for (const auto& t : {xc, r, keys, offs, vals, gamma, x}) {
    TORCH_CHECK(t.scalar_type() == torch::kFloat && t.is_contiguous(),
                "pixel_side: float32 contiguous tensors only");
  }
  const int64_t B = xc.size(0), h = xc.size(1), w = xc.size(2), P = xc.size(3), C = xc.size(4);
  const int64_t K = keys.size(3), M = vals.size(3), d = vals.size(4);
  const int64_t H = x.size(1), W = x.size(2), NK = 9 * K;
  TORCH_CHECK(NK <= 64 && M <= K && M * d == C && P == s * s, "pixel_side: unsupported sizes");
  auto out = torch::empty_like(x);
  auto logits = torch::empty({B, h, w, P, 9, K}, xc.options());
  const float* X = xc.data_ptr<float>();
  const float* R = r.data_ptr<float>();
  const float* KE = keys.data_ptr<float>();
  const float* OF = offs.data_ptr<float>();
  const float* V = vals.data_ptr<float>();
  const float* G = gamma.data_ptr<float>();
  const float* XI = x.data_ptr<float>();
  float* XO = out.data_ptr<float>();
  float* L = logits.data_ptr<float>();
  const float ninf = -std::numeric_limits<float>::infinity();
  at::parallel_for(0, B * h * w, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> dx(C), kt(C * NK), ob(NK);
    for (int64_t cell = begin; cell < end; ++cell) {
      const int64_t b = cell / (h * w), cy = (cell / w) % h, cx = cell % w;
      int64_t nb[9];
      bool ok[9];
      for (int n = 0; n < 9; ++n) {
        const int64_t yy = cy + n / 3 - 1, xx = cx + n % 3 - 1;
        ok[n] = yy >= 0 && yy < h && xx >= 0 && xx < w;
        nb[n] = ok[n] ? (b * h + yy) * w + xx : 0;
      }
      // the candidates' keys transposed to (C, 9K); zero keys and -inf offsets outside the grid
      for (int n = 0; n < 9; ++n) {
        for (int64_t k = 0; k < K; ++k) {
          const float* kv = KE + (nb[n] * K + k) * C;
          for (int64_t c = 0; c < C; ++c) kt[c * NK + n * K + k] = ok[n] ? kv[c] : 0.f;
          ob[n * K + k] = ok[n] ? OF[nb[n] * K + k] : ninf;
        }
      }
      for (int64_t p = 0; p < P; ++p) {
        const float* xp = X + (cell * P + p) * C;
        const float rp = R[cell * P + p];
        float* lg = L + (cell * P + p) * NK;
        float acc[64];
        for (int64_t j = 0; j < NK; ++j) acc[j] = 0.f;
        for (int64_t c = 0; c < C; ++c) {
          const float xv = xp[c];
          const float* row = kt.data() + c * NK;
#pragma omp simd
          for (int64_t j = 0; j < NK; ++j) acc[j] += xv * row[j];
        }
#pragma omp simd
        for (int64_t j = 0; j < NK; ++j) lg[j] = rp * acc[j] + ob[j];
        for (int64_t m = 0; m < M; ++m) {  // pixel-update heads: softmax over the 9, unfold
          float mx = ninf, wts[9], sum = 0.f;
          for (int n = 0; n < 9; ++n) mx = std::max(mx, lg[n * K + m]);
          for (int n = 0; n < 9; ++n) {
            wts[n] = ok[n] ? std::exp(lg[n * K + m] - mx) : 0.f;
            sum += wts[n];
          }
          float* dm = dx.data() + m * d;
          for (int64_t c = 0; c < d; ++c) dm[c] = 0.f;
          for (int n = 0; n < 9; ++n) {
            if (!ok[n]) continue;
            const float* vv = V + (nb[n] * M + m) * d;
            const float wn = wts[n] / sum;
#pragma omp simd
            for (int64_t c = 0; c < d; ++c) dm[c] += wn * vv[c];
          }
        }
        const int64_t py = cy * s + p / s, px = cx * s + p % s;
        if (py >= H || px >= W) continue;  // padding slot of a partial cell
        const float* xi = XI + ((b * H + py) * W + px) * C;
        float* xo = XO + ((b * H + py) * W + px) * C;
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) xo[c] = xi[c] + G[c] * dx[c];
      }
    }
  });
  return {out, logits};
}
'''


def build(verbose: bool = False):
    """Compile (or load the cached build of) the kernel: a module with ``pixel_side``."""
    return load_inline(
        'mmsp_proto_fused_pixel_side',
        cpp_sources=CPP_SOURCE,
        functions=['pixel_side'],
        extra_cflags=['-O3', '-march=native', '-fopenmp'],
        extra_ldflags=['-fopenmp'],
        verbose=verbose)


def make_inputs(batch: int, height: int = 56, width: int = 56, stride: int = 4,
                channels: int = 64, heads: int = 2, seed: int = 0) -> Dict[str, Tensor]:
    """Random inputs of one SPFormer-S SCA layer's pixel side (``2M`` pseudo-heads of keys)."""
    g = torch.Generator().manual_seed(seed)
    grid = SuperpixelGrid(height, width, stride)
    h, w, p = grid.rows, grid.cols, stride * stride
    # padding slots of partial cells are zero, as mmsp's to_cells makes them
    cells = torch.randn(batch, h, w, p, channels, generator=g) * grid.pixel_mask()[..., None]
    x = torch.randn(batch, channels, height, width, generator=g)
    return dict(
        cells=cells,
        scale=torch.rand(batch, h, w, p, 1, generator=g) + 0.5,
        keys=0.1 * torch.randn(batch, h, w, 2 * heads, channels, generator=g),
        offsets=torch.randn(batch, h, w, 2 * heads, generator=g),
        values=torch.randn(batch, h, w, channels, generator=g),
        gamma=torch.randn(channels, generator=g),
        x=x.contiguous(memory_format=torch.channels_last),
        heads=heads, stride=stride, grid=grid)


def reference(inp: Dict) -> Tuple[Tensor, Tensor]:
    """mmsp's ops: new pixel map (B, C, H, W) channels-last, logits (B, 2M, h, w, s*s, 9)."""
    m, grid = inp['heads'], inp['grid']
    both = block_logits_absorbed(inp['cells'], inp['keys'], inp['offsets'], grid,
                                 pixel_scale=inp['scale'])
    dx = block_unfold(candidate_softmax(both[:, :m]), cell_heads(inp['values'], m))
    dx = from_blocks(dx, grid, channels_last=True)
    return torch.addcmul(inp['x'], inp['gamma'].view(1, -1, 1, 1), dx), both


def fused(kernel, inp: Dict) -> Tuple[Tensor, Tensor]:
    """The kernel on the same inputs, outputs in the reference's layouts (views, no copies)."""
    b, h, w, _, c = inp['cells'].shape
    m = inp['heads']
    out, logits = kernel.pixel_side(inp['cells'], inp['scale'][..., 0].contiguous(), inp['keys'],
                                    inp['offsets'], inp['values'].view(b, h, w, m, c // m),
                                    inp['gamma'], inp['x'].permute(0, 2, 3, 1), inp['stride'])
    return out.permute(0, 3, 1, 2), logits.permute(0, 5, 1, 2, 3, 4)


def main(argv: Optional[List[str]] = None) -> Dict[int, Dict[str, float]]:
    parser = argparse.ArgumentParser(description='Prototype fused SCA pixel side vs mmsp ops')
    parser.add_argument('--batch-sizes', type=int, nargs='+', default=[1, 32])
    parser.add_argument('--rounds', type=int, default=15)
    parser.add_argument('--threads', type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    kernel = build()
    print(f'kernel ready in {time.perf_counter() - start:.1f} s | threads: '
          f'{torch.get_num_threads()} | one SPFormer-S SCA layer (56x56x64, 4x4 cells, M=2)')
    results = {}
    with torch.no_grad():
        for batch in args.batch_sizes:
            inp = make_inputs(batch)
            steps = {'mmsp ops': lambda: reference(inp), 'fused': lambda: fused(kernel, inp)}
            calls = max(1, 20 // batch)
            times: Dict[str, List[float]] = {k: [] for k in steps}
            for step in steps.values():
                step()
            for _ in range(args.rounds):
                for name, step in steps.items():
                    t = time.perf_counter()
                    for _ in range(calls):
                        step()
                    times[name].append((time.perf_counter() - t) / calls / batch * 1e3)
            med = {k: statistics.median(v) for k, v in times.items()}
            results[batch] = med
            print(f'batch {batch:3d}: mmsp ops {med["mmsp ops"]:.3f} ms/img, fused '
                  f'{med["fused"]:.3f} ms/img, ratio {med["fused"] / med["mmsp ops"]:.2f}')
    return results


if __name__ == '__main__':
    main()
