"""tools/analysis_tools/plot_curve.py: one panel per scale, legible size."""
import json

import cv2
from tools_helpers import load_tool


def _scalars(path):
    rows = [dict(loss=2.0 - 0.1 * i, iter=i, step=i) for i in range(1, 11)]
    for it in (5, 10):
        rows.append(dict({'mIoU': 10.0 + it, 'aAcc': 50.0 + it, 'accuracy/top1': 30.0,
                          'sp/ASA': 0.8, 'sp/BR': 0.5, 'sp/num_superpixels': 170.0,
                          'sp/UE_levinshtein': 6.5}, step=it))
    path.write_text('\n'.join(json.dumps(r) for r in rows) + '\n')
    return path


def test_metrics_are_grouped_by_scale():
    tool = load_tool('analysis_tools/plot_curve')
    panel = tool.metric_panel
    assert panel('mIoU', [(1, 0.5)]) == 'metrics in %'  # by name, even below 1
    assert panel('accuracy/top1', [(1, 54.3)]) == 'metrics in %'
    assert panel('sp/sp_mIoU', [(1, 47.0)]) == 'metrics in %'
    assert panel('sp/ASA', [(1, 0.9)]) == 'scores in [0, 1]'
    assert panel('sp/num_superpixels', [(1, 0.9)]) == 'counts'
    assert panel('sp/UE_levinshtein', [(1, 6.9)]) == 'other values'


def test_png_has_one_panel_per_scale(tmp_path):
    tool = load_tool('analysis_tools/plot_curve')
    from mmsp.utils.logs import read_scalars
    losses, metrics = read_scalars(_scalars(tmp_path / 'scalars.json'))
    groups = tool.group_series(losses, metrics)
    assert list(groups) == list(tool.PANELS)
    assert set(groups['metrics in %']) == {'mIoU', 'aAcc', 'accuracy/top1'}
    assert set(groups['training loss']) == {'train loss', 'running mean'}
    out = tool.plot(losses, metrics, 'run', tmp_path / 'curve.png')
    img = cv2.imread(str(out))
    assert img is not None and img.shape[1] <= 2000 and img.shape[0] <= 2000
    # only the loss: one panel, narrower
    single = cv2.imread(str(tool.plot(losses, {}, 'run', tmp_path / 'loss.png')))
    assert single.shape[1] < img.shape[1] / 2
