"""Every config under configs/ parses, loads mmsp, names registered components and builds its model.

Nothing is skipped: a config whose model needs an optional package that is not installed fails
here (the stack installed by tools/setup_env.sh has everything the shipped configs use).
"""
import copy
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DATASETS, HOOKS, METRICS

from mmsp.engine.hooks import AtomicCheckpointHook
from mmsp.utils import build_model_from_config, config_family

CONFIG_ROOT = Path(__file__).resolve().parents[1] / 'configs'
CONFIGS = sorted(p for p in CONFIG_ROOT.rglob('*.py') if '_base_' not in p.parts)
BASES = sorted(p for p in CONFIG_ROOT.rglob('*.py') if '_base_' in p.parts)


def _ids(paths):
    return [str(p.relative_to(CONFIG_ROOT)) for p in paths]


def test_there_are_configs():
    assert CONFIGS and BASES


@pytest.mark.parametrize('path', BASES, ids=_ids(BASES))
def test_base_config_parses(path):
    Config.fromfile(str(path))


def _registered(registry, name, scope):
    """Look ``name`` up the way ``registry.build`` would under ``scope``."""
    with registry.switch_scope_and_registry(scope) as scoped:
        return scoped.get(name)


def _typed(cfg_value):
    """The ``type`` names of a dataset/evaluator entry (dict, list of dicts, wrappers)."""
    if isinstance(cfg_value, dict):
        found = [(cfg_value['type'], cfg_value.get('_scope_'))] if 'type' in cfg_value else []
        for key in ('dataset', 'datasets'):
            inner = cfg_value.get(key)
            if inner is not None:
                found += _typed(inner)
        return found
    if isinstance(cfg_value, (list, tuple)):
        return [t for item in cfg_value for t in _typed(item)]
    return []


@pytest.mark.parametrize('path', CONFIGS, ids=_ids(CONFIGS))
def test_config_builds(path):
    cfg = Config.fromfile(str(path))
    assert 'mmsp' in cfg.custom_imports['imports'], 'mmsp configs must import the plugin'
    assert cfg.custom_imports.get('allow_failed_imports') is False
    config_family(cfg)  # mmseg or mmpretrain default_scope
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(loader):
            assert cfg[loader].get('num_workers', 0) > 0 or \
                not cfg[loader].get('persistent_workers', False), \
                f'{loader}: persistent_workers=True needs num_workers > 0'
            for name, scope in _typed(cfg[loader].dataset):
                assert _registered(DATASETS, name, scope or cfg.default_scope) is not None, \
                    f'{loader}: unknown dataset {name}'
    for evaluator in ('val_evaluator', 'test_evaluator'):
        for name, scope in _typed(cfg.get(evaluator)):
            assert _registered(METRICS, name, scope or cfg.default_scope) is not None, \
                f'{evaluator}: unknown metric {name}'
    if cfg.get('train_cfg'):  # checkpoints are written atomically, with any training tool
        hook = cfg.default_hooks.checkpoint
        assert hook.type == 'mmseg.AtomicCheckpointHook', f'checkpoint hook {hook.type}'
        with HOOKS.switch_scope_and_registry(cfg.default_scope) as hooks:
            assert isinstance(hooks.build(copy.deepcopy(hook)), AtomicCheckpointHook)
    model = build_model_from_config(cfg)
    assert isinstance(model, torch.nn.Module)  # parameter-free baselines (SLIC, grids) exist
