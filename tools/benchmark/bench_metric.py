"""Time DifficultySplitCocoMetric against MMPose's CocoMetric.

Builds a random COCO-format keypoint annotation set (pure JSON, no images)
and top-down predictions for it (ground-truth boxes, or detected boxes with
misses and false positives), then times ``process`` + ``evaluate`` of both
metrics on the same predictions, in one run, and writes the ratio into
docs/benchmarks.md (section ``metric``).

Example::

    python tools/benchmark/bench_metric.py --num-instances 20000
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os.path as osp
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, osp.dirname(__file__))
# the repository's mmipr, not an installed copy
sys.path.insert(1, osp.join(osp.dirname(__file__), '..', '..'))
from report import write_section


def random_annotations(num_instances: int, num_keypoints: int = 17,
                       seed: int = 0) -> dict:
    """A random COCO keypoint annotation set: about 2.5 persons per image,
    every difficulty level, some crowd regions and unlabelled instances."""
    rng = np.random.default_rng(seed)
    K = num_keypoints
    num_images = int(np.ceil(num_instances / 2.5))
    img_of = np.sort(rng.integers(1, num_images + 1, num_instances))
    h = rng.choice([40., 100., 250.], num_instances) * rng.uniform(
        0.7, 1.3, num_instances)
    w = h * rng.uniform(0.3, 1.0, num_instances)
    x, y = rng.uniform(0, 640 - w), rng.uniform(0, 480 - np.minimum(h, 479))
    vis = rng.choice([0, 1, 2], (num_instances, K), p=[0.3, 0.2, 0.5])
    kx = x[:, None] + rng.uniform(0, 1, (num_instances, K)) * w[:, None]
    ky = y[:, None] + rng.uniform(0, 1, (num_instances, K)) * h[:, None]
    crowd = rng.uniform(size=num_instances) < 0.01
    vis[crowd | (rng.uniform(size=num_instances) < 0.03)] = 0
    kx[vis == 0] = 0
    ky[vis == 0] = 0
    kpts = np.stack([kx, ky, vis], -1).reshape(num_instances, -1)
    anns = [{'id': i + 1, 'image_id': int(img_of[i]), 'category_id': 1,
                 'bbox': [float(x[i]), float(y[i]), float(w[i]), float(h[i])],
                 'area': float(w[i] * h[i] * 0.6), 'iscrowd': int(crowd[i]),
                 'num_keypoints': int((vis[i] > 0).sum()),
                 'keypoints': kpts[i].tolist()} for i in range(num_instances)]
    images = [{'id': i, 'width': 640, 'height': 480, 'file_name': f'{i:012d}.jpg'}
              for i in range(1, num_images + 1)]
    return {'images': images, 'annotations': anns, 'categories': [{
        'id': 1, 'name': 'person', 'keypoints': [str(k) for k in range(K)],
        'skeleton': []}]}


def predictions(coco_json: dict, detected: bool, seed: int = 1) -> list:
    """Top-down data samples as MMPose's CocoMetric reads them: ground truth
    plus noise of varying size; with ``detected``, 10 % missed, 10 %
    duplicated, and one false positive per 4 images."""
    rng = np.random.default_rng(seed)
    out = []

    def add(img_id, kpts, box, score, raw=None):
        x, y, w, h = box
        ds = {'id': raw['id'] if raw else len(out), 'img_id': img_id,
                  'category_id': 1, 'gt_instances': {},
                  'pred_instances': {
                      'keypoints': kpts[None].astype(np.float32),
                      'keypoint_scores': rng.uniform(0.3, 1, (1, len(kpts))),
                      'bboxes': np.array([[x, y, x + w, y + h]], np.float32),
                      'bbox_scores': np.array([score], np.float32)}}
        if raw is not None:
            ds['raw_ann_info'] = raw
        out.append(ds)

    for ann in coco_json['annotations']:
        if ann['iscrowd'] or (detected and rng.uniform() < 0.1):
            continue
        g = np.reshape(ann['keypoints'], (-1, 3))
        kpts = g[:, :2] + rng.normal(0, rng.choice([1, 4, 12, 30]),
                                     (len(g), 2))
        for _ in range(2 if detected and rng.uniform() < 0.1 else 1):
            add(ann['image_id'], kpts, ann['bbox'],
                rng.uniform(0.3, 1) if detected else 1.0,
                None if detected else ann)
    if detected:
        for img in coco_json['images'][::4]:
            x, y = rng.uniform(0, 500), rng.uniform(0, 350)
            K = len(coco_json['categories'][0]['keypoints'])
            kpts = np.stack([rng.uniform(x, x + 100, K),
                             rng.uniform(y, y + 120, K)], 1)
            add(img['id'], kpts, [x, y, 100, 120], rng.uniform(0.1, 1))
    return out


def time_metric(metric, samples: list, meta: dict, batch: int = 64) -> tuple:
    """CPU seconds of this process and wall seconds of ``process`` over all
    batches + ``evaluate``; the metrics."""
    metric.dataset_meta = meta
    cpu, wall = time.process_time(), time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        for i in range(0, len(samples), batch):
            metric.process([], samples[i:i + batch])
        out = metric.evaluate(len(samples))
    return (time.process_time() - cpu, time.perf_counter() - wall), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--num-instances', type=int, default=20000,
                        help='ground-truth instances (predictions are about '
                        'as many)')
    parser.add_argument('--modes', nargs='+', default=['gt', 'det'],
                        choices=['gt', 'det'])
    parser.add_argument('--no-write', action='store_true',
                        help='do not update docs/benchmarks.md')
    args = parser.parse_args()

    import mmpose
    from mmengine.logging import MMLogger
    from mmpose.datasets.datasets.utils import parse_pose_metainfo
    from mmpose.evaluation import CocoMetric

    import mmipr  # noqa: F401
    from mmipr.evaluation import DifficultySplitCocoMetric
    MMLogger.get_instance('bench_metric', log_level='WARNING')
    meta = parse_pose_metainfo({'from_file': osp.join(
        osp.dirname(mmpose.__file__), '.mim/configs/_base_/datasets/coco.py')})
    coco_json = random_annotations(args.num_instances)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ann_file = osp.join(tmp, 'ann.json')
        with open(ann_file, 'w') as f:
            json.dump(coco_json, f)
        for mode in args.modes:
            samples = predictions(coco_json, detected=mode == 'det')
            t_ref, ref = time_metric(CocoMetric(ann_file=ann_file), samples,
                                     meta)
            t_ours, ours = time_metric(
                DifficultySplitCocoMetric(ann_file=ann_file), samples, meta)
            assert all(ours[k] == v for k, v in ref.items())
            rows.append((mode, len(samples), t_ref, t_ours,
                         ours['coco/AP'], ours['coco/hard/AP'],
                         ours['coco/easy/AP']))
            print(f'{mode}: {len(samples)} predictions, CPU s CocoMetric '
                  f'{t_ref[0]:.1f}, DifficultySplitCocoMetric '
                  f'{t_ours[0]:.1f}, ratio {t_ours[0] / t_ref[0]:.2f} '
                  f'(wall {t_ours[1] / t_ref[1]:.2f})')
    md = ['## DifficultySplitCocoMetric vs CocoMetric', '',
          (f'Random COCO-format keypoint set: {args.num_instances} ground-truth '
          f'instances, {len(coco_json["images"])} images (pure JSON). Time of '
          '`process` (batches of 64) + `evaluate`, both metrics on the same '
          'predictions in one run; the split metric evaluates all '
          '13 splits (AP/AR/EPE). CPU time of the process (robust to other '
          'load on a shared machine) and wall time. Requirement: ratio <= 1.5.'),
          '',
          ('| boxes | predictions | CocoMetric CPU s | split metric CPU s '
          '| ratio (CPU) | ratio (wall) | AP | hard/AP | easy/AP |'),
          '| --- | --- | --- | --- | --- | --- | --- | --- | --- |']
    for mode, n, a, b, ap, hard, easy in rows:
        md.append(f'| {"ground truth" if mode == "gt" else "detected"} | '
                  f'{n} | {a[0]:.1f} | {b[0]:.1f} | {b[0] / a[0]:.2f} | '
                  f'{b[1] / a[1]:.2f} | {ap:.3f} | {hard:.3f} | {easy:.3f} |')
    if not args.no_write:
        write_section('metric', '\n'.join(md))


if __name__ == '__main__':
    main()
