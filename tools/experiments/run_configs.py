"""Train a list of configs with ``tools/train.py`` (in parallel), then tabulate their results.

Usage::

    python tools/experiments/run_configs.py [CONFIG|DIR ...] [--list FILE] [--top K]
        --work-root DIR [--seed N ...] [--device cuda|cpu] [--jobs N] [--threads T]
        [--gpus 0,1] [--data-root DIR] [--cfg-options key=value ...] [--timeout-min M]
        [--rerun] [--collect-only] [--dry-run] [--metric mIoU] [--flops-shape H W]

Runs (each one ``tools/train.py CONFIG --work-dir WORK_ROOT/NAME [--cfg-options ...]`` in a
subprocess started from the repository root):

* ``CONFIG`` / ``DIR``: a config, or every ``*.py`` directly in a folder (``_base_`` is not
  searched); with ``--seed 0 1`` each of them once per seed (``randomness.seed=N``).
* ``--list FILE``: one run per line, ``CONFIG [key=value ...]``; ``#`` starts a comment.
* ``--top K --seed N``: the K best runs of ``WORK_ROOT/results.json`` by ``--metric`` (among
  finished runs without a seed override: the first pass), again with seed N. This is the
  second pass of a study.

A run's name is its config's name plus one ``_<key><value>`` per option of its own (``--seed 1``
gives ``_seed1``); ``--cfg-options`` and ``--data-root`` apply to every run and are not part of
the name. ``WORK_ROOT/NAME/train.log`` keeps the run's output and ``run.json`` its command and
exit status; a run whose ``run.json`` records the same command and exit status 0 is not trained
again (``--rerun`` forces it). A failed run is reported and the others go on; the exit status
is 1 when any run failed.

``--device cpu`` hides the GPUs from the runs; ``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` are set
to ``--threads`` per run (default: CPU cores // jobs) on either device. ``--device cuda`` runs
``--jobs`` runs side by side on the visible GPU(s); ``--gpus 0,1`` spreads them round-robin.

Collected for every run (written to ``WORK_ROOT/results.json`` and ``results.md`` after every
finished run, so a cut-off session keeps what it finished): the last validation record of the
run's newest ``*/vis_data/scalars.json`` (``mIoU``, ``aAcc``, ``mAcc``, ``sp/*``) and the
iteration it was taken at, the mean logged train and data time per iteration, the peak GPU
memory, the parameters of the model and of its head (everything but the backbone), and the
multiply-adds (:func:`mmsp.utils.count_multiply_adds`, as ``tools/get_flops.py``) of the model in
``mode='tensor'`` at ``--flops-shape`` and of its head (the total minus the backbone's).
``--collect-only`` rebuilds the tables from the work dirs without training (with no run given:
the runs already in ``results.json``).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence

REPO_ROOT = Path(__file__).resolve().parents[2]
TRAIN = REPO_ROOT / 'tools' / 'train.py'
# the children run this checkout's mmsp (PYTHONPATH below); the statistics use the same one
sys.path.insert(0, str(REPO_ROOT))

RESULTS_JSON, RESULTS_MD = 'results.json', 'results.md'
#: (column title, record key, scale, digits) of the markdown table
COLUMNS = (('mIoU', 'mIoU', 1, 2), ('aAcc', 'aAcc', 1, 2), ('mAcc', 'mAcc', 1, 2),
           ('sp ASA', 'sp/ASA', 1, 3), ('sp BR', 'sp/BR', 1, 3), ('sp UE', 'sp/UE', 1, 3),
           ('sp / img', 'sp/num_superpixels', 1, 0), ('params (M)', 'params', 1e-6, 2),
           ('head params (M)', 'head_params', 1e-6, 2), ('GFLOPs', 'flops', 1e-9, 2),
           ('head GFLOPs', 'head_flops', 1e-9, 2), ('train s/iter', 's_per_iter', 1, 3),
           ('data s/iter', 'data_s_per_iter', 1, 3))


class Run(NamedTuple):
    name: str
    config: str  # relative to the repository root when inside it, else absolute
    options: tuple  # this run's own key=value options (part of its name)


# ---------------------------------------------------------------------------- the runs
def option_slug(option: str) -> str:
    """``randomness.seed=1`` -> ``seed1``; ``optim_wrapper.optimizer.lr=3e-4`` -> ``lr3e-4``."""
    key, _, value = option.partition('=')
    return re.sub(r'[^A-Za-z0-9.+-]', '', key.split('.')[-1] + value)


def make_run(config: str, options: Sequence[str] = ()) -> Run:
    for option in options:
        if '=' not in option:
            raise ValueError(f'option {option!r} of {config} is not key=value')
    name = Path(config).stem + ''.join('_' + option_slug(o) for o in options)
    return Run(name, str(config), tuple(options))


def config_path(path: str) -> str:
    """A config as the runs use it: relative to the repository root (their working folder)
    when inside it, else absolute. Relative paths are looked up here, then in the root."""
    p = Path(path)
    if not p.exists() and (REPO_ROOT / p).exists():
        p = REPO_ROOT / p
    if not p.exists():
        raise FileNotFoundError(f'config not found: {path}')
    p = p.resolve()
    return str(p.relative_to(REPO_ROOT)) if p.is_relative_to(REPO_ROOT) else str(p)


def expand_configs(paths: Sequence[str]) -> List[str]:
    """Config files; a folder stands for the ``*.py`` files directly in it."""
    configs = []
    for path in map(config_path, paths):
        if (REPO_ROOT / path).is_dir():
            found = sorted((REPO_ROOT / path).glob('*.py'))
            if not found:
                raise FileNotFoundError(f'no *.py config directly in folder {path}')
            configs += [config_path(str(f)) for f in found]
        else:
            configs.append(path)
    return configs


def read_list(path: Path) -> List[Run]:
    """Runs of a list file: ``CONFIG [key=value ...]`` per line, ``#`` comments."""
    runs = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        words = line.split('#', 1)[0].split()
        if words:
            try:
                runs.append(make_run(expand_configs(words[:1])[0], words[1:]))
            except (FileNotFoundError, ValueError) as err:
                raise ValueError(f'{path}:{number}: {err}') from None
    return runs


