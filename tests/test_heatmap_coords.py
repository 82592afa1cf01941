"""One image-to-heatmap mapping (mmipr.heatmap.coords.image_to_heatmap),
against MMPose's own top-down transform, and the metric's A(s) window at
half-pixel centres rounded as MMPose rounds (half up)."""
import contextlib
import io
import json

import numpy as np
import pytest
import torch
from mmpose.codecs.utils import generate_gaussian_heatmaps
from mmpose.datasets.transforms import TopdownAffine
from mmpose.structures.bbox import get_warp_matrix
from test_difficulty_metric import META

from mmipr.evaluation import DifficultySplitCocoMetric
from mmipr.heatmap.coords import image_to_heatmap

POINTS = np.array([[12.25, 40.0], [100.0, 100.0], [131.7, 77.3],
                   [0.0, 0.0], [250.5, 333.125], [-20.0, 410.0]])


@pytest.mark.parametrize('center,scale,heatmap_size', [
    ((120.0, 90.0), (96.0, 128.0), (48, 64)),
    ((64.5, 200.25), (150.0, 200.0), (48, 64)),
    ((300.0, 300.0), (60.0, 60.0), (64, 64)),
])
def test_matches_mmpose_warp_matrix(center, scale, heatmap_size):
    """``get_warp_matrix`` with the heatmap as output (float32 inside)."""
    warp = get_warp_matrix(np.array(center, np.float32),
                           np.array(scale, np.float32), 0.,
                           output_size=heatmap_size, fix_aspect_ratio=False)
    ref = POINTS @ warp[:, :2].T + warp[:, 2]
    ours = image_to_heatmap(POINTS, center, scale, heatmap_size)
    np.testing.assert_allclose(ours, ref, atol=1e-4)


@pytest.mark.parametrize('bbox', [[30.0, 50.0, 150.0, 290.0],
                                  [200.0, 10.0, 260.0, 60.0]])
def test_matches_mmpose_topdown_affine(bbox):
    """TopdownAffine's transformed keypoints (input pixels) divided by the
    stride, with the crop it records (input_center, input_scale)."""
    input_size, heatmap_size = (192, 256), (48, 64)
    x1, y1, x2, y2 = bbox
    results = dict(
        img=np.zeros((480, 640, 3), np.uint8),
        bbox_center=np.array([[(x1 + x2) / 2, (y1 + y2) / 2]], np.float32),
        bbox_scale=np.array([[x2 - x1, y2 - y1]], np.float32) * 1.25,
        keypoints=POINTS[None].astype(np.float32),
        keypoints_visible=np.ones((1, len(POINTS)), np.float32))
    out = TopdownAffine(input_size=input_size)(results)
    ref = out['transformed_keypoints'][0] * (
        np.array(heatmap_size) / np.array(input_size))
    ours = image_to_heatmap(POINTS, out['input_center'], out['input_scale'],
                            heatmap_size)
    np.testing.assert_allclose(ours, ref, atol=1e-3)


def test_metric_activation_window_rounds_half_up(tmp_path):
    """Ground truths at exact half pixels of an 8x8 heatmap (-0.5 .. 6.5):
    A(0) reads the pixel MMPose's codec puts the peak on for that keypoint
    (``int(x + 0.5)``), never the pixel below (half to even would pick 2
    for 2.5)."""
    K, W, H = 17, 8, 8
    center, scale = np.array([100.0, 100.0]), np.array([32.0, 32.0])
    hm_xy = np.stack([np.arange(K) % 8 - 0.5, (np.arange(K) * 3) % 8 - 0.5],
                     1)
    # image pixel of each: the mapping inverted (exact in binary)
    img_xy = hm_xy / np.array([W, H]) * scale + center - scale / 2
    assert (image_to_heatmap(img_xy, center, scale, (W, H)) == hm_xy).all()
    kpts = np.concatenate([img_xy, np.full((K, 1), 2.0)], 1)
    ann = {'id': 1, 'image_id': 1, 'category_id': 1,
           'bbox': [84.0, 84.0, 32.0, 32.0], 'area': 800.0, 'iscrowd': 0,
           'num_keypoints': K, 'keypoints': kpts.ravel().tolist()}
    ann_file = tmp_path / 'ann.json'
    ann_file.write_text(json.dumps({
        'images': [{'id': 1, 'width': 200, 'height': 200,
                    'file_name': '1.jpg'}],
        'annotations': [ann],
        'categories': [{'id': 1, 'name': 'person'}]}))
    # the codec's peaks (at int(x + 0.5); integer 3-sigma radius)
    peaks, _ = generate_gaussian_heatmaps((W, H), hm_xy[None],
                                          np.ones((1, K)), sigma=1.0)
    normalised = peaks / peaks.sum((1, 2), keepdims=True)
    sample = {'id': 1, 'img_id': 1, 'category_id': 1, 'gt_instances': {},
              'raw_ann_info': ann,
              'pred_instances': {
                  'keypoints': img_xy[None].astype(np.float32),
                  'keypoint_scores': np.ones((1, K)),
                  'bboxes': np.array([[84, 84, 116, 116]], np.float32),
                  'bbox_scores': np.ones(1, np.float32)},
              'pred_fields': {'heatmaps': torch.from_numpy(peaks)},
              'input_center': center, 'input_scale': scale,
              'input_size': (32, 32)}
    metric = DifficultySplitCocoMetric(ann_file=str(ann_file),
                                       activation_s=0,
                                       heatmap_normalization='sum')
    metric.dataset_meta = dict(META)
    metric.process([], [sample])
    sums = metric.results[0][0]['activation_sums'][1]
    np.testing.assert_allclose(sums, normalised.max((1, 2)), rtol=1e-6)
    with contextlib.redirect_stdout(io.StringIO()):
        out = metric.evaluate(1)
    assert out['coco/all/A(0)'] == pytest.approx(
        normalised.max((1, 2)).mean(), rel=1e-6)
