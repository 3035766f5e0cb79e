"""CamVid road scenes (SegNet release): 11 classes plus ``Unlabelled`` (mapped to ignore);
single frames and clips of consecutive frames."""
import os.path as osp
import re
from typing import Dict, List, Optional, Tuple

import mmengine
import mmengine.fileio as fileio
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from .checks import CheckLabelValuesMixin, NameFilesOnErrorMixin, check_seg_pair

__all__ = [
    'CamVidDataset', 'CamVidClipDataset', 'list_seg_pairs', 'parse_frame_stem',
    'CAMVID_COARSE_CLASSES', 'CAMVID_FINE_TO_COARSE'
]

#: Seven of the Cityscapes class categories (Cordts et al., CVPR 2016, arXiv 1604.01685), the
#: coarse level of the CamVid classes.
CAMVID_COARSE_CLASSES = ('flat', 'construction', 'object', 'nature', 'sky', 'human', 'vehicle')

#: Coarse category of every raw CamVid id (``CamVidDataset.METAINFO['classes']`` order):
#: Sky -> sky; Building, Fence -> construction; Pole, SignSymbol -> object; Road, Pavement ->
#: flat; Tree -> nature; Car -> vehicle; Pedestrian, Bicyclist -> human; Unlabelled (id 11,
#: which the dataset already maps to 255) -> 255. For :class:`~mmsp.datasets.transforms.MapLabels`.
CAMVID_FINE_TO_COARSE = (4, 1, 2, 0, 0, 3, 2, 1, 6, 5, 5, 255)


def list_seg_pairs(img_dir: str,
                   ann_dir: Optional[str],
                   img_suffix: str,
                   seg_map_suffix: str,
                   ann_file: str = '',
                   backend_args: Optional[dict] = None) -> List[Dict[str, str]]:
    """(image, annotation) path pairs, from a split file of stems or by scanning ``img_dir``.

    Args:
        img_dir (str): image folder.
        ann_dir (str, optional): annotation folder; ``None`` for images only.
        img_suffix (str): image file ending, e.g. ``'.jpg'``.
        seg_map_suffix (str): annotation file ending, e.g. ``'.png'``.
        ann_file (str): optional text file, one stem (path relative to ``img_dir`` without the
            suffix) per line. Empty: every ``*img_suffix`` file under ``img_dir`` (recursive).
        backend_args (dict, optional): mmengine file backend arguments.

    Returns:
        list[dict]: ``img_path`` (and ``seg_map_path``) per sample, sorted by image path.

    Raises:
        FileNotFoundError: the split file or the image folder does not exist.
        ValueError: no sample: the split file lists no stem, or the folder holds no
            ``*img_suffix`` file (the message names the file or folder).
    """
    if ann_file:
        if not fileio.exists(ann_file, backend_args=backend_args):
            raise FileNotFoundError(f'split file (ann_file) not found: {ann_file}')
        stems = [s.strip() for s in mmengine.list_from_file(ann_file, backend_args=backend_args)]
        stems = [s for s in stems if s]
    else:
        if not osp.isdir(img_dir) and backend_args is None:
            raise FileNotFoundError(f'image folder not found: {img_dir}')
        stems = [
            f[:-len(img_suffix)] for f in fileio.list_dir_or_file(
                dir_path=img_dir,
                list_dir=False,
                suffix=img_suffix,
                recursive=True,
                backend_args=backend_args)
        ]
    if not stems:
        where = (f'split file (ann_file) {ann_file} lists no sample' if ann_file else
                 f'image folder {img_dir} holds no *{img_suffix} file')
        raise ValueError(f'empty dataset: the {where}')
    pairs = []
    for stem in sorted(stems):
        info = dict(img_path=osp.join(img_dir, stem + img_suffix))
        if ann_dir is not None:
            info['seg_map_path'] = osp.join(ann_dir, stem + seg_map_suffix)
        pairs.append(info)
    return pairs


