"""tools/analysis_tools/get_flops.py against a hand count of convolution multiply-adds."""
import pytest
import torch
from mmengine.config import Config
from tools_helpers import CLS_SMOKE, SEG_SMOKE, load_tool

from mmsp.utils import build_model_from_config


def _conv_macs(model, inputs, batch_norm=False):
    """Sum over Conv2d/Linear calls of output elements x multiply-adds per output element, plus
    (``batch_norm``) two operations per element of an affine eval-mode BatchNorm (mmengine's
    ``batchnorm_flop_jit``: scale and shift)."""
    total = []

    def hook(module, args, output):
        if isinstance(module, torch.nn.Conv2d):
            per_out = module.in_channels // module.groups * module.kernel_size[0] * \
                module.kernel_size[1]
        elif isinstance(module, torch.nn.Linear):
            per_out = module.in_features
        else:
            per_out = 2 if module.affine else 1
        total.append(output.numel() * per_out)

    kinds = (torch.nn.Conv2d, torch.nn.Linear) + ((torch.nn.BatchNorm2d, ) if batch_norm else ())
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, kinds)]
    with torch.no_grad():
        model(inputs, mode='tensor')
    for h in handles:
        h.remove()
    return sum(total)


def test_seg_flops_match_hand_count(capsys):
    result = load_tool('analysis_tools/get_flops').main([str(SEG_SMOKE), '--shape', '64', '96'])
    out = capsys.readouterr().out
    assert 'Input shape: (1, 3, 64, 96)' in out and 'Flops:' in out and 'Params:' in out
    model = build_model_from_config(Config.fromfile(str(SEG_SMOKE))).eval()
    # FCN (ResNetV1c + FCNHead): convolutions, plus 2 ops per eval-mode BN output element;
    # ReLU, max-pooling and additions are not counted by mmengine's (fvcore's) rules
    assert result['flops'] == _conv_macs(model, torch.rand(1, 3, 64, 96), batch_norm=True)
    assert result['params'] == sum(p.numel() for p in model.parameters())


def test_cls_config_and_square_shape(capsys):
    result = load_tool('analysis_tools/get_flops').main([str(CLS_SMOKE), '--shape', '32'])
    assert 'Input shape: (1, 3, 32, 32)' in capsys.readouterr().out
    model = build_model_from_config(Config.fromfile(str(CLS_SMOKE))).eval()
    assert result['params'] == sum(p.numel() for p in model.parameters())
    # convolutions + the linear classifier, plus the global average pooling's additions
    assert result['flops'] >= _conv_macs(model, torch.rand(1, 3, 32, 32)) > 0


def test_bad_shape():
    with pytest.raises(SystemExit):
        load_tool('analysis_tools/get_flops').parse_args([str(SEG_SMOKE), '--shape', '1', '2', '3'])
