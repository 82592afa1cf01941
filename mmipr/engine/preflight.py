"""Checks of the config that tools/train.py and tools/test.py run before the
Runner starts: data paths, the device for ``--amp``, the training length.

The checks of the data files' contents are
:func:`mmipr.datasets.annotation_checks.check_annotation_files`, those of
checkpoints and ``--resume`` are in :mod:`mmipr.engine.checkpoint`, and the
command-line argument types in :mod:`mmipr.utils.validation`. Each check
raises an error that names the file or config key, what is wrong and what to
do: a :class:`PreflightError` (:mod:`mmipr.utils.errors`) subclassing a
built-in type (``ValueError``, ``FileNotFoundError``, ``RuntimeError``), which
the tools print as a message rather than a traceback.
"""
from __future__ import annotations

import os.path as osp

from mmengine.config import Config
from mmengine.device import is_cuda_available, is_mlu_available, is_musa_available, is_npu_available
from mmengine.optim import AmpOptimWrapper

from mmipr.datasets.data_files import config_data_files
from mmipr.utils.errors import (
    PreflightError,
    PreflightFileNotFoundError,
    PreflightRuntimeError,
    PreflightValueError,
)

__all__ = [
    'PreflightError', 'PreflightFileNotFoundError', 'PreflightRuntimeError',
    'PreflightValueError', 'check_data_paths', 'check_amp_device',
    'check_train_length'
]


def check_data_paths(cfg: Config, phases=('train', 'val', 'test')) -> None:
    """Fail fast, naming every missing data file or folder of ``cfg``.

    MMEngine builds datasets lazily: a wrong ``data_root`` otherwise surfaces
    only after the model is built, or (for image folders) at the first batch
    and deep inside a dataloader worker.

    Args:
        cfg (Config): the merged config.
        phases (tuple): which of train/val/test to check; a phase whose
            dataloader is None (e.g. ``--no-validate``) is skipped.

    Raises:
        FileNotFoundError: listing each missing path and its config key.
    """
    missing = [f for f in config_data_files(cfg, phases)
               if not osp.exists(f.path)]
    if missing:
        lines = '\n'.join(f'  {f.key}: {f.path}' for f in missing)
        raise PreflightFileNotFoundError(
            f'Data not found (relative paths are from {osp.abspath(".")}):\n'
            f'{lines}\nPrepare the dataset as the README\'s "Data" section '
            'says, or point the config at it with --cfg-options, e.g. '
            'train_dataloader.dataset.data_root=... ; for the synthetic '
            'dataset run tools/dataset/make_synthetic_coco.py.')


def check_amp_device(cfg: Config) -> None:
    """Fail fast when ``--amp`` (``AmpOptimWrapper``) is asked for on a CPU.

    MMEngine's ``AmpOptimWrapper`` uses ``torch.cuda.amp``'s gradient scaler
    and asserts a CUDA/NPU/MLU/MUSA device only once the Runner builds it.

    Args:
        cfg (Config): the merged config.

    Raises:
        RuntimeError: if the optimizer wrapper is ``AmpOptimWrapper`` and no
            such device is available.
    """
    optim_wrapper = cfg.get('optim_wrapper') or {}
    if optim_wrapper.get('type') not in ('AmpOptimWrapper', AmpOptimWrapper):
        return
    if not (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available()):
        raise PreflightRuntimeError(
            '--amp (AmpOptimWrapper) needs a CUDA, NPU, MLU or MUSA device; '
            'none is available here. Train in float32 on the CPU (drop '
            '--amp), or in bfloat16 with --cfg-options '
            'optim_wrapper.type=CPUAmpOptimWrapper.')


def check_train_length(cfg: Config) -> None:
    """Fail fast when ``train_cfg`` asks for no training at all.

    MMEngine accepts ``max_epochs=0`` (or ``max_iters=0``): it trains nothing,
    saves no checkpoint and exits 0.

    Args:
        cfg (Config): the merged config.

    Raises:
        ValueError: naming the key, its value and how to set it.
    """
    train_cfg = cfg.get('train_cfg') or {}
    for key in ('max_epochs', 'max_iters'):
        value = train_cfg.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise PreflightValueError(
                f'train_cfg.{key} is {value!r}: it must be a whole number of '
                'at least 1, or the run trains nothing and exits as if it '
                f'had succeeded. Set it with --cfg-options train_cfg.{key}=N.')
