"""DifficultySplitCocoMetric's evaluation engines (faster-coco-eval and
xtcocotools) and its handling of non-finite predicted keypoints.

The brute-force per-split reference (filtered files through pycocotools) is
in ``test_difficulty_metric.py``; it runs on the default engine, which is
faster-coco-eval for COCO keypoints. Here both engines must give CocoMetric's
keys and each other's split keys within 1e-9.
"""
import contextlib
import copy
import gc
import io
import json

import numpy as np
import pytest
from mmpose.evaluation import CocoMetric
from test_difficulty_metric import (
    META,
    detected_box_samples,
    gt_box_samples,
    make_annotations,
    read_json,
    reference_split_of,
    run_metric,
)

from mmipr.evaluation import DifficultySplitCocoMetric, predictions
from mmipr.evaluation.metrics import difficulty_split_coco_metric as dscm

ENGINES = ('faster-coco-eval', 'xtcocotools')


@pytest.fixture(scope='module')
def ann_file(tmp_path_factory):
    path = tmp_path_factory.mktemp('coco') / 'ann.json'
    path.write_text(json.dumps(make_annotations()))
    return str(path)


def assert_close(ours: dict, ref: dict, keys=None) -> None:
    for key in keys or ref:
        assert abs(ours[key] - ref[key]) <= 1e-9, (key, ours[key], ref[key])


def engine_logs(monkeypatch) -> list:
    """Record the metric's log lines (its own and the non-finite rules')."""
    lines = []
    real = dscm.print_log

    def record(msg, *args, **kwargs):
        lines.append(str(msg))
        return real(msg, *args, **kwargs)
    for module in (dscm, predictions):
        monkeypatch.setattr(module, 'print_log', record)
    return lines


def test_engine_choice(ann_file):
    assert DifficultySplitCocoMetric(ann_file=ann_file).engine == \
        'faster-coco-eval'
    assert DifficultySplitCocoMetric(
        ann_file=ann_file, eval_engine='xtcocotools').engine == 'xtcocotools'
    # CrowdPose-style: xtcocotools; faster-coco-eval refused with a reason
    crowd = dict(ann_file=ann_file, iou_type='keypoints_crowd',
                 use_area=False)
    assert DifficultySplitCocoMetric(**crowd).engine == 'xtcocotools'
    assert DifficultySplitCocoMetric(
        ann_file=ann_file, use_area=False).engine == 'xtcocotools'
    with pytest.raises(ValueError, match="only for iou_type='keypoints'"):
        DifficultySplitCocoMetric(**crowd, eval_engine='faster-coco-eval')
    with pytest.raises(ValueError, match='eval_engine must be one of'):
        DifficultySplitCocoMetric(ann_file=ann_file, eval_engine='pycoco')


@pytest.mark.parametrize('mode', ['gt_boxes', 'detected_boxes'])
def test_engines_equal_coco_metric_and_each_other(ann_file, mode,
                                                  monkeypatch):
    coco_json = read_json(ann_file)
    samples = (gt_box_samples(coco_json) if mode == 'gt_boxes'
               else detected_box_samples(coco_json))
    # an image with ground truths but without any prediction
    img = next(a['image_id'] for a in coco_json['annotations']
               if reference_split_of(a) and a['image_id'] > 3)
    samples = [s for s in samples if s['img_id'] != img]
    ref = run_metric(CocoMetric(ann_file=ann_file), samples)
    logs = engine_logs(monkeypatch)
    outs = {e: run_metric(DifficultySplitCocoMetric(
        ann_file=ann_file, eval_engine=e), samples) for e in ENGINES}
    assert any('evaluating with faster-coco-eval' in ln for ln in logs)
    assert any('evaluating with xtcocotools' in ln for ln in logs)
    for out in outs.values():
        assert_close(out, ref)
    fast, xt = outs['faster-coco-eval'], outs['xtcocotools']
    assert fast.keys() == xt.keys()
    assert_close(fast, xt)
    assert fast['coco/hard/AP'] != fast['coco/easy/AP']
    assert fast['coco/all/paired'] > 0


