"""tools/prototypes/fused_pixel_side.py: the prototype kernel computes what mmsp's ops compute.

It compiles a small C++ extension (~25 s); skipped where no C++ compiler or ninja is found.
"""
import importlib.util
import shutil

import pytest
import torch
from tools_helpers import REPO_ROOT


def _ninja() -> bool:
    try:
        from torch.utils.cpp_extension import verify_ninja_availability
        verify_ninja_availability()
        return True
    except RuntimeError:
        return False


pytestmark = pytest.mark.skipif(
    shutil.which('c++') is None or not _ninja(), reason='needs a C++ compiler and ninja')


@pytest.fixture(scope='module')
def proto():
    path = REPO_ROOT / 'tools' / 'prototypes' / 'fused_pixel_side.py'
    spec = importlib.util.spec_from_file_location('mmsp_proto_fused_pixel_side_tool', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, module.build()


@pytest.mark.parametrize('batch,size', [(1, (56, 56)), (2, (10, 13)), (1, (4, 4))])
def test_kernel_matches_mmsp_ops(proto, batch, size):
    module, kernel = proto
    inp = module.make_inputs(batch, *size, seed=batch)
    with torch.no_grad():
        ref_x, ref_logits = module.reference(inp)
        got_x, got_logits = module.fused(kernel, inp)
    assert got_x.shape == ref_x.shape and got_logits.shape == ref_logits.shape
    torch.testing.assert_close(got_x, ref_x, rtol=1e-5, atol=1e-5)
    assert torch.equal(torch.isinf(got_logits), torch.isinf(ref_logits))
    finite = torch.isfinite(ref_logits)
    torch.testing.assert_close(got_logits[finite], ref_logits[finite], rtol=1e-5, atol=1e-5)


def test_kernel_refuses_other_dtypes(proto):
    module, kernel = proto
    inp = module.make_inputs(1, 8, 8)
    inp['cells'] = inp['cells'].double()
    with pytest.raises(RuntimeError, match='float32'):
        module.fused(kernel, inp)


def test_main_reports_both(proto, capsys):
    module, _ = proto
    results = module.main(['--batch-sizes', '1', '--rounds', '1', '--threads', '1'])
    assert set(results[1]) == {'mmsp ops', 'fused'} and min(results[1].values()) > 0
    assert 'batch   1' in capsys.readouterr().out
