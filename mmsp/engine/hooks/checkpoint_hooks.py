"""Checkpoint hooks: atomic, delete-after-write saving and strict, reported loading."""
import os.path as osp
from typing import Dict, Optional

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook, Hook
from mmseg.registry import HOOKS

from mmsp.utils.checkpoint import load_state_dict_checked, revise_key, state_dict_of
from mmsp.utils.files import atomic_write, write_text_atomically

__all__ = ['AtomicCheckpointHook', 'CheckedLoadHook']


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` whose saving a kill cannot leave half done.

    mmengine 0.10.7's hook first deletes the oldest kept checkpoint, then writes the new one in
    place, then ``last_checkpoint``. A kill during the write leaves a truncated file and, with
    ``max_keep_ckpts=1``, no complete checkpoint at all, while ``last_checkpoint`` names a
    deleted or half-written file. For a local ``out_dir`` this hook instead

    1. writes the checkpoint to a temporary file in the same folder, flushes it to the disk and
       renames it to its name (:func:`mmsp.utils.files.atomic_write`);
    2. then writes ``last_checkpoint`` the same way;
    3. only then deletes the checkpoints beyond ``max_keep_ckpts``, and a best checkpoint
       (``save_best``) only once its successor is written.

    A kill at any moment leaves ``last_checkpoint`` naming a complete file (the previous or the
    new checkpoint); at most a ``.<name>.<random>.tmp`` file is left behind. Arguments and the
    resume bookkeeping (``keep_ckpt_ids``, ``last_ckpt`` in the message hub) are
    ``CheckpointHook``'s; other storage backends (``backend_args`` naming an object store, or
    ``file_client_args``) keep mmengine's behaviour. Every mmsp training config names this hook
    (``default_hooks.checkpoint.type='mmseg.AtomicCheckpointHook'``), so stock OpenMMLab tools
    use it too; ``tools/train.py`` also puts it in place of an mmengine ``CheckpointHook`` set
    with ``--cfg-options``.
    """

    def _save_checkpoint_with_step(self, runner, step: int, meta: dict) -> None:
        if not isinstance(self.file_backend, LocalBackend):
            return super()._save_checkpoint_with_step(runner, step, meta)
        outdated = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        if not is_main_process():
            return  # Runner.save_checkpoint writes on the main process only
        with atomic_write(self.last_ckpt) as tmp:
            runner.save_checkpoint(
                osp.dirname(tmp),
                osp.basename(tmp),
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler,
                meta=meta,
                by_epoch=self.by_epoch,
                **self.args)
        write_text_atomically(osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        if outdated is not None:
            self._remove(self.file_backend.join_path(self.out_dir,
                                                     self.filename_tmpl.format(outdated)))

    def _remove(self, path: str) -> None:
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):  # checkpoints saved by DeepSpeed are folders
            self.file_backend.rmtree(path)

    def _best_paths(self) -> Dict[Optional[str], Optional[str]]:
        if len(self.key_indicators) == 1:
            return {None: self.best_ckpt_path}
        return dict(self.best_ckpt_path_dict)

    def _set_best_paths(self, paths: Dict[Optional[str], Optional[str]]) -> None:
        for key, path in paths.items():
            if key is None:
                self.best_ckpt_path = path
            else:
                self.best_ckpt_path_dict[key] = path

    def _save_best_checkpoint(self, runner, metrics) -> None:
        """``CheckpointHook``'s, with a replaced best checkpoint deleted after its successor is
        written (mmengine deletes it first)."""
        if not self.save_best:
            return
        previous = self._best_paths()
        self._set_best_paths({key: None for key in previous})  # nothing to delete beforehand
        try:
            super()._save_best_checkpoint(runner, metrics)
        finally:
            current = self._best_paths()
            self._set_best_paths(
                {key: current[key] if current[key] is not None else path
                 for key, path in previous.items()})
        if is_main_process():
            for key, path in previous.items():
                if path is not None and current[key] is not None and current[key] != path:
                    self._remove(path)
                    runner.logger.info(f'The previous best checkpoint {path} is removed')


@HOOKS.register_module()
class CheckedLoadHook(Hook):
    """Load the Runner's ``load_from`` / ``resume`` checkpoint strictly, naming any mismatch.

    mmengine's Runner loads ``load_from`` with ``strict=False``: the checkpoint of another model
    (another architecture, another ``num_classes``, another model size) loads nothing or little,
    a warning scrolls by, and training or testing goes on with random weights. The Runner calls
    this hook right after reading the file (``after_load_checkpoint``, on every process); the
    hook loads the weights with :func:`mmsp.utils.load_state_dict_checked`, which raises
    :class:`~mmsp.utils.CheckpointMismatchError` naming the missing, unexpected and
    shape-mismatched keys. The Runner's own lenient load that follows then sees the same
    weights (the keys ``prefix`` leaves out are removed from the checkpoint first).

    ``tools/train.py``, ``tools/test.py`` and ``tools/eval_superpixels.py`` add it from the
    config keys ``load_strict`` (default True; ``--non-strict`` sets False) and ``load_prefix``
    (default ``''``; the zero-shot configs use ``'backbone.'`` to take a classifier's backbone)
    with :func:`mmsp.utils.add_checked_load_hook`.

    Args:
        strict (bool): refuse mismatches (True) or load what matches and log the rest (False,
            a deliberate partial load). Defaults to True.
        prefix (str): use only the checkpoint keys that start with it (names unchanged); not
            applied when resuming. Defaults to ``''``.
    """
    priority = 'VERY_HIGH'

    def __init__(self, strict: bool = True, prefix: str = '') -> None:
        self.strict = bool(strict)
        self.prefix = str(prefix or '')

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        resume = bool(runner.cfg.get('resume', False))
        prefix = '' if resume else self.prefix
        source = runner.cfg.get('load_from', None) or 'the checkpoint to resume'
        report = load_state_dict_checked(runner.model, state_dict_of(checkpoint), source,
                                         self.strict, prefix, runner.logger)
        unused = set(report['unused'])
        state_dict = checkpoint.get('state_dict', checkpoint)
        for key in [k for k in state_dict if revise_key(k) in unused]:
            del state_dict[key]  # the Runner's own load that follows sees the used keys only
