"""MainProcessLoggerHook: the test metrics JSON is written by rank 0 only."""
import json
from types import SimpleNamespace
from unittest import mock

import pytest

import mmsp.engine.hooks.logger_hook as logger_module
from mmsp.engine.hooks import MainProcessLoggerHook


def _runner(tmp_path):
    processor = mock.Mock()
    processor.get_log_after_epoch.return_value = ({'mIoU': 12.5, 'time': 0.1}, 'test done')
    return SimpleNamespace(log_processor=processor, test_dataloader=[0, 1, 2],
                           logger=mock.Mock(), log_dir=str(tmp_path))


@pytest.mark.parametrize('main', [True, False])
def test_only_the_main_process_writes_the_metrics(tmp_path, monkeypatch, main):
    monkeypatch.setattr(logger_module, 'is_main_process', lambda: main)
    hook = MainProcessLoggerHook()
    hook.json_log_path = 'metrics.json'  # set by before_run from the runner's timestamp
    runner = _runner(tmp_path)
    hook.after_test_epoch(runner)
    runner.logger.info.assert_called_once_with('test done')  # every rank logs
    path = tmp_path / 'metrics.json'
    assert path.exists() == main
    if main:
        assert json.loads(path.read_text()) == {'mIoU': 12.5, 'time': 0.1}
