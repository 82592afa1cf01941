"""Checkpoint loading that runs no code: MMEngine's loader, allowlisted.

A ``.pth`` file is a pickle, and unpickling an arbitrary pickle can run any
code (an object's ``__reduce__`` may call ``os.system``). PyTorch's
``weights_only`` unpickler refuses every global outside an allowlist, but its
default list lacks what MMEngine's checkpoints hold besides tensors: numpy
arrays, dtypes and scalars (``meta.dataset_meta``), MMEngine's
``HistoryBuffer`` (``message_hub``), and ``getattr(HistoryBuffer, 'min')``
and its siblings (the buffer's statistics methods), so MMEngine 0.10.7 cannot
load its own checkpoints under PyTorch >= 2.6 (open-mmlab/mmengine#1655).

:func:`load_checkpoint_file` loads with that unpickler and exactly these
additions (:func:`allowed_globals`); ``getattr`` is admitted only for the
(object, attribute) pairs of :data:`ALLOWED_ATTRIBUTES`. Found by saving
checkpoints with MMEngine's runner (an MMPose training, MMEngine's
``CheckpointHook`` and mmipr's hooks) and listing every global their pickles
name. :func:`register_safe_checkpoint_loaders` (run by ``import mmipr``)
makes it MMEngine's loader for local files and http(s) downloads (so also
``torchvision://``, ``open-mmlab://`` and ``mmcls://`` names, which resolve to
URLs), the path behind ``load_from``, ``--resume`` and ``tools/test.py``.

A refused file raises :class:`UntrustedCheckpointError`, naming the refused
global and the opt-in for a file the user trusts (its source, or made it):
``trusted=True`` per call, or the environment variable
``MMIPR_TRUSTED_CHECKPOINTS`` listing trusted files or folders (separated by
``os.pathsep``, as ``PATH``). Nothing is trusted by default, and
``torch.load``'s own default is left alone: the allowlist is in force only
while one of these loads runs.

Imports torch, numpy and MMEngine only (no MMPose), so ``import mmipr`` can
register it without importing MMPose.
"""
from __future__ import annotations

import contextlib
import os
import os.path as osp
import pickle
import re
import threading
from typing import Any, Iterator, List, Optional, Tuple
from urllib.parse import urlparse

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

from mmipr.utils.errors import PreflightValueError

#: environment variable listing the checkpoint files or folders whose
#: pickles may run code (separated by ``os.pathsep``)
TRUSTED_ENV = 'MMIPR_TRUSTED_CHECKPOINTS'

#: the only ``getattr(object, attribute)`` calls a checkpoint may make:
#: ``HistoryBuffer`` pickles its registered statistics methods by reference
ALLOWED_ATTRIBUTES = frozenset(
    (HistoryBuffer, name) for name in ('min', 'max', 'current', 'mean'))


class UntrustedCheckpointError(PreflightValueError, pickle.UnpicklingError):
    """A checkpoint holds an object that loading it would have to construct
    by running code outside the allowlist (it was not loaded)."""


def _allowed_getattr(obj: Any, name: str) -> Any:
    """``getattr`` for :data:`ALLOWED_ATTRIBUTES` only (``builtins.getattr``
    in a checkpoint's pickle resolves to this)."""
    if (obj, name) not in ALLOWED_ATTRIBUTES:
        raise pickle.UnpicklingError(
            f'GLOBAL builtins.getattr is allowed only for '
            f'{sorted(f"{o.__name__}.{a}" for o, a in ALLOWED_ATTRIBUTES)}, '
            f'not for getattr({obj!r}, {name!r})')
    return getattr(obj, name)


def _numpy_globals() -> List[Tuple[Any, str]]:
    """numpy's array, dtype and scalar reconstruction, under both module
    paths numpy writes (``numpy.core`` before 2.0, ``numpy._core`` since)."""
    try:
        from numpy._core import multiarray  # numpy >= 2 (and 1.26)
    except ImportError:
        from numpy.core import multiarray
    pairs = [(np.ndarray, 'numpy.ndarray'), (np.dtype, 'numpy.dtype')]
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        pairs += [(multiarray._reconstruct, f'{module}._reconstruct'),
                  (multiarray.scalar, f'{module}.scalar')]
    # the dtype instances' own classes (numpy.dtypes.Float32DType, ...): a
    # dtype's state is set on an instance of one of them
    for dtype_class in {type(np.dtype(code))
                        for code in np.typecodes['All'] + 'OSUV'}:
        pairs.append((dtype_class,
                      f'{dtype_class.__module__}.{dtype_class.__name__}'))
    return pairs


