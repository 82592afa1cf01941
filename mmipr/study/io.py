"""Result files of the study runner: written atomically, read defensively."""
from __future__ import annotations

import hashlib
import json
import os
import os.path as osp
import tempfile
import warnings


def write_json_atomic(path: str, obj) -> None:
    """Write ``obj`` as JSON to ``path`` so that no reader sees half a file.

    The JSON goes to a temporary file in the same folder, is flushed to disk
    and then renamed over ``path`` (``os.replace`` is atomic on POSIX): a
    kill at any point leaves either the old file or the new one.

    Args:
        path (str): the file to write.
        obj: a JSON-serialisable object.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(path)}.', dir=folder)
    try:
        with os.fdopen(fd, 'w') as f:
            json.dump(obj, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with _suppress_os_error():
            os.remove(tmp)
        raise


class _suppress_os_error:
    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        return exc_type is not None and issubclass(exc_type, OSError)


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
