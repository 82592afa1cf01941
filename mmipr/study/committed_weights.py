"""Weights committed to the repository: ``weights/NAME.pth`` + ``NAME.json``.

The study's starting backbone and its trained models live in the repo, so a
fresh machine starts where the last session stopped. Each ``NAME.pth`` holds
``{'state_dict': ..., 'meta': ...}`` with floating tensors stored in float16
(to fit the 60 MiB budget; :func:`load_weights` returns float32), and
``NAME.json`` beside it holds at least ``sha256``, ``size``, ``command``,
``commit``, ``settings_key``, ``seconds`` and ``final`` (the final loss or
metrics). A file whose size or sha256 differs from its record is refused,
naming both, so nothing starts from a truncated or swapped file.
"""
from __future__ import annotations

import json
import os
import os.path as osp
from typing import Mapping

import torch

from mmipr.utils.io import atomic_output, file_digest, write_json_atomic

#: the weights folder, relative to the repository root
WEIGHTS_DIR = 'weights'
#: the budget of all committed weights together
BUDGET_BYTES = 60 * 1024 * 1024
#: what a record must hold besides ``sha256`` and ``size``
RECORD_FIELDS = ('command', 'commit', 'settings_key', 'seconds', 'final')


class WeightsMismatchError(RuntimeError):
    """A committed weights file does not match its record."""


def record_path(weights: str) -> str:
    """``NAME.json`` beside ``NAME.pth``."""
    return osp.splitext(weights)[0] + '.json'


def stored_tensors(state_dict: Mapping[str, torch.Tensor],
                   half: bool = True) -> dict[str, torch.Tensor]:
    """The tensors as a committed file stores them: floating ones in float16
    (``half``), all detached, contiguous and on the CPU."""
    return {k: (v.detach().to(torch.float16) if half and v.is_floating_point()
                else v.detach()).contiguous().cpu()
            for k, v in state_dict.items()}


def save_weights(weights: str, state_dict: Mapping[str, torch.Tensor],
                 record: Mapping, meta: Mapping | None = None,
                 half: bool = True) -> dict:
    """Write ``weights`` and its record, both atomically (weights first).

    Args:
        weights (str): ``.../NAME.pth``.
        state_dict (Mapping[str, Tensor]): the tensors.
        record (Mapping): the record's fields (:data:`RECORD_FIELDS`).
        meta (Mapping, optional): stored in the ``.pth`` beside the state.
        half (bool): store floating tensors as float16. Default: True.

    Returns:
        dict: the record written (with ``sha256``, ``size``, ``dtype``).
    """
    missing = [k for k in RECORD_FIELDS if k not in record]
    if missing:
        raise ValueError(f'the record of {weights} needs {missing}')
    state = stored_tensors(state_dict, half)
    with atomic_output(weights) as tmp:
        torch.save(dict(state_dict=state, meta=dict(meta or {})), tmp)
    full = dict(record, sha256=file_digest(weights),
                size=os.path.getsize(weights),
                dtype='float16' if half else 'as trained')
    write_json_atomic(record_path(weights), full)
    return full


def verify_weights(weights: str) -> dict:
    """The record of ``weights`` after checking the file against it.

    Raises:
        FileNotFoundError: if the file or its record is missing.
        WeightsMismatchError: if size or sha256 differ from the record
            (a truncated, corrupted or swapped file), naming both.
    """
    rec_file = record_path(weights)
    for path in (weights, rec_file):
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'{path} is missing: committed weights need both NAME.pth and '
                'NAME.json (restore them with git, or retrain with the '
                "record's command)")
    with open(rec_file) as f:
        record = json.load(f)
    size = osp.getsize(weights)
    if size != record.get('size') or file_digest(weights) != record.get(
            'sha256'):
        raise WeightsMismatchError(
            f'{weights} ({size} bytes, sha256 {file_digest(weights)}) does '
            f"not match {rec_file} ({record.get('size')} bytes, sha256 "
            f"{record.get('sha256')}): restore it with git (git lfs is not "
            "used), or retrain it with the record's command: "
            f"{record.get('command')}")
    return record


def load_weights(weights: str) -> tuple[dict, dict]:
    """``(state_dict in float32, record)`` of verified committed weights."""
    record = verify_weights(weights)
    blob = torch.load(weights, map_location='cpu', weights_only=True)
    state = {k: v.float() if v.is_floating_point() else v
             for k, v in blob['state_dict'].items()}
    return state, record


def committed(folder: str) -> list[str]:
    """Every ``.pth`` under ``folder`` (sorted), committed or not."""
    if not osp.isdir(folder):
        return []
    return sorted(osp.join(folder, n) for n in os.listdir(folder)
                  if n.endswith('.pth'))


def total_bytes(folder: str) -> int:
    """Size of every file under ``folder`` (the budget covers them all)."""
    return sum(osp.getsize(osp.join(root, n))
               for root, _, names in os.walk(folder) for n in names)
