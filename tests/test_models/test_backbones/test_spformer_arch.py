"""SPFormer arch zoo, validation errors, ablation switches and mmengine conventions."""
import pytest
import torch
from torch import nn

from mmsp.models.backbones import ARCH_ZOO, SPFormer, resolve_arch, resolve_stride
from mmsp.models.utils import SuperpixelCrossAttention

TINY = dict(pixel_dims=8, embed_dims=16, depths=(1, 2), num_heads=2, sp_heads=2, sp_iter=2)


def test_arch_zoo_matches_spec_table():
    expected = {  # arXiv 2401.02931 variants: Cp, Cs, depths, ViT heads, SCA heads
        'tiny': (32, 192, (2, 10), 3, (2, 2)),
        'small': (64, 384, (2, 10), 6, (2, 2)),
        'base': (96, 768, (2, 10), 12, (3, 3)),
    }
    for name, (cp, cs, depths, heads, sp_heads) in expected.items():
        a = resolve_arch(name)
        assert (a['pixel_dims'], a['embed_dims'], a['depths'], a['num_heads'], a['sp_heads'],
                a['sp_iter'], a['feedforward_channels']) == (cp, cs, depths, heads, sp_heads,
                                                             (2, 2), 4 * cs)
        assert resolve_arch(name[0].upper()) == a
    assert set(ARCH_ZOO) == {'t', 'tiny', 's', 'small', 'b', 'base'}


def test_custom_arch_dict_and_per_stage_values():
    a = resolve_arch(dict(TINY, sp_heads=(1, 2), sp_iter=(1, 3), feedforward_channels=24))
    assert a['sp_heads'] == (1, 2) and a['sp_iter'] == (1, 3)
    model = SPFormer(arch=dict(TINY, sp_heads=(1, 2), sp_iter=(1, 3)))
    assert [len(s.sca) for s in model.stages] == [1, 3]
    assert [s.sca[0].num_heads for s in model.stages] == [1, 2]


@pytest.mark.parametrize('arch,match', [
    ('huge', 'unknown arch'),
    (dict(TINY, extra=1), r"unknown keys \['extra'\]"),
    ({
        k: v
        for k, v in TINY.items() if k != 'num_heads'
    }, r"missing keys \['num_heads'\]"),
    (dict(TINY, num_heads=3), 'num_heads=3 must divide embed_dims=16'),
    (dict(TINY, sp_heads=3), 'sp_heads=3 must divide pixel_dims=8'),
    (dict(TINY, sp_heads=(2, 2, 2)), 'sp_heads must be a positive int or 2'),
    (dict(TINY, sp_iter=0), 'sp_iter must be a positive int'),
    (dict(TINY, depths=()), 'at least one stage'),
    (dict(TINY, depths=(2, 0)), 'depths must be'),
    (dict(TINY, embed_dims=16.0), 'embed_dims must be'),
    (['small'], 'arch must be a str or dict'),
])
def test_invalid_arch_raises(arch, match):
    with pytest.raises(ValueError, match=match):
        SPFormer(arch=arch)


def test_strides():
    assert resolve_stride(16) == ('conv4', 4, 4)
    assert resolve_stride(32) == ('conv8', 8, 4)
    assert resolve_stride(56) == ('ccc8', 8, 7)
    assert resolve_stride(16, 'conv8') == ('conv8', 8, 2)
    assert resolve_stride(24, 'cc4') == ('cc4', 4, 6)
    for stride, stem, match in [(20, None, 'no default stem for superpixel_stride=20'),
                                (0, None, 'positive int'), (16.0, None, 'positive int'),
                                (20, 'conv8', 'not a multiple of the .conv8. stem stride 8'),
                                (16, 'conv5', 'unknown stem_type')]:
        with pytest.raises(ValueError, match=match):
            SPFormer(arch=TINY, superpixel_stride=stride, stem_type=stem)


def test_stems_build_the_named_convs():
    convs = {
        stem: [(m.kernel_size[0], m.stride[0], m.out_channels)
               for m in SPFormer(arch='small', superpixel_stride=st, stem_type=stem).stem.modules()
               if isinstance(m, nn.Conv2d)]
        for stem, st in [('conv4', 16), ('conv8', 32), ('cc4', 16), ('ccc8', 56)]
    }
    assert convs == {
        'conv4': [(4, 4, 64)],
        'conv8': [(8, 8, 64)],
        'cc4': [(3, 2, 32), (3, 2, 64)],
        'ccc8': [(3, 2, 16), (3, 2, 32), (3, 2, 64)],
    }


