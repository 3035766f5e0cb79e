"""Cheap sanity checks on (image, annotation) file pairs, shared by the mmsp datasets.

Only image *headers* are read (PIL opens files lazily), so checking a few thousand pairs at
dataset construction costs well under a second on a local disk.
"""
import os.path as osp
from typing import Optional, Sequence, Tuple

from PIL import Image

__all__ = ['image_header', 'check_seg_pair', 'NameFilesOnErrorMixin']

#: PIL modes accepted for an index-valued segmentation map (8- or 16-bit single channel).
LABEL_MODES = ('L', 'P', 'I;16', 'I;16B', 'I;16L', 'I')
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
        ValueError: an unsupported image mode, an RGB (colour-coded) annotation, or an
            annotation whose size differs from the image's.
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