def allowed_globals() -> List[Any]:
    """What :func:`load_checkpoint_file` admits beyond PyTorch's
    ``weights_only`` defaults (tensors, storages, ``OrderedDict``,
    ``Counter``, ``torch.Size``, dtypes, ...).

    Returns:
        list: entries for ``torch.serialization.safe_globals``: numpy arrays,
        dtypes and scalars, ``HistoryBuffer``, and ``builtins.getattr``
        restricted to :data:`ALLOWED_ATTRIBUTES`.
    """
    # ``bytes``: pickle protocol 2 (torch.save's) writes an empty bytes
    # object as ``bytes()`` (a hand dataset's checkpoint held one); non-empty
    # ones go through ``_codecs.encode``, which PyTorch already admits.
    return [*_numpy_globals(), HistoryBuffer, bytes,
            (_allowed_getattr, 'builtins.getattr')]


_ALLOWLIST_LOCK = threading.Lock()


@contextlib.contextmanager
def _allowlisted() -> Iterator[None]:
    """Within the block PyTorch's ``weights_only`` unpickler also admits
    :func:`allowed_globals`; its list is restored on exit (entries the user
    had added before stay). One load at a time: the list is PyTorch's
    process-wide state."""
    with _ALLOWLIST_LOCK:
        present = torch.serialization.get_safe_globals()
        added = [g for g in allowed_globals() if g not in present]
        with torch.serialization.safe_globals(added):
            yield


def trusted_locations() -> List[str]:
    """The files and folders listed in :data:`TRUSTED_ENV` (absolute, with
    symbolic links resolved)."""
    entries = os.environ.get(TRUSTED_ENV, '').split(os.pathsep)
    return [osp.realpath(osp.expanduser(e)) for e in entries if e.strip()]


def is_trusted(path: str) -> bool:
    """Whether :data:`TRUSTED_ENV` lists the local file ``path`` or a folder
    holding it.

    Args:
        path (str): a local file path.

    Returns:
        bool: True if the file may be loaded with full pickle.
    """
    real = osp.realpath(osp.expanduser(path))
    return any(real == entry or real.startswith(entry.rstrip(os.sep) + os.sep)
               for entry in trusted_locations())


def _refusal(source: str, error: Exception, trust_path: str) -> str:
    """The message of :class:`UntrustedCheckpointError` for ``source``."""
    text = str(error)
    # PyTorch's message: a preamble suggesting weights_only=False, the
    # reason, and a pointer to its documentation; keep the reason
    parts = [p.strip() for p in text.split('\n\n') if p.strip()]
    reasons = [p for p in parts if not p.startswith(
        ('Weights only load failed', 'Check the documentation'))]
    reason = ' '.join(reasons) or text
    found = re.search(r'GLOBAL (\S+)', reason)
    refused = (f'the global {found.group(1)}' if found
               else 'an object outside the allowlist')
    return (
        f'Refused to load the checkpoint {source}: it needs {refused} to be '
        f'loaded, and unpickling that could run code ({reason}). mmipr loads '
        'checkpoints with an allowlist (tensors, containers, numpy arrays and '
        "MMEngine's HistoryBuffer: what MMEngine and MMPose checkpoints "
        'hold). If you trust this file (you made it, or trust its source), '
        f'allow it with the environment variable {TRUSTED_ENV}={trust_path} '
        '(files or folders, separated by '
        f"'{os.pathsep}'), or load it with "
        'mmipr.checkpoint_loader.load_checkpoint_file(path, trusted=True).')


