"""Checks run by tools/train.py and tools/test.py before the Runner starts."""
from __future__ import annotations

import os.path as osp
from typing import List

from mmengine.config import Config


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
