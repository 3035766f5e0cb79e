"""The SP-MAE study on an accelerator: pre-training, E1 linear probe, E2 fine-tuning and E3
zero-shot superpixels, scheduled side by side under one deadline (configs/spmae/README.md).

Runs (each a subprocess of this checkout's tools, started from the repository root):

* ``natural``: M1-M4 pre-trained on unlabelled BSDS500 train + CamVid train with
  ``--natural-recipe`` (``*_1xb256-50e_bsds-camvid-96px.py``; ``1xb32-200it``: the CPU-sized
  budget), seed 0, and M3 again with seed 1 (``--natural-seeds``: these seeds for M2-M4); E3 for
  each SPFormer run and for the random-init control R of both seeds
  (``spformer-t-s8-natural_zeroshot-224_bsds500-val.py``).
* ``cifar``: the CPU-sized comparison (``*_1xb32-200it_cifar10-64px.py``: M1, M2, M3, M4, S,
  plus M3 with a 4-px dilation, M3 with 50 % and 90 % of the tokens masked and M1 at 320
  iterations, the wall-clock of an SP-MAE run) for ``--seed``; E1 (``tools/linear_probe.py``),
  E2 (``*_1xb512-30e_cifar10-64px.py`` from each checkpoint and from scratch; not with
  ``--no-finetune``) and E3 (``spformer-t-s8_zeroshot-224_bsds500-val.py``) for each run and R.

E3 is evaluated at every ``--min-sizes`` connectivity minimum piece size so that the runs can be
compared at matched returned counts. Training runs share ``--jobs`` slots and evaluations
``--eval-jobs`` slots; a run starts when what it needs has finished, in the order listed in
``plan()``. At ``--deadline-min`` the runs still going are stopped and marked ``stopped``: their
numbers are not reported. ``WORK/status.json`` (state, seconds and command of every run) is
rewritten after each run; ``tools/experiments/spmae_study_table.py`` makes the tables.

Usage (from the repository root)::

    python tools/experiments/spmae_study.py --work work_dirs/spmae_study --data ../shared/data \\
        [--seed 1] [--jobs 8] [--eval-jobs 4] [--device cuda] [--deadline-min 8.5] \\
        [--min-sizes 32 48 64] [--natural-recipe 1xb32-200it] [--natural-seeds 0 1] \\
        [--only NAME ...] [--no-finetune] [--smoke]

``--data`` holds ``cifar10``, ``bsds500`` (``images/{train,val}``, ``groundTruth/val``) and
``camvid`` (``images/train``); ``--natural-data`` can point the pre-training images elsewhere
(e.g. a copy decoded to ``.bmp``). ``--smoke`` shrinks every run to a few images and iterations
to check the plan end to end on a CPU.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional

REPO_ROOT = Path(__file__).resolve().parents[2]
CFG = 'configs/spmae'
NATURAL = [('M3', 'spmae_spformer-t-s8'), ('M2', 'spmae-grid_spformer-t-s8'),
           ('M4', 'spmae-nodil_spformer-t-s8'), ('M1', 'mae_vit-t-p8')]
CIFAR = [('M3', 'spmae_spformer-t-s8', '200it'), ('M2', 'spmae-grid_spformer-t-s8', '200it'),
         ('M1', 'mae_vit-t-p8', '200it'), ('M4', 'spmae-nodil_spformer-t-s8', '200it'),
         ('S', 'spformer-t-s8', '200it'), ('M3-d4', 'spmae-d4_spformer-t-s8', '200it'),
         ('M1-320', 'mae_vit-t-p8', '320it'), ('M3-r50', 'spmae-r50_spformer-t-s8', '200it'),
         ('M3-r90', 'spmae-r90_spformer-t-s8', '200it')]
#: E2 order (most informative first); R and R-ViT train from scratch
FINETUNE = ['R', 'M3', 'M1', 'R-ViT', 'M2', 'S', 'M4', 'M3-d4', 'M1-320']


class Run(NamedTuple):
    name: str  # WORK-relative folder of the run
    cmd: List[str]
    needs: List[str]  # names of runs that must have finished
    pool: str  # 'train' or 'eval'
    out: Optional[str] = None  # the run's result file (a JSON), WORK-relative
    files: Dict[str, str] = {}  # files (absolute path: text) written when the run starts


def plan(args) -> List[Run]:
    data, nat = Path(args.data).resolve(), Path(args.natural_data or args.data).resolve()
    work = Path(args.work)
    smoke = args.smoke
    runs: List[Run] = []
    cifar_opts = [f'train_dataloader.dataset.data_root={data}/cifar10']
    test_opts = [f'test_dataloader.dataset.data_root={data}/cifar10',
                 f'val_dataloader.dataset.data_root={data}/cifar10']
    zs_opts = [f'test_dataloader.dataset.data_root={data}/bsds500',
               'test_dataloader.num_workers=1', 'test_dataloader.persistent_workers=False']
    few = ['train_dataloader.dataset.indices=8', 'train_dataloader.batch_size=4'] if smoke else []

    def train(name, config, opts, needs=(), seed=0):
        return Run(name, [sys.executable, 'tools/train.py', config, '--work-dir', str(work / name),
                          '--cfg-options', f'randomness.seed={seed}'] + opts, list(needs),
                   'train')

    def zero_shot(name, config, ckpt, needs, seed):
        for size in args.min_sizes:
            out = f'{name}/zeroshot-min{size}.json'
            cmd = [sys.executable, 'tools/eval_superpixels.py', '--method', config] + (
                [ckpt] if ckpt else []) + [
                    '--work-dir', str(work / name / f'zeroshot-min{size}'),
                    '--out', str(work / out), '--cfg-options', f'randomness.seed={seed}',
                    f'model.connectivity_min_size={size}'] + zs_opts
            if smoke:
                cmd[2:2] = ['--max-images', '2']
            runs.append(Run(f'{name}/zeroshot-min{size}', cmd, list(needs), 'eval', out))

    # natural images: pre-training (the long runs first), then E3
    nat_opts = [f'train_dataloader.dataset.dataset.datasets.0.data_root={nat}/bsds500',
                f'train_dataloader.dataset.dataset.datasets.1.data_root={nat}/camvid']
    if args.workers:
        nat_opts.append(f'train_dataloader.num_workers={args.workers}')
    by_epoch = args.natural_recipe.endswith('e')  # '1xb256-50e' or '1xb32-200it'
    if smoke:
        nat_opts += ['train_dataloader.dataset.times=1', 'train_dataloader.batch_size=4',
                     'train_dataloader.dataset.dataset.datasets.0.indices=4',
                     'train_dataloader.dataset.dataset.datasets.1.indices=4',
                     'train_dataloader.num_workers=1']
        nat_opts += ['train_cfg.max_epochs=1'] if by_epoch else [
            'train_cfg.max_iters=2', 'default_hooks.checkpoint.interval=2']
    nat_seeds = args.natural_seeds or [0, 1]
    nat_runs = [(short, cfg, nat_seeds[0]) for short, cfg in NATURAL]
    for seed in nat_seeds[1:]:  # further seeds: M3 only, or M2-M4 with --natural-seeds
        nat_runs += [(short, cfg, seed) for short, cfg in NATURAL
                     if short == 'M3' or (args.natural_seeds and short != 'M1')]
    for short, cfg, seed in nat_runs:
        runs.append(train(f'natural/seed{seed}/{short}',
                          f'{CFG}/{cfg}_{args.natural_recipe}_bsds-camvid-96px.py', nat_opts,
                          seed=seed))
    # the CIFAR comparison: pre-training
    n_iters = 2 if smoke else None
    for short, cfg, sched in CIFAR:
        opts = cifar_opts + [f'train_dataloader.num_workers={args.workers or 2}'] + few
        if short == 'S':
            opts += test_opts
        if n_iters:
            opts += [f'train_cfg.max_iters={n_iters}', f'train_cfg.val_interval={n_iters}',
                     f'default_hooks.checkpoint.interval={n_iters}']
            if short == 'S':
                opts += ['test_dataloader.dataset.indices=8', 'val_dataloader.dataset.indices=8']
        runs.append(train(f'cifar/seed{args.seed}/{short}',
                          f'{CFG}/{cfg}_1xb32-{sched}_cifar10-64px.py', opts, seed=args.seed))

    def ckpt(name: str) -> str:
        folder = work / name
        if name.startswith('natural') and by_epoch:
            return str(folder / f'epoch_{1 if smoke else 50}.pth')
        if name.startswith('natural'):
            return str(folder / f'iter_{2 if smoke else 200}.pth')
        iters = n_iters or (320 if name.endswith('M1-320') else 200)
        return str(folder / f'iter_{iters}.pth')

    # E3 on natural-image pre-training (SPFormer runs, and R of both seeds)
    zs_nat = f'{CFG}/spformer-t-s8-natural_zeroshot-224_bsds500-val.py'
    for short, _, seed in nat_runs:
        if short != 'M1':
            name = f'natural/seed{seed}/{short}'
            zero_shot(name, zs_nat, ckpt(name), [name], seed)
    for seed in nat_seeds:
        zero_shot(f'natural/seed{seed}/R', zs_nat, None, [], seed)
    # E1 and E3 of the CIFAR runs and R
    cifar = f'cifar/seed{args.seed}'
    cls = {'spformer': f'{CFG}/spformer-t-s8_1xb512-30e_cifar10-64px.py',
           'vit': f'{CFG}/vit-t-p8_1xb512-30e_cifar10-64px.py'}
    probe_n = ['--max-samples', '20' if smoke else '3000'] + (['--epochs', '2'] if smoke else [])
    members = [('R', None), ('R-ViT', None)]
    members += [(short, f'{cifar}/{short}') for short, _, _ in CIFAR]
    for short, pre in members:
        arch = 'vit' if short.startswith(('M1', 'R-ViT')) else 'spformer'
        name = f'{cifar}/{short}'
        c = ckpt(pre) if pre else None
        out = f'{name}/probe.json'
        runs.append(Run(f'{name}/probe', [
            sys.executable, 'tools/linear_probe.py', cls[arch]] + ([c] if c else []) + probe_n + [
                '--seed', str(args.seed), '--device', args.device, '--work-dir',
                str(work / name / 'probe'), '--out', str(work / out), '--cfg-options'
            ] + cifar_opts + test_opts, [pre] if pre else [], 'eval', out))
        if arch == 'spformer':
            zero_shot(name, f'{CFG}/spformer-t-s8_zeroshot-224_bsds500-val.py', c,
                      [pre] if pre else [], args.seed)
    # E2: fine-tuning from each checkpoint and from scratch
    for short in [] if args.no_finetune else FINETUNE:
        pre = None if short.startswith('R') else f'{cifar}/{short}'
        arch = 'vit' if short.startswith(('M1', 'R-ViT')) else 'spformer'
        name = f'{cifar}/{short}/finetune'
        config = work / name / 'finetune_config.py'
        lines = [f"_base_ = ['{REPO_ROOT / cls[arch]}']"]
        if pre:
            lines.append(f"model = dict(backbone=dict(init_cfg=dict(type='Pretrained', "
                         f"checkpoint='{ckpt(pre)}', prefix='backbone.')))")
        opts = cifar_opts + test_opts + few
        if smoke:
            opts += ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
                     'test_dataloader.dataset.indices=8', 'val_dataloader.dataset.indices=8',
                     'train_dataloader.num_workers=1']
        runs.append(train(name, str(config), opts, [pre] if pre else [], args.seed)._replace(
            files={str(config): '\n'.join(lines) + '\n'}))
    if args.only:
        runs = [r for r in runs if any(r.name.startswith(o) for o in args.only)]
    return runs


class Scheduler:
    """Runs the plan in two pools of slots, in order, respecting ``needs``, until a deadline."""

    def __init__(self, runs: List[Run], work: Path, slots: Dict[str, int], deadline: float,
                 device: str, threads: int) -> None:
        self.runs, self.work, self.slots, self.deadline = runs, work, slots, deadline
        self.env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
                        PYTHONUNBUFFERED='1',
                        PYTHONPATH=os.pathsep.join(
                            filter(None, [str(REPO_ROOT), os.environ.get('PYTHONPATH')])))
        if device == 'cpu':
            self.env['CUDA_VISIBLE_DEVICES'] = ''
        self.state: Dict[str, dict] = {r.name: dict(state='waiting') for r in runs}
        self.procs: Dict[str, subprocess.Popen] = {}
        self.lock = threading.Lock()
        self.t0 = time.time()

    def save(self) -> None:
        (self.work / 'status.json').write_text(json.dumps(self.state, indent=1))

    def _start(self, run: Run) -> None:
        log = self.work / f'{run.name}.log'
        log.parent.mkdir(parents=True, exist_ok=True)
        for path, text in run.files.items():
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text)
        self.state[run.name] = dict(state='running', start_s=round(time.time() - self.t0, 1),
                                    cmd=' '.join(run.cmd), pool=run.pool, out=run.out)
        self.procs[run.name] = subprocess.Popen(
            run.cmd, cwd=REPO_ROOT, env=self.env, stdout=open(log, 'w'),
            stderr=subprocess.STDOUT, start_new_session=True)
        print(f'[{time.time() - self.t0:6.0f}s] start {run.name}', flush=True)

    def run(self) -> int:
        failed = 0
        while True:
            for name, proc in list(self.procs.items()):
                code = proc.poll()
                if code is None:
                    continue
                st = self.state[name]
                st.update(state='done' if code == 0 else 'failed', exit=code,
                          seconds=round(time.time() - self.t0 - st['start_s'], 1))
                failed += code != 0
                print(f'[{time.time() - self.t0:6.0f}s] {st["state"]} {name} '
                      f'({st["seconds"]} s)', flush=True)
                del self.procs[name]
                self.save()
            if time.time() > self.deadline:
                for name, proc in self.procs.items():
                    os.killpg(proc.pid, signal.SIGTERM)
                    self.state[name].update(state='stopped')
                    print(f'stopped at the deadline: {name}', flush=True)
                time.sleep(2)
                for proc in self.procs.values():
                    if proc.poll() is None:
                        os.killpg(proc.pid, signal.SIGKILL)
                break
            for run in self.runs:
                st = self.state[run.name]
                if st['state'] != 'waiting':
                    continue
                needs = [self.state.get(n, dict(state='done'))['state'] for n in run.needs]
                if any(s in ('failed', 'skipped') for s in needs):
                    st.update(state='skipped', why='a run it needs failed')
                    continue
                busy = sum(1 for n in self.procs if self.state[n]['pool'] == run.pool)
                if all(s == 'done' for s in needs) and busy < self.slots[run.pool]:
                    self._start(run)
            if not self.procs and all(s['state'] != 'waiting' for s in self.state.values()):
                break
            time.sleep(1)
        self.save()
        return failed


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--work', default='work_dirs/spmae_study')
    p.add_argument('--data', default='../shared/data')
    p.add_argument('--natural-data', help='pre-training images (bsds500/, camvid/) if elsewhere')
    p.add_argument('--seed', type=int, default=1, help='seed of the CIFAR part')
    p.add_argument('--device', default='cuda', choices=['cuda', 'cpu'])
    p.add_argument('--jobs', type=int, default=8, help='training runs side by side')
    p.add_argument('--eval-jobs', type=int, default=4, help='evaluations side by side')
    p.add_argument('--threads', type=int, default=1, help='OMP threads per run')
    p.add_argument('--workers', type=int,
                   help='data workers per pre-training run (default: 2 for CIFAR-10, the '
                   "natural-image config's 4)")
    p.add_argument('--deadline-min', type=float, default=60.)
    p.add_argument('--min-sizes', type=int, nargs='+', default=[32, 48, 64])
    p.add_argument('--natural-recipe', default='1xb256-50e', choices=['1xb256-50e', '1xb32-200it'],
                   help='the natural-image pre-training configs (1xb32-200it: CPU-sized)')
    p.add_argument('--natural-seeds', type=int, nargs='+',
                   help='seeds of the natural-image runs: M1-M4 with the first, M2-M4 with the '
                   'others (default: M1-M4 with seed 0, M3 with seed 1)')
    p.add_argument('--only', nargs='+', help='runs whose name starts with one of these')
    p.add_argument('--no-finetune', action='store_true', help='leave E2 out (hours on a CPU)')
    p.add_argument('--smoke', action='store_true', help='a few images and iterations per run')
    p.add_argument('--dry-run', action='store_true', help='print the plan')
    args = p.parse_args(argv)
    work = Path(args.work).resolve()
    args.work = str(work)
    work.mkdir(parents=True, exist_ok=True)
    runs = plan(args)
    if args.dry_run:
        for r in runs:
            print(r.pool, r.name, '<-', r.needs, '\n   ', ' '.join(r.cmd))
        return 0
    sched = Scheduler(runs, work, dict(train=args.jobs, eval=args.eval_jobs),
                      time.time() + 60 * args.deadline_min, args.device, args.threads)
    failed = sched.run()
    counts: Dict[str, int] = {}
    for st in sched.state.values():
        counts[st['state']] = counts.get(st['state'], 0) + 1
    print('runs:', counts, flush=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
