# Export smoke config: the smallest SP-head segmentor (ResNetV1c-18 at 1/8 width + a 16-channel
# SPTransformerHead, 4x4-pixel cells at stride 4) for tools/deployment/pytorch2onnx.py and
# tests/test_tools/test_pytorch2onnx.py. Model only (no data, no schedule); not a useful model.
default_scope = 'mmseg'
custom_imports = dict(imports=['mmsp'], allow_failed_imports=False)
model = dict(
    type='SPEncoderDecoder',
    backbone=dict(type='ResNetV1c', depth=18, stem_channels=8, base_channels=8,
                  norm_cfg=dict(type='BN'), out_indices=(0, 1, 2, 3)),
    decode_head=dict(type='SPTransformerHead', in_channels=[8, 16, 32, 64],
                     in_index=[0, 1, 2, 3], channels=16, cell_size=4, query_grid=(4, 6),
                     num_iterations=1, num_layers=1, num_attn_heads=2, num_classes=5,
                     norm_cfg=dict(type='BN'), dropout_ratio=0.0),
    test_cfg=dict(mode='whole'))
