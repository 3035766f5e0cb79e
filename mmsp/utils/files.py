"""Files written all at once: a temporary file in the same folder, flushed, then renamed."""
import os
import os.path as osp
import uuid
from contextlib import contextmanager, suppress
from typing import Iterator

__all__ = ['atomic_write', 'write_text_atomically']


def _fsync(path: str, directory: bool = False) -> None:
    """Flush ``path`` (a file, or a folder's entries) to the disk."""
    fd = os.open(path, os.O_RDONLY | (getattr(os, 'O_DIRECTORY', 0) if directory else 0))
    try:
        os.fsync(fd)
    except OSError:  # some file systems do not support fsync on folders
        if not directory:
            raise
    finally:
        os.close(fd)


@contextmanager
def atomic_write(path: str) -> Iterator[str]:
    """Write ``path`` so that it is either its old version or the complete new one.

    Yields a temporary path in the same folder (``.<name>.<random>.tmp``, not created yet, so
    that the writer creates it with the usual permissions). When the block returns, the
    temporary file is flushed to the disk and renamed to ``path`` with :func:`os.replace`
    (atomic on POSIX file systems); the folder entry is flushed too. If the
    block raises (or the process is killed), ``path`` is untouched and the temporary file is
    removed (or, after a kill, left behind under its temporary name).

    Args:
        path (str): the final file path; its folder is created if needed.

    Example:
        >>> with atomic_write('work_dirs/x/model.pth') as tmp:
        ...     torch.save(state, tmp)
    """
    path = osp.abspath(path)
    folder, name = osp.split(path)
    os.makedirs(folder, exist_ok=True)
    tmp = osp.join(folder, f'.{name}.{uuid.uuid4().hex[:12]}.tmp')
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.remove(tmp)
        raise
    _fsync(folder, directory=True)


def write_text_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` with :func:`atomic_write`."""
    with atomic_write(path) as tmp:
        with open(tmp, 'w') as f:
            f.write(text)