@pytest.mark.parametrize('engine', ENGINES)
def test_empty_split_and_no_predictions(ann_file, tmp_path, engine):
    coco_json = read_json(ann_file)
    easy_only = dict(coco_json)
    easy_only['annotations'] = [a for a in coco_json['annotations']
                                if 'easy' in reference_split_of(a)
                                or a['iscrowd']]
    path = tmp_path / 'easy.json'
    path.write_text(json.dumps(easy_only))
    ids = {a['id'] for a in easy_only['annotations']}
    samples = [s for s in gt_box_samples(coco_json) if s['id'] in ids]
    out = run_metric(DifficultySplitCocoMetric(
        ann_file=str(path), eval_engine=engine), samples)
    assert out['coco/hard/count'] == 0
    assert out['coco/hard/AP'] == -1 and out['coco/hard/AR'] == -1
    assert out['coco/easy/AP'] > 0.5
    # no prediction at all
    for s in samples:
        for key in ('keypoints', 'keypoint_scores', 'bboxes', 'bbox_scores'):
            s['pred_instances'][key] = s['pred_instances'][key][:0]
    out = run_metric(DifficultySplitCocoMetric(
        ann_file=str(path), eval_engine=engine), samples)
    assert out['coco/AP'] == 0 and out['coco/easy/AP'] == 0
    assert out['coco/easy/paired'] == 0


CROWDPOSE_SIGMAS = [.079, .079, .072, .072, .062, .062, 0.107, 0.107, .087,
                    .087, .089, .089, .079, .079]


def crowdpose_like(num_images=12, seed=4):
    """14 keypoints, images with crowdIndex, no 'area' (CrowdPose)."""
    rng = np.random.default_rng(seed)
    K = 14
    images, anns = [], []
    for img_id in range(1, num_images + 1):
        images.append({'id': img_id, 'width': 640, 'height': 480,
                       'file_name': f'{img_id}.jpg',
                       'crowdIndex': float(rng.uniform())})
        for _ in range(int(rng.integers(1, 4))):
            h = float(rng.choice([50, 110, 250]))
            w = h * 0.6
            x, y = rng.uniform(0, 640 - w), rng.uniform(0, 480 - h)
            vis = rng.choice([0, 1, 2], K, p=[.2, .3, .5])
            xy = np.stack([rng.uniform(x, x + w, K),
                           rng.uniform(y, y + h, K)], 1)
            xy[vis == 0] = 0
            anns.append({'id': len(anns) + 1, 'image_id': img_id,
                         'category_id': 1, 'bbox': [x, y, w, h],
                         'iscrowd': 0, 'num_keypoints': int((vis > 0).sum()),
                         'keypoints': np.concatenate(
                             [xy, vis[:, None]], 1).ravel().tolist()})
    return {'images': images, 'annotations': anns, 'categories': [{
        'id': 1, 'name': 'person', 'keypoints': [str(k) for k in range(K)],
        'skeleton': []}]}


def test_crowdpose_style_config(tmp_path):
    coco_json = crowdpose_like()
    path = tmp_path / 'crowdpose.json'
    path.write_text(json.dumps(coco_json))
    meta = copy.deepcopy(META)
    meta.update(num_keypoints=14, sigmas=np.array(CROWDPOSE_SIGMAS),
                flip_indices=list(range(14)))
    rng = np.random.default_rng(0)
    samples = []
    for ann in coco_json['annotations']:
        g = np.reshape(ann['keypoints'], (14, 3))[:, :2]
        x, y, w, h = ann['bbox']
        samples.append({
            'id': ann['id'], 'img_id': ann['image_id'], 'category_id': 1,
            'raw_ann_info': copy.deepcopy(ann), 'gt_instances': {},
            'pred_instances': {
                'keypoints': (g + rng.normal(0, 3, g.shape))[None]
                .astype(np.float32),
                'keypoint_scores': rng.uniform(0.3, 1, (1, 14)),
                'bboxes': np.array([[x, y, x + w, y + h]], np.float32),
                'bbox_scores': np.ones(1, np.float32)}})

    def run(metric):
        metric.dataset_meta = copy.deepcopy(meta)
        metric.process([], copy.deepcopy(samples))
        with contextlib.redirect_stdout(io.StringIO()):
            return metric.evaluate(len(samples))
    cfg = dict(ann_file=str(path), iou_type='keypoints_crowd',
               use_area=False, prefix='crowdpose')
    ref = run(CocoMetric(**cfg))
    metric = DifficultySplitCocoMetric(**cfg)
    assert metric.engine == 'xtcocotools'
    out = run(metric)
    assert_close(out, ref)
    assert 'crowdpose/AP(H)' in out
    assert out['crowdpose/all/count'] == len(coco_json['annotations'])
    assert (out['crowdpose/easy/count'] + out['crowdpose/medium/count']
            + out['crowdpose/hard/count']) == out['crowdpose/all/count']


