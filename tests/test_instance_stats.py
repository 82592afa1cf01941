"""Per-instance statistics of Table V against xtcocotools' own OKS."""
import contextlib
import io

import numpy as np
import pytest
from xtcocotools.coco import COCO
from xtcocotools.cocoeval import COCOeval

from mmipr.analysis.instance_stats import object_keypoint_similarity, split_by_localisation

SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62,
                   1.07, 1.07, .87, .87, .89, .89]) / 10


def _coco_oks(pred: np.ndarray, ann: dict) -> float:
    gt = COCO()
    gt.dataset = dict(images=[dict(id=1, width=640, height=480)],
                      annotations=[ann], categories=[dict(id=1,
                                                          name='person')])
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes([dict(image_id=1, category_id=1, score=1.0,
                              keypoints=np.concatenate(
                                  [pred, np.ones((17, 1))], 1).ravel()
                              .tolist())])
        ev = COCOeval(gt, dt, 'keypoints', SIGMAS, use_area=True)
        ev.evaluate()
    return float(ev.ious[(1, 1)][0, 0])


def test_oks_equals_xtcocotools():
    rng = np.random.default_rng(0)
    xy = rng.uniform(100, 300, (17, 2))
    vis = rng.choice([0, 1, 2], 17, p=[0.3, 0.2, 0.5])
    xy[vis == 0] = 0
    ann = dict(id=5, image_id=1, category_id=1, iscrowd=0, area=9000.0,
               bbox=[100, 100, 200, 200], num_keypoints=int((vis > 0).sum()),
               keypoints=np.concatenate([xy, vis[:, None]], 1).ravel()
               .tolist())
    pred = xy + rng.normal(0, 6, (17, 2))
    assert object_keypoint_similarity(pred, ann, SIGMAS) == pytest.approx(
        _coco_oks(pred, ann), rel=1e-9)


def test_localised_and_dispersed_split_at_the_paper_threshold():
    baseline = {'1': {'A(1)': 0.5}, '2': {'A(1)': 0.34},
                '3': {'A(1)': 0.1}, '4': {'A(1)': float('nan')}}
    assert split_by_localisation(baseline) == ({'1'}, {'2', '3'})


def test_an_instance_without_labelled_keypoints_has_no_oks():
    """Table V averages OKS over instances with a localisation to compare;
    COCOeval's box-distance OKS of an unlabelled ground truth is not one."""
    ann = dict(id=1, area=100.0, bbox=[0, 0, 10, 10],
               keypoints=[0] * 51, num_keypoints=0)
    assert np.isnan(object_keypoint_similarity(np.zeros((17, 2)), ann,
                                               SIGMAS))
