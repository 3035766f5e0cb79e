"""tools/test.py replaces a configured LoggerHook by MainProcessLoggerHook, in both families."""
import pytest
from mmengine.registry import DefaultScope
from tools_helpers import CLS_SMOKE, SEG_SMOKE, load_tool

from mmsp.engine.hooks import MainProcessLoggerHook


@pytest.mark.parametrize('config,scope', [(SEG_SMOKE, 'mmseg'), (CLS_SMOKE, 'mmpretrain')])
def test_logger_hook_is_replaced_and_builds(tmp_path, config, scope):
    tool = load_tool('test')
    checkpoint = tmp_path / 'iter_2.pth'
    checkpoint.write_bytes(b'')  # build_config only checks that it exists
    cfg = tool.build_config(tool.parse_args([str(config), str(checkpoint)]))
    assert cfg.default_hooks.logger.type == 'mmseg.MainProcessLoggerHook'
    from mmengine.registry import HOOKS
    with DefaultScope.overwrite_default_scope(scope):
        hook = HOOKS.build(cfg.default_hooks.logger)
    assert isinstance(hook, MainProcessLoggerHook)
    assert hook.interval == cfg.default_hooks.logger.get('interval', hook.interval)