# ------------------------------------------------- non-finite predictions
def far_away(samples, which):
    out = copy.deepcopy(samples)
    for i in which:
        out[i]['pred_instances']['keypoints'][:] = predictions.FAR
    return out


@pytest.mark.parametrize('engine', ENGINES)
def test_nonfinite_predictions_are_misses(ann_file, engine, monkeypatch):
    coco_json = read_json(ann_file)
    samples = gt_box_samples(coco_json)
    nan = copy.deepcopy(samples)
    for s in nan:  # garbage coordinates, finite scores
        s['pred_instances']['keypoints'][:] = np.nan
    logs = engine_logs(monkeypatch)
    out = run_metric(DifficultySplitCocoMetric(ann_file=ann_file,
                                               eval_engine=engine), nan)
    # xtcocotools alone counts NaN OKS as a match at every threshold
    assert out['coco/AP'] == 0 and out['coco/AR'] == 0
    assert out['coco/easy/AP'] == 0 and out['coco/all/paired'] == 0
    warned = [ln for ln in logs if 'non-finite' in ln]
    assert len(warned) == 1 and f'{len(nan)} predicted' in warned[0]

    # some NaN or inf: exactly as if those predictions were far away
    which = list(range(0, len(samples), 3))
    mixed = copy.deepcopy(samples)
    for n, i in enumerate(which):
        kpts = mixed[i]['pred_instances']['keypoints']
        kpts[0, n % 17, n % 2] = np.inf if n % 2 else np.nan
    ours = run_metric(DifficultySplitCocoMetric(
        ann_file=ann_file, eval_engine=engine), mixed)
    ref = run_metric(DifficultySplitCocoMetric(
        ann_file=ann_file, eval_engine=engine), far_away(samples, which))
    for key, value in ref.items():
        if key.endswith(('/paired', '/EPE', '/A(2)')):
            continue  # far-away predictions pair; non-finite ones do not
        assert ours[key] == value, key
    clean = run_metric(DifficultySplitCocoMetric(ann_file=ann_file,
                                                 eval_engine=engine), samples)
    assert 0 < ours['coco/AP'] < clean['coco/AP']
    assert ours['coco/all/paired'] == clean['coco/all/paired'] - sum(
        bool(reference_split_of(
            {a['id']: a for a in coco_json['annotations']}[samples[i]['id']]))
        for i in which)
    assert np.isfinite(ours['coco/all/EPE'])


@pytest.mark.parametrize('enabled', [True, False])
def test_garbage_collector_paused_then_restored(ann_file, enabled,
                                                 monkeypatch):
    """compute_metrics runs with the cyclic collector paused and leaves it
    as it found it, also when it raises."""
    coco_json = read_json(ann_file)
    states = []
    real = DifficultySplitCocoMetric._split_metrics

    def spy(self, preds):
        states.append(gc.isenabled())
        if len(states) == 2:
            raise RuntimeError('stop')
        return real(self, preds)
    monkeypatch.setattr(DifficultySplitCocoMetric, '_split_metrics', spy)
    (gc.enable if enabled else gc.disable)()
    try:
        run_metric(DifficultySplitCocoMetric(ann_file=ann_file),
                   gt_box_samples(coco_json))
        assert gc.isenabled() == enabled
        with pytest.raises(RuntimeError, match='stop'):
            run_metric(DifficultySplitCocoMetric(ann_file=ann_file),
                       gt_box_samples(coco_json))
        assert gc.isenabled() == enabled
    finally:
        gc.enable()
    assert states == [False, False]


@pytest.mark.parametrize('engine', ENGINES)
def test_format_only_writes_coco_metric_results(ann_file, tmp_path, engine):
    """format_only: no evaluation, the results file holds CocoMetric's
    entries (the same values, indented or not)."""
    samples = detected_box_samples(read_json(ann_file))
    ref = run_metric(CocoMetric(ann_file=ann_file, format_only=True,
                                outfile_prefix=str(tmp_path / 'ref')),
                     samples)
    out = run_metric(DifficultySplitCocoMetric(
        ann_file=ann_file, format_only=True, eval_engine=engine,
        outfile_prefix=str(tmp_path / 'ours')), samples)
    assert out == ref == {}
    assert read_json(tmp_path / 'ours.keypoints.json') == read_json(
        tmp_path / 'ref.keypoints.json')
