"""Test-only probe hook, imported by the runs of tests/test_reliability through
``custom_imports`` (the folder is put on ``PYTHONPATH``). It records what each rank does into
``MMSP_PROBE_DIR`` and can kill its own process to simulate a crash."""
import json
import os
import signal

from mmengine.dist import get_dist_info
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


def _out(name: str) -> str:
    folder = os.environ['MMSP_PROBE_DIR']
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, name)


def _sample_ids(data_batch) -> list:
    ids = []
    for sample in data_batch.get('data_samples', []) or []:
        path = sample.metainfo.get('img_path', '?')  # folder/name: class folders reuse names
        ids.append(os.path.join(os.path.basename(os.path.dirname(path)), os.path.basename(path)))
    return ids


@HOOKS.register_module()
class ReliabilityProbeHook(Hook):
    """Writes ``setup_rank<r>.json`` (world size, sampler, norm layers, wrapper),
    ``batches_rank<r>.jsonl`` (image names of every training batch, with the iteration),
    ``saved_rank<r>_iter<i>`` for every checkpoint this rank writes, and SIGKILLs its own
    process after iteration ``kill_at`` (1-based, after the checkpoint hook ran)."""

    priority = 'LOWEST'  # after CheckpointHook (VERY_LOW): the checkpoint of that iter exists

    def __init__(self, kill_at: int = -1) -> None:
        self.kill_at = kill_at

    def before_train(self, runner) -> None:
        rank, world = get_dist_info()
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        norms = sorted({type(m).__name__ for m in model.modules() if 'Norm' in type(m).__name__})
        info = dict(
            rank=rank,
            world_size=world,
            sampler=type(runner.train_dataloader.sampler).__name__,
            norm_layers=norms,
            wrapper=type(runner.model).__name__,
            device_ids=getattr(runner.model, 'device_ids', 'n/a'),
            backend=__import__('torch').distributed.get_backend()
            if world > 1 else None)
        with open(_out(f'setup_rank{rank}.json'), 'w') as f:
            json.dump(info, f)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        rank, _ = get_dist_info()
        with open(_out(f'batches_rank{rank}.jsonl'), 'a') as f:
            f.write(json.dumps(dict(iter=runner.iter + 1, ids=_sample_ids(data_batch))) + '\n')
        if runner.iter + 1 == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def before_save_checkpoint(self, runner, checkpoint) -> None:
        rank, _ = get_dist_info()
        with open(_out(f'saved_rank{rank}_iter{checkpoint["meta"]["iter"]}'), 'w') as f:
            f.write(str(os.getpid()))
