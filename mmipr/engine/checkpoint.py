"""Checks of checkpoints: complete on disk, fitting the model, resumable.

``tools/train.py`` and ``tools/test.py`` run them before the Runner starts
(:func:`checkpoint_problem`, :func:`check_resume`) and once the model is built
(:func:`check_checkpoint_matches`). Checkpoints are read by MMEngine's loader,
which ``import mmipr`` has made the allowlisting one of
:mod:`mmipr.checkpoint_loader` (no checkpoint runs code).
"""
from __future__ import annotations

import ast
import glob
import os.path as osp
import warnings
import zipfile
from typing import List, Optional

import torch
from mmengine.config import Config
from mmengine.model import is_model_wrapper
from mmengine.runner.checkpoint import _load_checkpoint

from mmipr.utils.errors import PreflightFileNotFoundError, PreflightValueError

#: (checkpoint, its head, the model's head) already warned about
_HEAD_WARNINGS: set = set()


def check_checkpoint_matches(model: torch.nn.Module, checkpoint: str) -> None:
    """Raise if a tensor of ``checkpoint`` has another shape in ``model``;
    warn (once) if the checkpoint was trained with another head type.

    MMEngine loads checkpoints non-strictly and only logs shape mismatches, so
    a checkpoint trained for another keypoint count (e.g. COCO's 17 into a
    14-keypoint CrowdPose config) would be evaluated with a randomly
    initialised final layer. Missing or extra keys are allowed: a detection
    checkpoint loaded into an integral model is legitimate (ArgmaxHead and
    IntegralHead share their trunk), and so it gets a warning, not an error
    (:func:`checkpoint_head_type`).

    Args:
        model (nn.Module): the built model (possibly wrapped).
        checkpoint (str): path or URL of the checkpoint.

    Raises:
        PreflightValueError: (a ``ValueError``) naming every mismatching
            tensor and both shapes.
    """
    if is_model_wrapper(model):
        model = model.module
    loaded = _load_checkpoint(checkpoint, map_location='cpu')
    state = loaded.get('state_dict', loaded)
    own = model.state_dict()
    mismatches = [
        f'  {key}: checkpoint {tuple(value.shape)} vs model '
        f'{tuple(own[key].shape)}' for key, value in state.items()
        if key in own and hasattr(value, 'shape')
        and value.shape != own[key].shape
    ]
    if mismatches:
        raise PreflightValueError(
            f'Checkpoint {checkpoint} does not fit the model built from the '
            'config (different keypoint count or architecture?):\n' +
            '\n'.join(mismatches) +
            '\nUse a checkpoint trained with the same dataset keypoints and '
            'head, or fix the config.')
    head = getattr(model, 'head', None)
    if head is not None:
        warn_if_other_head(loaded, type(head).__name__, checkpoint)