def top_runs(results: Dict[str, dict], k: int, metric: str) -> List[Run]:
    """The ``k`` best finished first-pass runs (no seed option of their own) by ``metric``."""
    pool = [r for r in results.values()
            if r.get('status') == 'ok' and metric in r.get('metrics', {})
            and not any(o.startswith('randomness.seed=') for o in r.get('run_options', []))]
    if not pool:
        raise ValueError(f'no finished run with {metric!r} to pick the top {k} from')
    pool.sort(key=lambda r: r['metrics'][metric], reverse=True)
    return [make_run(r['config'], r.get('run_options', [])) for r in pool[:k]]


def with_seeds(runs: List[Run], seeds: Optional[Sequence[int]]) -> List[Run]:
    if not seeds:
        return runs
    return [make_run(r.config, list(r.options) + [f'randomness.seed={s}'])
            for r in runs for s in seeds]


# ---------------------------------------------------------------------------- training
def train_command(run: Run, common: Sequence[str], work_dir: Path) -> List[str]:
    options = list(run.options) + list(common)
    return [sys.executable, str(TRAIN), run.config, '--work-dir', str(work_dir)] + \
        (['--cfg-options'] + options if options else [])


def run_env(device: str, threads: int, gpu: Optional[str]) -> Dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               PYTHONUNBUFFERED='1')
    env['PYTHONPATH'] = os.pathsep.join([str(REPO_ROOT)] + (
        [env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    if device == 'cpu':
        env['CUDA_VISIBLE_DEVICES'] = ''
    elif gpu is not None:
        env['CUDA_VISIBLE_DEVICES'] = gpu
    return env


def train(run: Run, cmd: List[str], env: Dict[str, str], work_dir: Path, rerun: bool,
          timeout_s: Optional[float]) -> dict:
    """Train one run unless it already finished with the same command; returns run.json."""
    state_file = work_dir / 'run.json'
    if not rerun and state_file.is_file():
        state = json.loads(state_file.read_text())
        if state.get('rc') == 0 and state.get('command') == cmd:
            return dict(state, skipped=True)
    work_dir.mkdir(parents=True, exist_ok=True)
    log = work_dir / 'train.log'
    start = time.time()
    with open(log, 'w') as out:
        try:
            rc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, timeout=timeout_s).returncode
        except subprocess.TimeoutExpired:
            out.write(f'\n[run_configs] killed after {timeout_s:.0f} s\n')
            rc = 'timeout'
    state = dict(name=run.name, command=cmd, rc=rc, wall_s=round(time.time() - start, 1),
                 log=str(log), finished=time.strftime('%Y-%m-%d %H:%M:%S'))
    state_file.write_text(json.dumps(state, indent=1))
    return state


def log_tail(path: Path, lines: int = 6) -> str:
    try:
        return '\n'.join(Path(path).read_text(errors='replace').splitlines()[-lines:])
    except OSError:
        return '(no log)'


# ---------------------------------------------------------------------------- collection
def find_scalars(work_dir: Path) -> Optional[Path]:
    """The newest ``*/vis_data/scalars.json`` below a run dir, else its newest json log."""
    for pattern in ('*/vis_data/scalars.json', '*/vis_data/*.json'):
        found = sorted(Path(work_dir).glob(pattern), key=lambda p: p.stat().st_mtime)
        if found:
            return found[-1]
    return None


def empty_scalars() -> dict:
    return dict(metrics={}, val_iter=None, iters=None, s_per_iter=None, data_s_per_iter=None,
                memory_mb=None)


def parse_scalars(path: Path) -> dict:
    """Last validation record, its iteration, mean train/data time per iteration, last train
    iteration and peak memory of an mmengine scalar log (one json record per line)."""
    train_recs, val = [], None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut off by a killed run
            if 'loss' in rec:
                train_recs.append(rec)
            elif any(k not in ('step', 'time', 'data_time') for k in rec):
                val = rec
    out = empty_scalars()
    if val is not None:
        out['metrics'] = {k: v for k, v in val.items()
                          if k not in ('step', 'time', 'data_time') and
                          isinstance(v, (int, float))}
        out['val_iter'] = val.get('step')
    if train_recs:
        out['iters'] = max(int(r.get('iter', r.get('step', 0))) for r in train_recs)
        timed = train_recs[1:] or train_recs  # the first window holds the start-up
        for key, field in (('s_per_iter', 'time'), ('data_s_per_iter', 'data_time')):
            values = [r[field] for r in timed if field in r]
            out[key] = sum(values) / len(values) if values else None
        memory = [r['memory'] for r in train_recs if 'memory' in r]
        out['memory_mb'] = max(memory) if memory else None
    return out


def parse_options(options: Sequence[str]) -> dict:
    """``key=value`` strings to the dict that ``--cfg-options`` gives."""
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction, default={})
    return parser.parse_args(['--o'] + list(options)).o if options else {}


_stats_cache: Dict[tuple, dict] = {}
_stats_lock = threading.Lock()


def model_stats(config: str, options: Sequence[str], shape: Optional[Sequence[int]]) -> dict:
    """Seed and (with a ``shape``) parameters and multiply-adds, of the model and of its head,
    of a config with its options."""
    import mmsp  # noqa: F401  (registers mmsp modules)
    import torch
    from mmengine.config import Config
    from mmsp.utils import build_model_from_config, count_multiply_adds
    cfg = Config.fromfile(str(REPO_ROOT / config))
    cfg.merge_from_dict(parse_options(options))
    seed = cfg.get('randomness', {}).get('seed')
    if not shape:
        return dict(seed=seed)
    model_options = tuple(o for o in options if o.startswith('model.'))
    key = (config, model_options, tuple(shape))
    with _stats_lock:
        if key not in _stats_cache:
            model = build_model_from_config(cfg).eval()
            counts = count_multiply_adds(model, (torch.rand(1, 3, *shape), ))
            params = sum(p.numel() for p in model.parameters())
            backbone = getattr(model, 'backbone', None)
            backbone_params = sum(p.numel() for p in backbone.parameters()) if backbone else 0
            _stats_cache[key] = dict(
                params=params, head_params=params - backbone_params, flops=counts.total,
                head_flops=counts.total - counts.by_module.get('backbone', 0),
                flops_shape=list(shape))
    return dict(_stats_cache[key], seed=seed)


def collect(run: Run, work_dir: Path, state: Optional[dict], common: Sequence[str],
            flops_shape: Optional[Sequence[int]]) -> dict:
    """The results record of one run (missing pieces are None, with the reason)."""
    record = dict(name=run.name, config=run.config, run_options=list(run.options),
                  options=list(run.options) + list(common), work_dir=str(work_dir),
                  rc=None if state is None else state.get('rc'),
                  wall_s=None if state is None else state.get('wall_s'))
    scalars = find_scalars(work_dir)
    record.update(parse_scalars(scalars) if scalars else empty_scalars())
    record['scalars'] = str(scalars) if scalars else None
    if state is None:
        record['status'] = 'not run'
    elif state.get('rc') != 0:
        record['status'] = f'failed (rc {state.get("rc")})'
    elif not record['metrics']:
        record['status'] = 'no val metrics'
    else:
        record['status'] = 'ok'
    try:
        record.update(model_stats(run.config, record['options'], flops_shape))
    except Exception as err:  # a config that cannot be read or built still gets its row
        record['stats_error'] = f'{type(err).__name__}: {err}'
    return record


def fmt(value, scale: float = 1, digits: int = 2) -> str:
    return '—' if value is None else f'{value * scale:.{digits}f}'


def markdown(records: Sequence[dict]) -> str:
    head = ['run', 'seed', 'val at iter'] + [c[0] for c in COLUMNS] + ['status']
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for r in records:
        values = [fmt(r.get('metrics', {}).get(key, r.get(key)), scale, digits)
                  for _, key, scale, digits in COLUMNS]
        cells = [f'`{r["name"]}`', str(r.get('seed', '—')), str(r.get('val_iter') or '—')]
        lines.append('| ' + ' | '.join(cells + values + [r['status']]) + ' |')
    return '\n'.join(lines) + '\n'


def load_results(work_root: Path) -> Dict[str, dict]:
    path = work_root / RESULTS_JSON
    if not path.is_file():
        return {}
    return {r['name']: r for r in json.loads(path.read_text())['runs']}


def save_results(work_root: Path, results: Dict[str, dict]) -> None:
    records = list(results.values())
    (work_root / RESULTS_JSON).write_text(json.dumps(dict(runs=records), indent=1))
    (work_root / RESULTS_MD).write_text(markdown(records))


# ---------------------------------------------------------------------------- main
def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Train configs with tools/train.py and tabulate their results',
        epilog='See the module docstring for the details.')
    parser.add_argument('configs', nargs='*', help='config files or folders of configs')
    parser.add_argument('--list', type=Path, help='file of runs: CONFIG [key=value ...] per line')
    parser.add_argument('--top', type=int, help='rerun the K best runs of WORK_ROOT/results.json '
                        'with --seed (second pass)')
    parser.add_argument('--metric', default='mIoU', help='ranking metric of --top')
    parser.add_argument('--seed', type=int, nargs='+', help='run every run once per seed')
    parser.add_argument('--work-root', type=Path, required=True, help='one work dir per run here')
    parser.add_argument('--device', choices=('cuda', 'cpu'), default='cuda')
    parser.add_argument('--jobs', type=int, default=1, help='runs side by side')
    parser.add_argument('--threads', type=int, help='OMP/MKL threads per run '
                        '(default: CPU cores // jobs)')
    parser.add_argument('--gpus', help='comma-separated GPU ids to spread the runs over')
    parser.add_argument('--data-root', type=Path, help='dataset root of every dataloader')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='options for every run (not part of the run names)')
    parser.add_argument('--timeout-min', type=float, help='kill a run after this many minutes')
    parser.add_argument('--rerun', action='store_true', help='train finished runs again')
    parser.add_argument('--collect-only', action='store_true', help='only rebuild the tables')
    parser.add_argument('--dry-run', action='store_true', help='print the commands only')
    parser.add_argument('--flops-shape', type=int, nargs=2, default=[240, 320], metavar=('H', 'W'))
    parser.add_argument('--no-flops', action='store_true', help='skip parameters and FLOPs')
    args = parser.parse_args(argv)
    if args.jobs < 1 or (args.threads is not None and args.threads < 1):
        parser.error('--jobs and --threads must be >= 1')
    if args.top is not None and not args.seed:
        parser.error('--top reruns the best runs with another seed: give --seed N')
    bad = [o for o in args.cfg_options if '=' not in o]
    if bad:
        parser.error(f'--cfg-options takes key=value, got {bad}')
    if args.data_root is not None:
        if not args.data_root.is_dir():
            parser.error(f'--data-root {args.data_root} is not a folder')
        args.data_root = args.data_root.resolve()
    return args


