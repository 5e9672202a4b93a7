"""Atomic file writes: a reader never sees a half-written file."""
import os
import tempfile
from typing import Union


def atomic_write(path: str, data: Union[str, bytes]) -> str:
    """Write ``data`` to ``path`` through a temp file in the same folder + rename.

    If anything fails before the rename, ``path`` keeps its old content (or stays
    absent) and the temp file is removed.

    Args:
        path (str): destination file; its folder is created if needed.
        data (str | bytes): text (written as UTF-8) or bytes.

    Returns:
        str: ``path``.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    payload = data.encode('utf-8') if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