@DATASETS.register_module()
class CamVidDataset(NameFilesOnErrorMixin, CheckLabelValuesMixin, BaseSegDataset):
    """CamVid (SegNet release, 480x360): 11 classes, ``Unlabelled`` (id 11) mapped to ignore.

    Folder layout (``../shared/data/camvid`` in this project)::

        camvid/
        ├── images/{train,val}/<stem>.jpg
        └── labels/{train,val}/<stem>.png   # 8-bit ids 0..10, 11 = Unlabelled

    Use ``data_prefix=dict(img_path='images/train', seg_map_path='labels/train')``.

    Label handling: every annotation passes through a ``label_map`` that sends id 11
    (``Unlabelled``) to ``ignore_index`` (255 by default); mmseg's ``LoadAnnotations`` applies
    it. A class subset given through ``metainfo=dict(classes=...)`` is composed with that map
    (mmseg sends dropped classes to 255; here they go to ``ignore_index``, which is 255 unless
    set otherwise, so that they are ignored and not scored as a class).

    Checks at construction (``check_files=True``, local files only; reads image headers, not
    pixels): a missing image or annotation raises ``FileNotFoundError`` naming the file; an
    annotation whose size differs from its image, or a colour-coded (RGB) annotation, raises
    ``ValueError`` naming both files; so does a 16-bit annotation with values above 255, and
    an empty split file or image folder. After the pipeline, every sample's labels must be
    class indices or ``ignore_index`` (:class:`~mmsp.datasets.checks.CheckLabelValuesMixin`):
    another value (e.g. 200) raises ``ValueError`` naming the annotation file and the values, in
    training and evaluation. Grey-scale, palette and RGBA photographs are accepted:
    ``LoadImageFromFile`` (default ``color_type='color'``) returns 3-channel BGR for them (grey
    replicated, alpha dropped).

    Args:
        img_suffix (str): image ending. Defaults to ``'.jpg'``.
        seg_map_suffix (str): annotation ending. Defaults to ``'.png'``.
        check_files (bool): run the file checks above. Defaults to True.
        **kwargs: :class:`mmseg.datasets.BaseSegDataset` arguments (``data_root``,
            ``data_prefix``, ``ann_file`` with one stem per line, ``pipeline``, ...).
    """
    METAINFO = dict(
        classes=('Sky', 'Building', 'Pole', 'Road', 'Pavement', 'Tree', 'SignSymbol', 'Fence',
                 'Car', 'Pedestrian', 'Bicyclist'),
        palette=[[128, 128, 128], [128, 0, 0], [192, 192, 128], [128, 64, 128], [60, 40, 222],
                 [128, 128, 0], [192, 128, 128], [64, 64, 128], [64, 0, 128], [64, 64, 0],
                 [0, 128, 192]])
    #: Raw annotation id of ``Unlabelled``.
    UNLABELLED_ID = 11

    def __init__(self,
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 check_files: bool = True,
                 **kwargs) -> None:
        self.check_files = check_files
        if kwargs.get('reduce_zero_label', False):
            raise ValueError('CamVidDataset: reduce_zero_label must be False (id 0 is Sky, a '
                             'real class; Unlabelled is id 11)')
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)

    def _full_label_map(self) -> Dict[int, int]:
        """The class-subset map of mmseg (if any, dropped classes to ``ignore_index`` rather
        than mmseg's fixed 255) plus ``Unlabelled -> ignore_index``."""
        label_map = {old: (self.ignore_index if new == 255 else new)
                     for old, new in (self.label_map or {}).items()}
        label_map[self.UNLABELLED_ID] = self.ignore_index
        return label_map

    def load_data_list(self) -> List[dict]:
        """List the (image, annotation) pairs, check them and attach the label map.

        Returns:
            list[dict]: ``img_path``, ``seg_map_path``, ``label_map``, ``reduce_zero_label``
            and ``seg_fields`` per sample.
        """
        label_map = self._full_label_map()
        self._metainfo['label_map'] = label_map
        ann_dir = self.data_prefix.get('seg_map_path', None)
        pairs = list_seg_pairs(
            self.data_prefix.get('img_path', ''), ann_dir or None, self.img_suffix,
            self.seg_map_suffix, self.ann_file, self.backend_args)
        data_list = []
        for info in pairs:
            if self.check_files and self.backend_args is None:
                check_seg_pair(info['img_path'], info.get('seg_map_path'))
            info.update(label_map=label_map, reduce_zero_label=False, seg_fields=[])
            data_list.append(info)
        return data_list


#: ``<sequence>_<letters><frame number>``: ``0016E5_07959``, ``0006R0_f00930``.
_FRAME_STEM = re.compile(r'^(?P<sequence>.+)_[A-Za-z]*(?P<frame>\d+)$')