def select_runs(args: argparse.Namespace, previous: Dict[str, dict]) -> List[Run]:
    runs = [make_run(c) for c in expand_configs(args.configs)]
    if args.list is not None:
        runs += read_list(args.list)
    runs = with_seeds(runs, args.seed)
    if args.top is not None:
        runs += with_seeds(top_runs(previous, args.top, args.metric), args.seed)
    if not runs and args.collect_only:
        runs = [make_run(r['config'], r.get('run_options', [])) for r in previous.values()]
    names = [r.name for r in runs]
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise ValueError(f'two runs would share a work dir: {dups}')
    if not runs:
        raise ValueError('no runs: give configs, --list, --top or --collect-only')
    return runs


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    args.work_root.mkdir(parents=True, exist_ok=True)
    results = load_results(args.work_root)
    try:
        runs = select_runs(args, results)
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f'run_configs: {err}')
    common = list(args.cfg_options)
    if args.data_root is not None:
        common += [f'{loader}.dataset.data_root={args.data_root}'
                   for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
    gpus = args.gpus.split(',') if args.gpus else None
    if args.device == 'cuda' and not (args.collect_only or args.dry_run):
        import torch
        if not torch.cuda.is_available():
            raise SystemExit('run_configs: --device cuda but torch sees no GPU (use --device cpu)')
    shape = None if args.no_flops else args.flops_shape
    lock = threading.Lock()

    def one(index: int, run: Run) -> str:
        work_dir = args.work_root / run.name
        tag = f'[{index + 1}/{len(runs)}] {run.name}'
        state = None
        if args.collect_only:
            state_file = work_dir / 'run.json'
            state = json.loads(state_file.read_text()) if state_file.is_file() else None
        else:
            cmd = train_command(run, common, work_dir)
            gpu = gpus[index % len(gpus)] if gpus and args.device == 'cuda' else None
            print(f'{tag}: start', flush=True)
            timeout = args.timeout_min * 60 if args.timeout_min else None
            state = train(run, cmd, run_env(args.device, threads, gpu), work_dir, args.rerun,
                          timeout)
        try:
            record = collect(run, work_dir, state, common, shape)
        except Exception as err:  # never lose the other runs to one unreadable work dir
            record = dict(name=run.name, config=run.config, run_options=list(run.options),
                          metrics={}, status=f'collect error ({type(err).__name__}: {err})')
        with lock:
            results[run.name] = record
            save_results(args.work_root, results)
        done = 'already finished' if state and state.get('skipped') else record['status']
        print(f'{tag}: {done}, mIoU {fmt(record["metrics"].get("mIoU"))}, '
              f'{fmt(record.get("wall_s"), digits=0)} s', flush=True)
        if record['status'].startswith('failed'):
            print(f'  log {work_dir / "train.log"} ends with:\n{log_tail(work_dir / "train.log")}',
                  flush=True)
        return record['status']

    if args.dry_run:
        for run in runs:
            print(' '.join(train_command(run, common, args.work_root / run.name)))
        return 0
    with ThreadPoolExecutor(max_workers=1 if args.collect_only else args.jobs) as pool:
        statuses = list(pool.map(one, range(len(runs)), runs))
    print(f'\n{args.work_root / RESULTS_MD}:\n')
    print(markdown([results[r.name] for r in runs]))
    failed = [r.name for r, s in zip(runs, statuses) if s != 'ok']
    if failed:
        print(f'{len(failed)} of {len(runs)} runs did not finish with val metrics: {failed}')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
