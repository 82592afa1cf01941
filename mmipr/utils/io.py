"""Files written atomically and read defensively (records, weights, checkpoints)."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import os.path as osp
import tempfile
import warnings
from typing import Iterator


@contextlib.contextmanager
def atomic_output(path: str) -> Iterator[str]:
    """A temporary path to write ``path``'s new contents to, renamed over
    ``path`` only once the ``with`` block completes.

    The temporary file is in the same folder (so the rename is ``os.replace``
    on one file system, atomic on POSIX) and is flushed to disk before the
    rename; on any exception, ``KeyboardInterrupt`` included, it is removed and
    ``path`` keeps its old contents. A kill at any point leaves either the old
    file or the new one, never half of one. The one home for atomic writes:
    JSON records, weights and checkpoints all go through it.

    Example::

        with atomic_output('weights.pth') as tmp:
            torch.save(state, tmp)

    Args:
        path (str): the file to (re)write; its folder is created.

    Yields:
        str: the temporary path to write to.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(path)}.', dir=folder)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, 'rb+') as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def write_json_atomic(path: str, obj) -> None:
    """Write ``obj`` as JSON to ``path`` so that no reader sees half a file
    (:func:`atomic_output`).

    Args:
        path (str): the file to write.
        obj: a JSON-serialisable object.
    """
    with atomic_output(path) as tmp, open(tmp, 'w') as f:
        json.dump(obj, f, indent=1)


def read_json_or_none(path: str, what: str = 'result file') -> dict | None:
    """The JSON object in ``path``; None if it is absent or unreadable.

    An unreadable file (truncated by a kill under an older version, or
    edited by hand) is named in a warning and treated as absent, so that the
    caller redoes what wrote it instead of failing on every rerun.

    Args:
        path (str): the file.
        what (str): what the file is, for the warning.

    Returns:
        dict | None: the object, or None.
    """
    if not osp.exists(path):
        return None
    try:
        with open(path) as f:
            obj = json.load(f)
    except (OSError, ValueError) as err:
        warnings.warn(f'{what} {path} is unreadable ({err}); it will be '
                      'redone.')
        return None
    if not isinstance(obj, dict):
        warnings.warn(f'{what} {path} does not hold a JSON object; it will be '
                      'redone.')
        return None
    return obj


_DIGESTS: dict = {}


def file_digest(path: str) -> str:
    """SHA-256 of a file's contents (memoised by path, size and mtime)."""
    stat = os.stat(path)
    key = (osp.abspath(path), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        with open(path, 'rb') as f:
            for chunk in iter(lambda: f.read(1 << 20), b''):
                digest.update(chunk)
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]
