"""Shared fixtures: a tiny synthetic COCO dataset and configs pointed at it."""
import os.path as osp

import pytest

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
