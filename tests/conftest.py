"""Shared fixtures: a tiny synthetic COCO dataset and configs pointed at it."""
import contextlib
import os.path as osp
from typing import Iterator, Optional

import numpy as np
import pytest
import torch

import mmipr  # noqa: F401  (makes MMPose importable, registers mmipr)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='session')
def tiny_coco(tmp_path_factory) -> str:
    """A small synthetic COCO-format dataset (generated once per session)."""
    from mmipr.datasets import generate_synthetic_coco
    root = str(tmp_path_factory.mktemp('synthetic_coco'))
    generate_synthetic_coco(
        root, num_train=24, num_val=12, seed=0, workers=1, progress=False)
    return root


def data_options(data_root: str) -> dict:
    """``--cfg-options`` that point a synthetic config at ``data_root``."""
    data_root = data_root.rstrip('/') + '/'
    return {
        'train_dataloader.dataset.data_root': data_root,
        'val_dataloader.dataset.data_root': data_root,
        'test_dataloader.dataset.data_root': data_root,
        'val_dataloader.dataset.bbox_file': None,
        'test_dataloader.dataset.bbox_file': None,
        'val_evaluator.ann_file':
        data_root + 'annotations/person_keypoints_val2017.json',
        'test_evaluator.ann_file':
        data_root + 'annotations/person_keypoints_val2017.json',
    }


def cli_options(options: dict) -> list:
    """Render ``--cfg-options`` arguments for MMPose's command-line tools."""
    return ['--cfg-options'] + [f'{k}={v}' for k, v in options.items()]


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run torch on one thread: tiny tensors on a shared 2-core machine
    spend several times their arithmetic on thread start-up."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def tiny_topdown(head: dict) -> dict:
    """A ``TopdownPoseEstimator`` config on a 4-channel ResNet-18 (32-channel
    output, stride 32) with ``head``, no flip test."""
    return dict(
        type='TopdownPoseEstimator',
        data_preprocessor=dict(type='PoseDataPreprocessor',
                               mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
        backbone=dict(type='ResNet', depth=18, stem_channels=8,
                      base_channels=4),
        head=head,
        test_cfg=dict(flip_test=False))


def topdown_pipeline(input_size: tuple, codec: Optional[dict] = None) -> list:
    """MMPose's top-down pipeline without augmentation; with the training
    targets of ``codec`` when it is given."""
    targets = [dict(type='GenerateTarget', encoder=codec)] if codec else []
    return [
        dict(type='LoadImage'),
        dict(type='GetBBoxCenterScale'),
        dict(type='TopdownAffine', input_size=input_size),
        *targets,
        dict(type='PackPoseInputs'),
    ]


def reference_split_epe(samples: list, truth: dict, splits_of, split: str,
                        num_keypoints: int) -> float:
    """The EPE of ``split`` written out: the mean pixel distance between
    each sample's predicted keypoints and its ground truth's labelled ones
    (``v > 0``), over the samples whose ground truth is in ``split``
    (``'all'``: in any split).

    Args:
        samples (list): data samples with ``id`` and ``pred_instances``.
        truth (dict): sample id -> its COCO ground truth (``keypoints``).
        splits_of (callable): ground truth -> the names of its splits.
        split (str): a split name or ``'all'``.
        num_keypoints (int): K.
    """
    errs = []
    for s in samples:
        gt = truth[s['id']]
        names = splits_of(gt)
        if (split == 'all' and names) or split in names:
            g = np.reshape(gt['keypoints'], (num_keypoints, 3))
            d = s['pred_instances']['keypoints'][0]
            errs += list(np.hypot(*(d - g[:, :2]).T)[g[:, 2] > 0])
    return float(np.mean(errs))
