"""The data files and folders a config reads: one list for every caller.

The preflight checks (paths exist, annotation files parse and hold
instances, images decode) and the study's run key (the contents of every
file a run reads) all walk the same config keys; :func:`config_data_files`
is that walk. Pure config inspection: no MMPose import.
"""
from __future__ import annotations

import os.path as osp
from dataclasses import dataclass, field
from typing import List, Sequence

#: kinds of :class:`DataFile`
ANN_FILE, IMAGE_DIR, BBOX_FILE, METRIC_ANN_FILE = (
    'ann_file', 'image_dir', 'bbox_file', 'metric_ann_file')


@dataclass(frozen=True)
class DataFile:
    """One data file or folder of a config.

    Args:
        key (str): its config key, e.g.
            ``'train_dataloader.dataset.ann_file'``.
        path (str): the path the dataset or evaluator opens (``data_root``
            joined where MMPose joins it).
        kind (str): :data:`ANN_FILE`, :data:`IMAGE_DIR`, :data:`BBOX_FILE`
            or :data:`METRIC_ANN_FILE` (an evaluator's annotation file).
        phase (str): ``'train'``, ``'val'`` or ``'test'``.
        dataset (dict): the config of the phase's dataset (for every kind,
            the evaluator's included).
    """

    key: str
    path: str
    kind: str
    phase: str
    dataset: dict = field(compare=False, repr=False)


def _evaluators(cfg, phase: str) -> list:
    evaluator = cfg.get(f'{phase}_evaluator') if phase != 'train' else None
    if isinstance(evaluator, (list, tuple)):
        return list(evaluator)
    return [evaluator] if evaluator else []


def config_data_files(cfg, phases: Sequence[str] = ('train', 'val', 'test')
                      ) -> List[DataFile]:
    """Every data file and folder ``cfg`` reads in ``phases``, in config
    order: per phase the dataset's ``ann_file``, image folder
    (``data_prefix.img``) and ``bbox_file``, then the evaluators'
    ``ann_file``.

    A phase whose dataloader is None (``--no-validate``) or has no dataset
    is skipped. MMPose joins ``data_root`` to ``ann_file`` and
    ``data_prefix.img`` but reads ``bbox_file`` as given, and so do these
    paths.

    Args:
        cfg (Config | dict): the merged config.
        phases (Sequence[str]): which of train/val/test to list.

    Returns:
        list[DataFile]: the files and folders, with their config keys.
    """
    files = []
    for phase in phases:
        loader = cfg.get(f'{phase}_dataloader')
        dataset = (loader or {}).get('dataset') if loader else None
        if not dataset:
            continue
        prefix = f'{phase}_dataloader.dataset'
        root = dataset.get('data_root') or ''
        if dataset.get('ann_file'):
            files.append(DataFile(f'{prefix}.ann_file',
                                  osp.join(root, dataset['ann_file']),
                                  ANN_FILE, phase, dataset))
        img_dir = (dataset.get('data_prefix') or {}).get('img')
        if img_dir:
            files.append(DataFile(f'{prefix}.data_prefix.img',
                                  osp.join(root, img_dir), IMAGE_DIR, phase,
                                  dataset))
        if dataset.get('bbox_file'):
            files.append(DataFile(f'{prefix}.bbox_file', dataset['bbox_file'],
                                  BBOX_FILE, phase, dataset))
        for i, metric in enumerate(_evaluators(cfg, phase)):
            if metric.get('ann_file'):
                files.append(DataFile(f'{phase}_evaluator[{i}].ann_file',
                                      metric['ann_file'], METRIC_ANN_FILE,
                                      phase, dataset))
    return files
