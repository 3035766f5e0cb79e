"""Cheap sanity checks on (image, annotation) file pairs and label values, shared by the mmsp
datasets.

At construction only image *headers* are read (PIL opens files lazily), so checking a few
thousand pairs costs well under a second on a local disk; the pixels of an annotation are read
only when it is a 16/32-bit map (whose values mmseg's ``LoadAnnotations`` would cast to uint8,
i.e. modulo 256). The label values of every sample are checked after its pipeline
(:class:`CheckLabelValuesMixin`), in training and evaluation alike.
"""
import os.path as osp
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from PIL import Image

__all__ = [
    'image_header', 'check_seg_pair', 'check_label_values', 'NameFilesOnErrorMixin',
    'CheckLabelValuesMixin'
]

#: PIL modes accepted for an index-valued segmentation map (8- or 16-bit single channel).
LABEL_MODES = ('L', 'P', 'I;16', 'I;16B', 'I;16L', 'I')
#: label modes of one byte per pixel; wider maps are read to check that their values fit uint8.
BYTE_LABEL_MODES = ('L', 'P')
#: offending values listed in an error message.
_LISTED_VALUES = 10
#: PIL modes of photographs that ``LoadImageFromFile(color_type='color')`` turns into 3-channel
#: BGR: grey and palette images are replicated/expanded, the alpha channel of RGBA/LA is dropped.
IMAGE_MODES = ('RGB', 'L', 'P', 'RGBA', 'LA', 'CMYK', 'YCbCr', 'I;16', 'I')


def image_header(path: str) -> Tuple[Tuple[int, int], str]:
    """``((width, height), mode)`` of an image file, reading only its header.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not an image PIL can identify.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'file not found: {path}')
    try:
        with Image.open(path) as im:
            return im.size, im.mode
    except Exception as err:  # PIL.UnidentifiedImageError, truncated headers, ...
        raise ValueError(f'cannot read the image header of {path}: {err}') from err


def check_seg_pair(img_path: str,
                   seg_path: Optional[str],
                   label_modes: Sequence[str] = LABEL_MODES) -> None:
    """Check that an annotation exists, is an index map and has its image's size.

    Args:
        img_path (str): photograph path.
        seg_path (str, optional): annotation path; ``None`` skips the annotation checks.
        label_modes (Sequence[str]): accepted PIL modes of the annotation.

    Raises:
        FileNotFoundError: a missing image or annotation (the message names the file).
        ValueError: an unsupported image mode, an RGB (colour-coded) annotation, a 16/32-bit
            annotation with values outside 0..255 (uint8, what mmseg reads), or an annotation
            whose size differs from the image's.
    """
    img_size, img_mode = image_header(img_path)
    if img_mode not in IMAGE_MODES:
        raise ValueError(f'unsupported image mode {img_mode!r} in {img_path}; '
                         f'expected one of {IMAGE_MODES}')
    if seg_path is None:
        return
    if not osp.isfile(seg_path):
        raise FileNotFoundError(f'annotation not found for image {img_path}: {seg_path}')
    seg_size, seg_mode = image_header(seg_path)
    if seg_mode not in label_modes:
        raise ValueError(f'annotation {seg_path} has PIL mode {seg_mode!r}; a single-channel '
                         f'index map (one of {tuple(label_modes)}) is required, not a '
                         'colour-coded label image')
    if seg_size != img_size:
        raise ValueError(
            f'annotation {seg_path} is {seg_size[0]}x{seg_size[1]} (WxH) but its image '
            f'{img_path} is {img_size[0]}x{img_size[1]}; resize the annotation with '
            'nearest-neighbour interpolation (never bilinear) before training')
    if seg_mode not in BYTE_LABEL_MODES:
        with Image.open(seg_path) as im:
            values = np.unique(np.asarray(im))
        wide = values[(values < 0) | (values > 255)]
        if wide.size:
            raise ValueError(
                f'annotation {seg_path} ({seg_mode}, more than 8 bits per pixel) has label '
                f'values outside 0..255: {_listed(wide)}; the label maps are read as uint8 '
                '(values modulo 256 would become other classes): store 8-bit class indices')


def _listed(values: np.ndarray) -> str:
    values = [int(v) for v in values]
    more = len(values) - _LISTED_VALUES
    return str(values[:_LISTED_VALUES]) + (f' and {more} more' if more > 0 else '')


def check_label_values(gt: torch.Tensor, num_classes: int, ignore_index: Optional[int],
                       where: str) -> None:
    """Check that a ground-truth map holds class indices ``0 .. num_classes - 1`` or the ignore
    index only.

    Args:
        gt (Tensor): label map (any shape, integer).
        num_classes (int): number of classes.
        ignore_index (int, optional): the ignored label.
        where (str): the file(s) the map comes from, for the message.

    Raises:
        ValueError: other values; the message names ``where`` and the values.
    """
    values = torch.unique(gt)
    bad = (values < 0) | (values >= num_classes)
    if ignore_index is not None:
        bad &= values != ignore_index
    if bool(bad.any()):
        raise ValueError(
            f'annotation {where} has label values {_listed(values[bad].cpu().numpy())} outside '
            f'the {num_classes} classes (0..{num_classes - 1}) and the ignore index '
            f'{ignore_index}; fix the label map or the dataset\'s classes / label_map')


def _files_of(data_info: dict) -> Tuple[str, ...]:
    return tuple(str(data_info[k]) for k in ('img_path', 'seg_map_path') if data_info.get(k))


class NameFilesOnErrorMixin:
    """Dataset mixin: a pipeline error that does not name the sample's files gets them added.

    Decoders deep in the loading stack raise messages such as PIL's ``OSError: image file is
    truncated`` for a damaged annotation, without the path. ``prepare_data`` re-raises such an
    error as the same exception type whose message starts with the image and annotation paths
    (the original is chained as ``__cause__``); errors that already name a file pass unchanged.
    Put it before the dataset base class: ``class X(NameFilesOnErrorMixin, BaseSegDataset)``.
    """

    def prepare_data(self, idx: int):
        try:
            return super().prepare_data(idx)
        except Exception as err:
            files = _files_of(self.get_data_info(idx))
            text = str(err)
            if not files or any(f in text or osp.basename(f) in text for f in files):
                raise
            message = f'failed to load {" / ".join(files)}: {type(err).__name__}: {text}'
            try:
                named = type(err)(message)
            except Exception:  # an exception type with a special constructor
                named = RuntimeError(message)
            raise named from err


class CheckLabelValuesMixin:
    """Dataset mixin: the ground truth of every sample holds class indices or the ignore index.

    After the pipeline (which applied ``label_map`` / ``reduce_zero_label``), ``prepare_data``
    checks the packed ``gt_sem_seg`` with :func:`check_label_values` against the dataset's
    ``classes`` and ``ignore_index``, so a stray value (e.g. 200 in an 11-class map) raises an
    error naming the annotation file and the values instead of crashing in the loss (``Target
    200 is out of bounds``) or being scored as a class. Costs one ``torch.unique`` per sample.
    Put it after :class:`NameFilesOnErrorMixin` and before the dataset base class.
    """

    def prepare_data(self, idx: int):
        data = super().prepare_data(idx)
        sample = data.get('data_samples', None) if isinstance(data, dict) else None
        gt = getattr(sample, 'gt_sem_seg', None)
        if gt is not None:
            info = self.get_data_info(idx)
            where = info.get('seg_map_path') or info.get('img_path') or f'sample {idx}'
            check_label_values(gt.data, len(self.metainfo['classes']), self.ignore_index, where)
        return data