def _dict_entries(node: ast.AST) -> dict:
    """``{key: value node}`` of a ``dict(...)`` call or ``{...}`` literal."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and node.func.id == 'dict':
        return {k.arg: k.value for k in node.keywords if k.arg}
    if isinstance(node, ast.Dict):
        return {k.value: v for k, v in zip(node.keys, node.values)
                if isinstance(k, ast.Constant)}
    return {}


def checkpoint_head_type(checkpoint: dict) -> Optional[str]:
    """The head type the checkpoint's training config names, if it says.

    MMEngine stores the config's text in ``meta['cfg']`` (MMCV-era runners:
    ``meta['config']``). The text is parsed, never executed: the
    ``model = dict(head=dict(type=...))`` assignment (``keypoint_head`` in
    MMPose 0.x configs) is read from its syntax tree.

    Args:
        checkpoint (dict): a loaded checkpoint.

    Returns:
        str | None: e.g. ``'ArgmaxHead'``; None when the meta holds no
        config or the config names no head type.
    """
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    text = (meta or {}).get('cfg') or (meta or {}).get('config')
    if not isinstance(text, str):
        return None
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == 'model'
                for t in node.targets):
            model = _dict_entries(node.value)
            head = model.get('head', model.get('keypoint_head'))
            kind = _dict_entries(head).get('type') if head else None
            if isinstance(kind, ast.Constant) and isinstance(kind.value, str):
                return kind.value
    return None


def warn_if_other_head(checkpoint: dict, model_head: str,
                       source: str) -> None:
    """Warn once when ``checkpoint`` was trained with another head type
    than ``model_head`` (:func:`checkpoint_head_type`).

    Loading, e.g., an ArgmaxHead (heatmap detection) checkpoint into an
    IntegralHead model fits (same trunk and final layer) and may be
    intended, as a starting point; but a checkpoint meant for testing is
    then decoded by another head than it was trained for.

    Args:
        checkpoint (dict): the loaded checkpoint.
        model_head (str): the type name of the model's head.
        source (str): the checkpoint's path or URL, for the message.
    """
    trained = checkpoint_head_type(checkpoint)
    if trained is None or trained == model_head:
        return
    if (source, trained, model_head) in _HEAD_WARNINGS:
        return
    _HEAD_WARNINGS.add((source, trained, model_head))
    warnings.warn(
        f'The checkpoint {source} was trained with {trained} (its meta\'s '
        f'config), and the model built from this config has {model_head}: '
        'the weights fit and are loaded. That is intended when one head\'s '
        'training starts from the other\'s (they share the trunk); to test '
        'the checkpoint as it was trained, use a config with '
        f'head=dict(type=\'{trained}\', ...).', stacklevel=2)


def checkpoint_problem(path: str) -> Optional[str]:
    """Why the local checkpoint ``path`` cannot be loaded, or None.

    Only cheap checks: the file exists, is not empty and, if it is a zip
    archive (``torch.save``'s format), has its end record (written last), so
    a file cut short by a kill during saving is caught without loading it.

    Args:
        path (str): a local file path.

    Returns:
        str | None: what is wrong (to follow "the checkpoint ..."), or None.
    """
    if not osp.exists(path):
        return 'does not exist'
    if not osp.isfile(path):
        return 'is not a file'
    if osp.getsize(path) == 0:
        return 'is empty (0 bytes)'
    with open(path, 'rb') as f:
        magic = f.read(4)
    if magic == b'PK\x03\x04' and not zipfile.is_zipfile(path):
        return ('is incomplete (a zip archive without its end record: its '
                'saving was cut short)')
    return None


def _complete_checkpoints(folder: str) -> List[str]:
    """The loadable-looking ``*.pth`` files of ``folder``, newest first."""
    paths = [p for p in glob.glob(osp.join(folder, '*.pth'))
             if checkpoint_problem(p) is None]
    return sorted(paths, key=osp.getmtime, reverse=True)


def check_resume(cfg: Config) -> None:
    """Fail fast, in words, when ``--resume`` has nothing valid to resume.

    With ``--resume`` alone MMEngine reads ``<work_dir>/last_checkpoint``:
    when that is empty it loads the path ``''``, when it names a missing or
    truncated file it fails with a traceback from deep inside the loader.
    (No ``last_checkpoint`` at all is fine: the run starts from scratch, as
    MMEngine does.) ``--resume PATH`` gets the same checks of ``PATH``; URLs
    are not checked.

    Args:
        cfg (Config): the merged config (``resume``, ``load_from``,
            ``work_dir``).

    Raises:
        FileNotFoundError: naming the file, what is wrong with it and the
            newest complete checkpoint in ``work_dir`` to resume from.
    """
    if not cfg.get('resume'):
        return
    work_dir = cfg.get('work_dir') or '.'
    record = osp.join(work_dir, 'last_checkpoint')
    load_from = cfg.get('load_from')
    if load_from is not None:
        if '://' in str(load_from):
            return
        problem = checkpoint_problem(str(load_from))
        if problem is None:
            return
        message = f'the checkpoint {load_from} {problem}'
    else:
        if not osp.isfile(record):
            return
        with open(record) as f:
            target = f.read().strip()
        if not target:
            message = (f'{record} is empty (was the run killed while writing '
                       'it?)')
        else:
            problem = checkpoint_problem(target)
            if problem is None:
                return
            message = f'{record} names {target}, which {problem}'
    found = _complete_checkpoints(work_dir)
    if found:
        hint = (f'The newest complete checkpoint in {work_dir} is '
                f'{found[0]}: resume from it with --resume {found[0]}')
        if load_from is None:
            hint += f', or write that path into {record}'
        hint += '.'
    else:
        hint = (f'No complete checkpoint is left in {work_dir}: train from '
                'scratch (without --resume'
                + (f', or after deleting {record}' if load_from is None
                   else '') + ').')
    raise PreflightFileNotFoundError(f'Cannot resume: {message}. {hint}')