def load_checkpoint_file(filename: str, map_location: Any = None, *,
                         trusted: Optional[bool] = None) -> Any:
    """Load a local checkpoint with the allowlisting unpickler.

    Args:
        filename (str): the ``.pth`` file (``~`` is expanded).
        map_location: as ``torch.load``'s (e.g. ``'cpu'``).
        trusted (bool, optional): True loads with full pickle (the file may
            run code: only for files you trust), False never does. Default
            (None): full pickle only if :data:`TRUSTED_ENV` lists the file or
            a folder holding it.

    Returns:
        The unpickled checkpoint (usually a dict with ``state_dict`` and
        ``meta``).

    Raises:
        FileNotFoundError: if ``filename`` is not a file.
        UntrustedCheckpointError: (a ``ValueError`` and an
            ``UnpicklingError``) naming the refused global and the opt-in.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    if trusted is None:
        trusted = is_trusted(filename)
    if trusted:
        return torch.load(filename, map_location=map_location,
                          weights_only=False)
    try:
        with _allowlisted():
            return torch.load(filename, map_location=map_location,
                              weights_only=True)
    except pickle.UnpicklingError as error:
        raise UntrustedCheckpointError(
            _refusal(filename, error, osp.abspath(filename))) from None


def hub_cache_path(url: str, model_dir: Optional[str] = None) -> str:
    """Where ``torch.hub.load_state_dict_from_url`` keeps the download of
    ``url`` (its naming: the URL's file name in ``<hub dir>/checkpoints``)."""
    folder = model_dir or osp.join(torch.hub.get_dir(), 'checkpoints')
    return osp.join(folder, osp.basename(urlparse(url).path))


def load_checkpoint_url(url: str, map_location: Any = None,
                        model_dir: Optional[str] = None, *,
                        trusted: Optional[bool] = None) -> Any:
    """Download (once, into torch's hub cache) and load a checkpoint with the
    allowlisting unpickler.

    In a distributed run the local rank 0 downloads first, as MMEngine's
    ``load_from_http`` does.

    Args:
        url (str): an ``http://`` or ``https://`` address.
        map_location: as ``torch.load``'s.
        model_dir (str, optional): the download folder. Default:
            ``<torch hub dir>/checkpoints``.
        trusted (bool, optional): as in :func:`load_checkpoint_file`; by
            default the downloaded file's path is looked up in
            :data:`TRUSTED_ENV`.

    Returns:
        The unpickled checkpoint.

    Raises:
        UntrustedCheckpointError: naming the refused global and the opt-in.
    """
    from mmengine.dist import get_dist_info
    cached = hub_cache_path(url, model_dir)
    if trusted is None:
        trusted = is_trusted(cached)

    def download_and_load() -> Any:
        try:
            with _allowlisted():
                return torch.hub.load_state_dict_from_url(
                    url, model_dir=model_dir, map_location=map_location,
                    progress=False, weights_only=not trusted)
        except pickle.UnpicklingError as error:
            raise UntrustedCheckpointError(
                _refusal(f'{url} (downloaded to {cached})', error,
                         cached)) from None

    rank, world_size = get_dist_info()
    if rank == 0:
        checkpoint = download_and_load()
    if world_size > 1:
        torch.distributed.barrier()
        if rank > 0:
            checkpoint = download_and_load()
    return checkpoint


def _mmengine_local(filename: str, map_location: Any = None) -> Any:
    return load_checkpoint_file(filename, map_location)


def _mmengine_http(filename: str, map_location: Any = None) -> Any:
    return load_checkpoint_url(filename, map_location)


_mmengine_local.__name__ = 'load_from_local'  # MMEngine logs name[10:]
_mmengine_http.__name__ = 'load_from_http'


def register_safe_checkpoint_loaders() -> None:
    """Make :func:`load_checkpoint_file` MMEngine's loader of local files and
    :func:`load_checkpoint_url` its loader of http(s) addresses.

    MMEngine resolves ``torchvision://``, ``open-mmlab://`` and ``mmcls://``
    names to URLs and then calls ``mmengine.runner.checkpoint.load_from_http``
    by name, so that name is pointed at the safe loader too. Other schemes
    (``s3://``, ``pavi://``) keep MMEngine's loaders, which call
    ``torch.load`` with PyTorch's own ``weights_only`` default.
    """
    import mmengine.runner.checkpoint as mmengine_checkpoint
    loader = mmengine_checkpoint.CheckpointLoader
    loader.register_scheme(prefixes='', loader=_mmengine_local, force=True)
    loader.register_scheme(prefixes=('http://', 'https://'),
                           loader=_mmengine_http, force=True)
    mmengine_checkpoint.load_from_http = _mmengine_http
