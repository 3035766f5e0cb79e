"""tools/misc/publish_model.py: runner checkpoint -> tensors + plain metadata
(weights_only-safe)."""
import collections
import hashlib
import os

import numpy as np
import pytest
import torch
from tools_helpers import load_tool

from mmsp.utils import UnsafeCheckpointError, load_from_local_safe


def _load_with_torch_defaults_only(path):
    """torch.load(weights_only=True) with an empty user allow-list (as a stranger would)."""
    saved = list(torch.serialization.get_safe_globals())
    torch.serialization.clear_safe_globals()
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    finally:
        torch.serialization.add_safe_globals(saved)


def test_published_checkpoint_is_plain(seg_run_4iters, tmp_path):
    src = seg_run_4iters / 'iter_4.pth'
    out = load_tool('misc/publish_model').main([str(src), str(tmp_path / 'model.pth')])
    name = os.path.basename(out)
    digest = hashlib.sha256(open(out, 'rb').read()).hexdigest()
    assert name == f'model-{digest[:8]}.pth'
    assert torch.serialization.get_unsafe_globals_in_checkpoint(out) == []
    published = _load_with_torch_defaults_only(out)
    assert set(published) == {'meta', 'state_dict'}
    original = load_from_local_safe(str(src))
    assert published['state_dict'].keys() == original['state_dict'].keys()
    for key, value in original['state_dict'].items():
        assert torch.equal(published['state_dict'][key], value)
    meta = published['meta']
    assert meta['iter'] == 4 and 'cfg' not in meta and meta['mmengine_version']
    assert meta['dataset_meta']['classes'][0] == 'Sky'
    assert meta['dataset_meta']['label_map'][11] == 255  # int keys survive
    # runner checkpoints are NOT loadable this way (that is why the tool exists)
    with pytest.raises(Exception):
        _load_with_torch_defaults_only(str(src))


def test_keep_cfg_and_no_hash(seg_run_4iters, tmp_path):
    out = load_tool('misc/publish_model').main(
        [str(seg_run_4iters / 'iter_2.pth'), str(tmp_path / 'm.pth'), '--no-hash', '--keep-cfg'])
    assert out == str(tmp_path / 'm.pth')
    meta = _load_with_torch_defaults_only(out)['meta']
    assert 'decode_head' in meta['cfg'] and meta['iter'] == 2


def test_untrusted_input_needs_explicit_trust(seg_run_4iters, tmp_path):
    good = load_from_local_safe(str(seg_run_4iters / 'iter_2.pth'))
    src = tmp_path / 'foreign.pth'
    torch.save(dict(good, extra=collections.defaultdict(int)), src)
    publish = load_tool('misc/publish_model')
    with pytest.raises(UnsafeCheckpointError, match='collections.defaultdict'):
        publish.main([str(src), str(tmp_path / 'a.pth')])
    out = publish.main([str(src), str(tmp_path / 'b.pth'), '--trust-input'])
    assert set(_load_with_torch_defaults_only(out)) == {'meta', 'state_dict'}


def test_bad_inputs(tmp_path):
    publish = load_tool('misc/publish_model')
    bad = tmp_path / 'bad.pth'
    torch.save({'state_dict': {'w': torch.ones(1), 'step': 3}}, bad)
    with pytest.raises(ValueError, match="'step'"):
        publish.main([str(bad), str(tmp_path / 'o.pth')])
    empty = tmp_path / 'empty.pth'
    torch.save({'state_dict': {}}, empty)
    with pytest.raises(ValueError, match='empty'):
        publish.main([str(empty), str(tmp_path / 'o.pth')])
    assert publish.to_plain({'a': (np.float32(1.5), np.arange(2))}) == {'a': (1.5, [0, 1])}
    with pytest.raises(TypeError, match=r'meta\.x'):
        publish.to_plain({'x': object()})