def test_other_argument_errors():
    for kwargs, match in [(dict(out_indices=3), 'out of range for 3 blocks'),
                          (dict(out_indices=()), 'out of range'),
                          (dict(out_type='cls_token'), 'out_type must be one of'),
                          (dict(out_type='avg_featmap', out_pixels=True), 'need out_type'),
                          (dict(frozen_stages=3), r'frozen_stages must be in \[-1, 2\]'),
                          (dict(img_size=(1, 2, 3)), 'img_size')]:
        with pytest.raises(ValueError, match=match):
            SPFormer(arch=TINY, **kwargs)


def test_ablation_switches_change_structure():
    full = SPFormer(arch='small', superpixel_stride=32)
    iter1 = SPFormer(arch='small', superpixel_stride=32, sp_iter=1)
    stage1 = SPFormer(arch='small', superpixel_stride=32, depths=(12, ))
    head1 = SPFormer(arch='small', superpixel_stride=32, sp_heads=1)

    def sca_heads(model):
        return [[layer.num_heads for layer in stage.sca] for stage in model.stages]

    assert sca_heads(full) == [[2, 2], [2, 2]]
    assert sca_heads(iter1) == [[2], [2]]
    assert sca_heads(stage1) == [[2, 2]]
    assert sca_heads(head1) == [[1, 1], [1, 1]]
    assert [len(s.blocks) for s in stage1.stages] == [12]
    assert stage1.stages[0].unfold is None and full.stages[0].unfold is not None
    assert [len(s.blocks) for s in full.stages] == [2, 10]
    # only the final stage's last SCA layer skips the (unused) pixel update
    assert [[layer.update_pixels for layer in s.sca] for s in full.stages] == [[True, True],
                                                                               [True, False]]
    img = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert head1.eval().forward_association(img).shape[1] == 1
        assert full.eval().forward_association(img).shape[1] == 2
    counts = [sum(p.numel() for p in m.parameters()) for m in (full, iter1, stage1, head1)]
    assert counts[1] < counts[0] and counts[2] < counts[0] and counts[3] == counts[0]


def test_default_init():
    torch.manual_seed(0)
    model = SPFormer(arch='small')
    model.init_weights()
    pe = model.stages[1].pos_embed
    assert 0.017 < pe.std() < 0.023 and pe.abs().max() <= 2  # mmengine/timm: cut at +-2
    sca = model.stages[0].sca[0]
    assert isinstance(sca, SuperpixelCrossAttention)
    assert 0.017 < sca.pixel_qkv.weight.std() < 0.023
    torch.testing.assert_close(sca.gamma_superpixel, torch.full_like(sca.gamma_superpixel, 1e-5))
    torch.testing.assert_close(model.stages[0].unfold.gamma,
                               torch.full_like(model.stages[0].unfold.gamma, 1e-5))
    fc1 = model.stages[1].blocks[3].mlp.fc1
    assert 0.017 < fc1.weight.std() < 0.023 and not fc1.bias.any()
    stem = model.stem.layers[0]  # Kaiming normal, fan-out = 64 * 4 * 4
    assert abs(stem.weight.std() / (2 / (64 * 16))**0.5 - 1) < 0.1


def test_frozen_stages_and_norm_eval():
    model = SPFormer(
        arch=TINY, frozen_stages=1, norm_eval=True,
        norm2d_cfg=dict(type='BN'))  # BN in the stem to exercise norm_eval
    model.train()
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert frozen and all(n.startswith(('stem.', 'superpixel_init.', 'stages.0.')) for n in frozen)
    assert all(p.requires_grad for n, p in model.named_parameters() if n.startswith('stages.1.'))
    assert not model.stem.training and not model.stages[0].training
    assert model.stages[1].training
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)
    everything = SPFormer(arch=TINY, frozen_stages=2, out_type='avg_featmap').train()
    assert not any(p.requires_grad for p in everything.parameters())


def test_get_layer_depth():
    model = SPFormer(arch='small')  # depths (2, 10): 12 blocks, 14 "layers"
    cases = {
        'backbone.stem.layers.0.weight': 0,
        'backbone.superpixel_init.lift.weight': 0,
        'backbone.stages.0.sca.1.pixel_qkv.weight': 0,
        'backbone.stages.0.pos_embed': 0,
        'backbone.stages.0.blocks.0.attn.qkv.weight': 1,
        'backbone.stages.0.blocks.1.mlp.fc2.bias': 2,
        'backbone.stages.0.unfold.proj.weight': 2,
        'backbone.stages.1.sca.0.gamma_pixel': 2,
        'backbone.stages.1.pos_embed': 2,
        'backbone.stages.1.blocks.0.norm1.weight': 3,
        'backbone.stages.1.blocks.9.norm2.weight': 12,
        'backbone.out_norms.0.weight': 13,
        'head.fc.weight': 13,
    }
    for name, depth in cases.items():
        assert model.get_layer_depth(name, 'backbone.') == (depth, 14), name
    # every real parameter gets a depth in range
    for name, _ in model.named_parameters():
        depth, total = model.get_layer_depth(name)
        assert 0 <= depth < total
