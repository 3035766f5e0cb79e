"""A LoggerHook whose test-epoch JSON is written by one process only."""
import os.path as osp
from typing import Dict, Optional

from mmengine.dist import is_main_process
from mmengine.fileio import dump
from mmengine.hooks import LoggerHook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class MainProcessLoggerHook(LoggerHook):
    """mmengine's ``LoggerHook`` with the test-epoch metrics file written by rank 0 only.

    mmengine 0.10.7's ``LoggerHook.after_test_epoch`` dumps the metrics to
    ``<log_dir>/<timestamp>.json`` on every rank. In a distributed test all ranks share that
    path, so they write the same file at once, and a shorter line written over a longer one
    leaves its tail behind: the file is then not valid JSON (seen in ``tools/dist_test.sh`` with
    two CPU processes). The metrics are the same on every rank (the evaluator gathers them), so
    rank 0 writes the file and the others only log. Everything else is ``LoggerHook``'s.
    ``tools/test.py`` uses it in place of a configured ``LoggerHook``.
    """

    def after_test_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        tag, log_str = runner.log_processor.get_log_after_epoch(
            runner, len(runner.test_dataloader), 'test', with_non_scalar=True)
        runner.logger.info(log_str)
        if is_main_process():
            dump(self._process_tags(tag), osp.join(runner.log_dir, self.json_log_path))
