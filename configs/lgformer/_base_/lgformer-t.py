# LGFormer-style two-level model on SPFormer-T (from scratch, 240x320 crops): the flat model of
# ./spformer-t_sp-linear.py plus three GCA layers after the last three global blocks (groups
# from a 1/4-side average pool of the superpixel grid: 4x5 = 20 groups at 240x320, 3 heads, one
# ViT block on the groups, ungrouping LayerScale 1e-5), and a HierSPHead: fine logits from the
# superpixels, coarse logits from the groups carried back to the superpixels, both projected to
# pixels through their own SCA association; loss_fine + loss_coarse (weights 1.0 / 1.0).
_base_ = ['./spformer-t_sp-linear.py']
model = dict(
    backbone=dict(
        group_cfg=dict(after_blocks=(9, 10, 11), num_heads=3, pool_ratio=4,
                       group_block_depth=1, ungroup_layer_scale=1e-5),
        out_groups=True),
    decode_head=dict(
        _delete_=True,
        type='HierSPHead',
        in_channels=(32, 192),
        channels=192,
        cell_size=4,
        association_heads=2,
        num_classes=11,
        num_coarse_classes=7,
        dropout_ratio=0.1,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, loss_name='loss_fine'),
        loss_coarse=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0,
            loss_name='loss_coarse')))