def parse_frame_stem(path: str) -> Tuple[str, int]:
    """``(sequence, frame number)`` of a CamVid frame file: ``.../0016E5_07959.jpg`` ->
    ``('0016E5', 7959)``, ``0006R0_f00930`` -> ``('0006R0', 930)``.

    Raises:
        ValueError: a name without a ``_<frame number>`` ending.
    """
    stem = osp.splitext(osp.basename(path))[0]
    match = _FRAME_STEM.match(stem)
    if match is None:
        raise ValueError(f'{path}: cannot read a sequence and frame number from {stem!r}; '
                         f'expected <sequence>_<frame number>, e.g. 0016E5_07959')
    return match['sequence'], int(match['frame'])


@DATASETS.register_module()
class CamVidClipDataset(CamVidDataset):
    """Clips of ``clip_len`` consecutive CamVid frames (for video models such as SPFormer3D).

    Frames are grouped by the sequence prefix of their names and ordered by frame number
    (:func:`parse_frame_stem`); two frames are consecutive when their numbers differ by at most
    ``max_step``, so a sequence splits into *runs* wherever frames are missing. Clips start every
    ``clip_stride`` frames inside a run; a run's last frames that do not fill a clip are not
    used. In the SegNet release, val is one run of 101 frames at 15 Hz (``0016E5_07959 ..
    08159``, step 2: ``max_step=2``, ``clip_len=8``, ``clip_stride=8`` gives 12 clips), and
    train holds runs at 1 Hz (step 30: ``max_step=30``).

    Each sample lists its frames: ``img_path`` and ``seg_map_path`` are lists of ``clip_len``
    paths, with ``frame_ids``, ``sequence`` and ``clip_len``. Load them with
    :class:`~mmsp.datasets.transforms.ClipTransform` around the usual per-image transforms and
    pack with :class:`~mmsp.datasets.transforms.PackClipSegInputs`: images (3, T, H, W) and
    labels (T, H, W), 255 where unlabelled.

    Args:
        clip_len (int): frames per clip ``T``. Defaults to 8.
        clip_stride (int): frames between the first frames of consecutive clips of a run
            (``clip_len``: non-overlapping). Defaults to ``clip_len``.
        max_step (int): largest frame-number step within a run. Defaults to 1.
        **kwargs: :class:`CamVidDataset` arguments.
    """

    def __init__(self,
                 clip_len: int = 8,
                 clip_stride: Optional[int] = None,
                 max_step: int = 1,
                 **kwargs) -> None:
        clip_stride = clip_len if clip_stride is None else clip_stride
        for name, value in (('clip_len', clip_len), ('clip_stride', clip_stride),
                            ('max_step', max_step)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f'CamVidClipDataset: {name} must be a positive int, '
                                 f'got {value!r}')
        self.clip_len, self.clip_stride, self.max_step = clip_len, clip_stride, max_step
        super().__init__(**kwargs)

    def load_data_list(self) -> List[dict]:
        """Group the checked frames of :meth:`CamVidDataset.load_data_list` into clips.

        Returns:
            list[dict]: per clip ``img_path``, ``seg_map_path`` (lists of ``clip_len``),
            ``frame_ids``, ``sequence``, ``clip_len``, ``label_map``, ``reduce_zero_label``
            and ``seg_fields``.
        """
        sequences: Dict[str, List[Tuple[int, dict]]] = {}
        for info in super().load_data_list():
            sequence, frame = parse_frame_stem(info['img_path'])
            sequences.setdefault(sequence, []).append((frame, info))
        clips = []
        for sequence in sorted(sequences):
            frames = sorted(sequences[sequence], key=lambda item: item[0])
            runs, run = [], [frames[0]]
            for prev, item in zip(frames, frames[1:]):
                if item[0] - prev[0] > self.max_step:
                    runs.append(run)
                    run = []
                run.append(item)
            runs.append(run)
            for run in runs:
                for start in range(0, len(run) - self.clip_len + 1, self.clip_stride):
                    clip = run[start:start + self.clip_len]
                    first = clip[0][1]
                    clips.append(
                        dict(
                            img_path=[info['img_path'] for _, info in clip],
                            seg_map_path=[info.get('seg_map_path') for _, info in clip],
                            frame_ids=[frame for frame, _ in clip],
                            sequence=sequence,
                            clip_len=self.clip_len,
                            label_map=first['label_map'],
                            reduce_zero_label=False,
                            seg_fields=[]))
        return clips
