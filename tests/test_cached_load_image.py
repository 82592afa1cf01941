"""CachedLoadImage against MMPose's LoadImage, the reference it must equal."""
import glob
import os
import os.path as osp
import shutil

import numpy as np
import pytest
from conftest import REPO
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpose.registry import DATASETS, TRANSFORMS

from mmipr.datasets.transforms import CachedLoadImage

LEARNABILITY = osp.join(REPO, 'configs/synthetic/learnability_r18_detection.py')


@pytest.fixture
def image_copy(tiny_coco, tmp_path) -> str:
    """A copy of one synthetic image that a test may delete."""
    src = sorted(glob.glob(osp.join(tiny_coco, 'train2017', '*.jpg')))[0]
    return shutil.copy(src, tmp_path / 'person.jpg')


def test_same_results_as_load_image_and_no_second_read(image_copy):
    reference = TRANSFORMS.build(dict(type='LoadImage'))(
        dict(img_path=image_copy))
    load = TRANSFORMS.build(dict(type='CachedLoadImage'))
    first = load(dict(img_path=image_copy))
    os.remove(image_copy)  # a second read would now fail
    second = load(dict(img_path=image_copy))
    for results in (first, second):
        np.testing.assert_array_equal(results['img'], reference['img'])
        assert results['img'].dtype == reference['img'].dtype
        assert results['img_shape'] == reference['img_shape']
        assert results['ori_shape'] == reference['ori_shape']


def test_cached_image_is_read_only(image_copy):
    load = CachedLoadImage()
    img = load(dict(img_path=image_copy))['img']
    with pytest.raises(ValueError, match='read-only'):
        img[0, 0, 0] = 0


def test_nothing_cached_past_max_cache_mb(image_copy):
    load = CachedLoadImage(max_cache_mb=0.01)  # smaller than one image
    assert load(dict(img_path=image_copy))['img'].flags.writeable
    os.remove(image_copy)
    with pytest.raises(FileNotFoundError, match='person.jpg'):
        load(dict(img_path=image_copy))


def test_negative_max_cache_mb_is_refused():
    with pytest.raises(ValueError, match='max_cache_mb must be a finite number >= 0'):
        CachedLoadImage(max_cache_mb=-1)


def augmented_samples(data_root: str, load: str) -> list:
    """Two epochs of the learnability config's augmented train pipeline on
    ``data_root``, loading images with ``load``; numpy's global generator
    (which MMPose's random transforms draw from) seeded first."""
    cfg = Config.fromfile(LEARNABILITY).train_dataloader.dataset
    pipeline = [dict(t, type=load) if t['type'] == 'CachedLoadImage' else t
                for t in cfg.pipeline]
    init_default_scope('mmpose')
    dataset = DATASETS.build(
        dict(cfg, data_root=data_root, pipeline=pipeline))
    np.random.seed(0)
    return [dataset[i] for _ in range(2) for i in range(len(dataset))]


def test_augmented_pipeline_samples_equal_load_image_ones(tiny_coco):
    """Downstream transforms (flip, affine) must not alter cached images:
    the second epoch would then differ from LoadImage's."""
    expected = augmented_samples(tiny_coco, 'LoadImage')
    got = augmented_samples(tiny_coco, 'CachedLoadImage')
    assert len(got) == len(expected) > 2
    for ours, theirs in zip(got, expected):
        np.testing.assert_array_equal(ours['inputs'].numpy(),
                                      theirs['inputs'].numpy())
        np.testing.assert_array_equal(
            ours['data_samples'].gt_fields.heatmaps.numpy(),
            theirs['data_samples'].gt_fields.heatmaps.numpy())
