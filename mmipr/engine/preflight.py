"""Checks run by tools/train.py and tools/test.py before the Runner starts."""
from __future__ import annotations

import json
import os.path as osp
from typing import List

from mmengine.config import Config
from mmengine.device import is_cuda_available, is_mlu_available, is_musa_available, is_npu_available
from mmengine.optim import AmpOptimWrapper


def _dataset_paths(name: str, dataset: dict) -> List[tuple]:
    root = dataset.get('data_root') or ''
    paths = []
    if dataset.get('ann_file'):
        paths.append((f'{name}.dataset.ann_file',
                      osp.join(root, dataset['ann_file'])))
    img_dir = (dataset.get('data_prefix') or {}).get('img')
    if img_dir:
        paths.append((f'{name}.dataset.data_prefix.img',
                      osp.join(root, img_dir)))
    if dataset.get('bbox_file'):
        # MMPose reads bbox_file as given (it does not join data_root).
        paths.append((f'{name}.dataset.bbox_file', dataset['bbox_file']))
    return paths


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
    checks = []
    for phase in phases:
        loader = cfg.get(f'{phase}_dataloader')
        if not loader or not loader.get('dataset'):
            continue
        checks += _dataset_paths(f'{phase}_dataloader', loader['dataset'])
        evaluator = cfg.get(f'{phase}_evaluator') if phase != 'train' else None
        for i, metric in enumerate(evaluator if isinstance(evaluator, list)
                                   else [evaluator] if evaluator else []):
            if metric.get('ann_file'):
                checks.append((f'{phase}_evaluator[{i}].ann_file',
                               metric['ann_file']))
    missing = [(key, path) for key, path in checks if not osp.exists(path)]
    if missing:
        lines = '\n'.join(f'  {key}: {path}' for key, path in missing)
        raise FileNotFoundError(
            f'Data not found (relative paths are from {osp.abspath(".")}):\n'
            f'{lines}\nPrepare the dataset as the README\'s "Data" section '
            'says, or point the config at it with --cfg-options, e.g. '
            'train_dataloader.dataset.data_root=... ; for the synthetic '
            'dataset run tools/dataset/make_synthetic_coco.py.')


def _num_instances(coco: dict) -> int:
    """Annotations MMPose's COCO-style datasets keep as top-down instances:
    not crowd, with a box and at least one labelled keypoint."""
    count = 0
    for ann in coco.get('annotations') or []:
        if ann.get('iscrowd', 0) or 'bbox' not in ann \
                or 'keypoints' not in ann:
            continue
        labelled = ann.get('num_keypoints')
        if labelled is None:
            labelled = sum(v > 0 for v in ann['keypoints'][2::3])
        count += labelled > 0
    return count


def check_annotation_files(cfg: Config,
                           phases=('train', 'val', 'test')) -> None:
    """Fail fast on an unreadable or empty JSON annotation file of ``cfg``.

    A truncated download otherwise surfaces as a bare ``JSONDecodeError``
    (no file name) from the dataset, and an annotation file without any
    labelled person as ``need at least one array to concatenate``. Each JSON
    file (``ann_file``, ``bbox_file``, the evaluators' ``ann_file``) is parsed
    once; the datasets' annotation files must hold an instance when the
    instances come from them (training, or evaluation on ground-truth boxes:
    no ``bbox_file``). Run after :func:`check_data_paths`.

    Args:
        cfg (Config): the merged config.
        phases (tuple): which of train/val/test to check.

    Raises:
        ValueError: naming the file, its config key and what is wrong.
    """
    checks = []  # (key, path, must hold instances)
    for phase in phases:
        loader = cfg.get(f'{phase}_dataloader')
        if not loader or not loader.get('dataset'):
            continue
        dataset = loader['dataset']
        for key, path in _dataset_paths(f'{phase}_dataloader', dataset):
            if not key.endswith('data_prefix.img'):
                needs = (key.endswith('.ann_file')
                         and (phase == 'train' or not dataset.get('bbox_file')))
                checks.append((key, path, needs))
        evaluator = cfg.get(f'{phase}_evaluator') if phase != 'train' else None
        for i, metric in enumerate(evaluator if isinstance(evaluator, list)
                                   else [evaluator] if evaluator else []):
            if metric.get('ann_file'):
                checks.append((f'{phase}_evaluator[{i}].ann_file',
                               metric['ann_file'], False))
    parsed = {}
    for key, path, needs in checks:
        if not path.endswith('.json') or not osp.isfile(path):
            continue
        if path not in parsed:
            try:
                with open(path, 'rb') as f:
                    parsed[path] = json.load(f)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise ValueError(
                    f'{key}: {path} is not valid JSON ({e}); the file is '
                    'probably truncated or corrupt: download or generate it '
                    'again.') from None
        data = parsed[path]
        if needs and isinstance(data, dict) and 'images' in data \
                and _num_instances(data) == 0:
            raise ValueError(
                f'{key}: {path} has no person instance with a box and a '
                'labelled keypoint (non-crowd), so there is nothing to '
                'train or evaluate on: is it the right annotation file?')


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
        raise RuntimeError(
            '--amp (AmpOptimWrapper) needs a CUDA, NPU, MLU or MUSA device; '
            'none is available here. Train in float32 on the CPU (drop '
            '--amp), or in bfloat16 with --cfg-options '
            'optim_wrapper.type=CPUAmpOptimWrapper.')
