"""Cached weight files checked against their records before use.

The study caches weights it can rebuild (the pretrained backbone under
``$MMIPR_CACHE``, the initial weights of each seed in the work dir). A cached
file that was truncated, emptied or altered used to break every later run
(``EOFError: Ran out of input``, with no path). Each cached file now has a
record of its size and sha256 (:func:`file_record`); :func:`cached_file_ok`
checks the file against it, and a bad file is named, set aside and rebuilt.
"""
from __future__ import annotations

import os
import os.path as osp
import time
import warnings

import torch

from mmipr.utils.io import file_digest


def cache_root() -> str:
    """Folder of the study's caches outside the clone: ``$MMIPR_CACHE``, or
    ``~/.cache/mmipr``."""
    return os.environ.get('MMIPR_CACHE') or osp.join(
        osp.expanduser('~'), '.cache', 'mmipr')


def cache_setting() -> str:
    """How :func:`cache_root` was chosen, for messages."""
    return 'MMIPR_CACHE' if os.environ.get('MMIPR_CACHE') else (
        'the cache folder (~/.cache/mmipr; set MMIPR_CACHE for another)')


def file_record(path: str) -> dict:
    """``size`` (bytes) and ``sha256`` of ``path``, for its record."""
    return dict(size=osp.getsize(path), sha256=file_digest(path))


def cached_file_problem(path: str, record: dict) -> str | None:
    """What is wrong with the cached file ``path``, or None.

    Checked against ``record`` (:func:`file_record`'s keys): its size, then
    its sha256. A record without them (written by an older mmipr) is checked
    by loading the file (weights only), and is then to be completed with
    :func:`file_record` by the caller.

    Args:
        path (str): an existing cached file.
        record (dict): its record.

    Returns:
        str | None: the problem, in words; None when the file is good.
    """
    size = osp.getsize(path)
    if size == 0:
        return 'it is empty (0 bytes)'
    if 'size' in record and size != record['size']:
        return (f'it has {size} bytes where its record says {record["size"]}'
                ' (truncated or altered)')
    if 'sha256' in record:
        digest = file_digest(path)
        if digest != record['sha256']:
            return (f'its sha256 is {digest}, its record says '
                    f'{record["sha256"]} (altered)')
        return None
    try:
        torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:  # any unreadable file is rebuilt
        return f'it cannot be loaded ({type(err).__name__}: {err})'
    return None


def set_aside(path: str, problem: str, what: str) -> str:
    """Move the bad cached file ``path`` out of the way, with a warning that
    names it, its problem and where it went.

    Args:
        path (str): the file.
        problem (str): :func:`cached_file_problem`'s answer.
        what (str): what the file is, e.g. ``'the pretrained backbone'``.

    Returns:
        str: where the file was moved (beside it, ``.bad-<time>``).
    """
    moved = f'{path}.bad-{time.strftime("%Y%m%d-%H%M%S")}-{os.getpid()}'
    os.replace(path, moved)
    warnings.warn(f'{what} {path} is unusable: {problem}. It was moved to '
                  f'{moved} and is rebuilt.')
    return moved


def cached_file_ok(path: str, record: dict, what: str) -> bool:
    """Whether ``path`` can be used as it is; a bad one is set aside.

    Args:
        path (str): the cached file.
        record (dict): its record (:func:`cached_file_problem`).
        what (str): what the file is, for the warning.

    Returns:
        bool: True when the file exists and passes
        :func:`cached_file_problem`; False when it must be (re)built (a bad
        file has then been set aside).
    """
    if not osp.exists(path):
        return False
    problem = cached_file_problem(path, record)
    if problem is None:
        return True
    set_aside(path, problem, what)
    return False
