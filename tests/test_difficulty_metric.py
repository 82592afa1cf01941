"""DifficultySplitCocoMetric against MMPose's CocoMetric and brute-force COCOeval.

The per-split reference filters the annotation file to the split's ground
truths (plus COCO's ignored ones: crowd regions, instances without labelled
keypoints) and the result file to the predictions assigned to the split, and
runs pycocotools' COCOeval on them; split membership and the OKS assignment
are re-implemented here from the paper-notes table and COCO's OKS formula.
"""
import contextlib
import copy
import io
import json
import os.path as osp
import pickle

import mmpose
import numpy as np
import pytest
import torch
from conftest import reference_split_epe
from mmpose.datasets.datasets.utils import parse_pose_metainfo
from mmpose.evaluation import CocoMetric
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from mmipr.evaluation import DifficultySplitCocoMetric

K = 17
META = parse_pose_metainfo({"from_file": osp.join(
    osp.dirname(mmpose.__file__), ".mim/configs/_base_/datasets/coco.py")})
COCO_KEYS = ['AP', 'AP .5', 'AP .75', 'AP (M)', 'AP (L)', 'AR', 'AR .5',
             'AR .75', 'AR (M)', 'AR (L)']
SPLIT_OF = {  # (factor, level) -> split name, as documented in docs/metric.md
    ('joints', 0): 'joints_many', ('joints', 1): 'joints_medium',
    ('joints', 2): 'joints_few', ('occlusion', 0): 'occlusion_low',
    ('occlusion', 1): 'occlusion_medium', ('occlusion', 2): 'occlusion_high',
    ('size', 0): 'size_large', ('size', 1): 'size_medium',
    ('size', 2): 'size_small', ('combined', 0): 'easy',
    ('combined', 1): 'medium', ('combined', 2): 'hard'}
SPLITS = [v for v in SPLIT_OF.values()] + ['easy_medium']


# ----------------------------------------------------------------- fixtures
def make_annotations(seed=0, num_images=30):
    """Images with instances of every level, crowd regions, unlabelled
    instances, one image without any person, one crowded image."""
    rng = np.random.default_rng(seed)
    images, anns = [], []
    for img_id in range(1, num_images + 1):
        images.append({"id": img_id, "width": 640, "height": 480,
                           "file_name": f'{img_id}.jpg'})
        n_inst = 0 if img_id == 1 else (8 if img_id == 2 else
                                        int(rng.integers(1, 5)))
        for _ in range(n_inst):
            size = float(rng.choice([40, 100, 220]) * rng.uniform(0.8, 1.2))
            w, h = size * rng.uniform(0.4, 1.0), size
            x, y = rng.uniform(0, 640 - w), rng.uniform(0, 480 - h)
            n_lab = int(rng.choice([3, 8, 14, 17]))
            n_occ = round(n_lab * rng.choice([0.0, 0.3, 0.8]))
            vis = np.zeros(K, int)
            lab = rng.choice(K, n_lab, replace=False)
            vis[lab] = 2
            vis[lab[:n_occ]] = 1
            xy = np.stack([rng.uniform(x, x + w, K), rng.uniform(y, y + h, K)],
                          1)
            xy[vis == 0] = 0
            kind = rng.uniform()
            iscrowd = int(kind < 0.05)
            if iscrowd or kind < 0.1:  # crowd region / unlabelled instance
                vis[:] = 0
                xy[:] = 0
            kpts = np.concatenate([xy, vis[:, None]], 1).ravel().tolist()
            anns.append({"id": len(anns) + 1, "image_id": img_id,
                             "category_id": 1, "bbox": [x, y, w, h],
                             "area": w * h * 0.7, "iscrowd": iscrowd,
                             "num_keypoints": int((vis > 0).sum()),
                             "keypoints": kpts})
    return {"images": images, "annotations": anns,
                "categories": [{"id": 1, "name": 'person',
                                 "keypoints": [str(i) for i in range(K)],
                                 "skeleton": []}]}


def sample(sample_id, img_id, kpts, bbox_xywh, score, rng, raw=None,
           heatmaps=None, center=None, scale=None):
    x, y, w, h = bbox_xywh
    ds = {"id": sample_id, "img_id": img_id, "category_id": 1, "gt_instances": {},
              "pred_instances": {
                  "keypoints": kpts[None].astype(np.float32),
                  "keypoint_scores": rng.uniform(0.3, 1.0, (1, K)),
                  "bboxes": np.array([[x, y, x + w, y + h]], np.float32),
                  "bbox_scores": np.array([score], np.float32)}}
    if raw is not None:
        ds['raw_ann_info'] = raw
    if heatmaps is not None:
        ds.update(pred_fields={"heatmaps": heatmaps}, input_center=center,
                  input_scale=scale, input_size=(48, 64))
    return ds


def gt_box_samples(coco_json, seed=1):
    """Top-down with ground-truth boxes: one sample per non-crowd instance,
    keypoints = ground truth + noise of varying size."""
    rng = np.random.default_rng(seed)
    out = []
    for ann in coco_json['annotations']:
        if ann['iscrowd']:
            continue
        gt = np.reshape(ann['keypoints'], (K, 3))[:, :2]
        x, y, w, h = ann['bbox']
        noise = rng.choice([0.5, 2, 6, 15, 40])
        kpts = gt + rng.normal(0, noise, (K, 2))
        missing = np.reshape(ann['keypoints'], (K, 3))[:, 2] == 0
        kpts[missing] = np.stack([rng.uniform(x, x + w, K),
                                  rng.uniform(y, y + h, K)], 1)[missing]
        out.append(sample(ann['id'], ann['image_id'], kpts, ann['bbox'], 1.0,
                          rng, raw=copy.deepcopy(ann)))
    return out


def detected_box_samples(coco_json, seed=2):
    """Top-down with detected boxes: missed instances, duplicates, false
    positives (incl. the image without persons; one image with > 20)."""
    rng = np.random.default_rng(seed)
    out = []
    for s in gt_box_samples(coco_json, seed):
        if rng.uniform() < 0.15:
            continue  # missed by the detector
        for _ in range(2 if rng.uniform() < 0.2 else 1):
            kpts = s['pred_instances']['keypoints'][0] + rng.normal(0, 1, (K, 2))
            x1, y1, x2, y2 = s['pred_instances']['bboxes'][0]
            out.append(sample(len(out), s['img_id'], kpts,
                              [x1, y1, x2 - x1, y2 - y1],
                              rng.uniform(0.3, 1.0), rng))
    for img in coco_json['images']:
        n_fp = 24 if img['id'] == 3 else int(rng.integers(0, 3))
        for _ in range(n_fp):
            x, y = rng.uniform(0, 500), rng.uniform(0, 350)
            kpts = np.stack([rng.uniform(x, x + 100, K),
                             rng.uniform(y, y + 120, K)], 1)
            out.append(sample(len(out), img['id'], kpts, [x, y, 100, 120],
                              rng.uniform(0.1, 1.0), rng))
    return out


@pytest.fixture(scope='module')
def ann_file(tmp_path_factory):
    path = tmp_path_factory.mktemp('coco') / 'ann.json'
    path.write_text(json.dumps(make_annotations()))
    return str(path)


def read_json(path):
    with open(path) as f:
        return json.load(f)


def run_metric(metric, samples, batch=16):
    metric.dataset_meta = copy.deepcopy(META)
    for i in range(0, len(samples), batch):
        metric.process([], copy.deepcopy(samples[i:i + batch]))
    with contextlib.redirect_stdout(io.StringIO()):
        return metric.evaluate(len(samples))


# ------------------------------------------------------- reference (brute)
def reference_split_of(ann):
    """Split names of one annotation, from the paper-notes table."""
    v = np.reshape(ann['keypoints'], (K, 3))[:, 2]
    n = int((v > 0).sum())
    if ann['iscrowd'] or n == 0:
        return set()
    lv = {"joints": 2 if n <= 5 else (1 if n <= 10 else 0)}
    occ = (v == 1).sum() / n
    lv['occlusion'] = 2 if occ > 0.5 else (1 if occ >= 0.1 else 0)
    size = max(ann['bbox'][2:])
    lv['size'] = 2 if size < 64 else (1 if size <= 128 else 0)
    lv['combined'] = max(lv.values())
    names = {SPLIT_OF[f, level] for f, level in lv.items()}
    return names | ({'easy_medium'} if lv['combined'] < 2 else set())


def coco_oks(dt, ann):
    """COCO's OKS of a result against a labelled ground truth."""
    sig = np.asarray(META['sigmas'])
    g = np.reshape(ann['keypoints'], (K, 3))
    d = np.reshape(dt['keypoints'], (K, 3))
    e = ((d[:, :2] - g[:, :2]) ** 2).sum(1) / (2 * sig) ** 2 / (
        ann['area'] + np.spacing(1)) / 2
    return np.exp(-e)[g[:, 2] > 0].mean()


def reference_assignment(results, coco_json, samples, by_ann_id):
    """Ground-truth id each result entry is assigned to (None: no split)."""
    anns = {a['id']: a for a in coco_json['annotations']}
    if by_ann_id:
        lookup = {np.round(s['pred_instances']['keypoints'][0], 2)
                  .tobytes(): s['id'] for s in samples}
        out = []
        for r in results:
            ann_id = lookup[np.round(np.reshape(r['keypoints'], (K, 3))
                                     [:, :2].astype(np.float32), 2).tobytes()]
            out.append(ann_id if reference_split_of(anns[ann_id]) else None)
        return out
    out = []
    for r in results:
        cands = [a for a in coco_json['annotations']
                 if a['image_id'] == r['image_id'] and reference_split_of(a)]
        oks = [coco_oks(r, a) for a in cands]
        best = int(np.argmax(oks)) if oks else -1
        out.append(cands[best]['id'] if oks and oks[best] > 0 else None)
    return out


def reference_split_ap(coco_json, results, assigned, split):
    anns = {a['id']: a for a in coco_json['annotations']}
    gt = dict(coco_json)
    gt['annotations'] = [a for a in coco_json['annotations']
                         if split in reference_split_of(a)
                         or not reference_split_of(a)]
    dts = [copy.deepcopy(r) for r, a in zip(results, assigned)
           if a is None or split in reference_split_of(anns[a])]
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        if dts:
            coco_dt = coco_gt.loadRes(dts)
        else:
            coco_dt = COCO()
            coco_dt.dataset = {"images": gt['images'], "annotations": [],
                                   "categories": gt['categories']}
            coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, 'keypoints')
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {'AP': ev.stats[0], 'AP .5': ev.stats[1], 'AP .75': ev.stats[2],
            'AR': ev.stats[5]}


# -------------------------------------------------------------------- tests
@pytest.mark.parametrize('mode', ['gt_boxes', 'detected_boxes'])
def test_overall_and_per_split_equal_references(ann_file, tmp_path, mode):
    coco_json = read_json(ann_file)
    samples = (gt_box_samples(coco_json) if mode == 'gt_boxes'
               else detected_box_samples(coco_json))
    ref = run_metric(CocoMetric(ann_file=ann_file,
                                outfile_prefix=str(tmp_path / 'ref')),
                     samples)
    ours = run_metric(DifficultySplitCocoMetric(ann_file=ann_file), samples)
    for key in COCO_KEYS:
        assert ours[f'coco/{key}'] == ref[f'coco/{key}'], key

    results = read_json(tmp_path / 'ref.keypoints.json')
    assigned = reference_assignment(results, coco_json, samples,
                                    mode == 'gt_boxes')
    counts = {s: sum(s in reference_split_of(a)
                     for a in coco_json['annotations']) for s in SPLITS}
    for split in SPLITS:
        expected = reference_split_ap(coco_json, results, assigned, split)
        assert ours[f'coco/{split}/count'] == counts[split], split
        for key, value in expected.items():
            assert ours[f'coco/{split}/{key}'] == pytest.approx(
                value, abs=1e-12), (split, key)
    assert min(counts.values()) > 0
    assert ours['coco/hard/AP'] != ours['coco/easy/AP']


def test_epe_per_split_with_gt_boxes(ann_file):
    coco_json = read_json(ann_file)
    samples = gt_box_samples(coco_json)
    ours = run_metric(DifficultySplitCocoMetric(ann_file=ann_file,
                                                nms_mode='none'), samples)
    anns = {a['id']: a for a in coco_json['annotations']}
    for split in SPLITS + ['all']:
        want = reference_split_epe(samples, anns, reference_split_of, split,
                                   K)
        assert ours[f'coco/{split}/EPE'] == pytest.approx(want, rel=1e-5)


def test_epe_with_detected_boxes_uses_oks_matching(ann_file):
    coco_json = read_json(ann_file)
    samples = [s for s in gt_box_samples(coco_json, seed=5)]
    for s in samples:  # one exact prediction per instance, from a detector
        gt = np.reshape(s.pop('raw_ann_info')['keypoints'], (K, 3))[:, :2]
        s['pred_instances']['keypoints'] = (gt + 1.5)[None].astype(np.float32)
    ours = run_metric(DifficultySplitCocoMetric(ann_file=ann_file), samples)
    # each labelled instance matched at OKS >= 0.5 to its own prediction
    assert ours['coco/all/paired'] == ours['coco/all/count']
    assert ours['coco/hard/EPE'] == pytest.approx(1.5 * np.sqrt(2), rel=1e-4)


def gaussian_heatmaps(centers, size=(48, 64), sigma=1.5):
    w, h = size
    xs, ys = np.arange(w), np.arange(h)
    g = np.exp(-((xs[None, None] - centers[:, 0, None, None]) ** 2
                 + (ys[None, :, None] - centers[:, 1, None, None]) ** 2)
               / (2 * sigma ** 2))
    return g


@pytest.fixture
def one_torch_thread():
    """Tiny heatmaps: intra-op threads only add overhead on a loaded CPU."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_activation_sum_from_heatmaps(ann_file, one_torch_thread):
    coco_json = read_json(ann_file)
    samples = gt_box_samples(coco_json)
    refs = {}
    for s in samples:
        ann = s['raw_ann_info']
        x, y, w, h = ann['bbox']
        center = np.array([x + w / 2, y + h / 2], np.float32)
        scale = np.array([max(w, h * 0.75), max(h, w / 0.75)]) * 1.25
        g = np.reshape(ann['keypoints'], (K, 3))
        # the decode's mapping inverted: x_hm = (x - c + s / 2) / s * W
        hm_xy = (g[:, :2] - center + scale / 2) / scale * np.array([48, 64])
        offset = np.random.default_rng(ann['id']).integers(-3, 4, (K, 2))
        peaks = np.clip(hm_xy + offset, 0, [47, 63])
        raw = gaussian_heatmaps(peaks)
        s.update(pred_fields={"heatmaps": torch.tensor(raw)},
                 input_center=center, input_scale=scale, input_size=(192, 256))
        norm = raw / raw.sum((1, 2), keepdims=True)
        cx, cy = np.round(hm_xy).astype(int).T
        a2 = [norm[k, max(cy[k] - 2, 0):cy[k] + 3, max(cx[k] - 2, 0):cx[k] + 3]
              .sum() if 0 <= cx[k] + 2 and 0 <= cy[k] + 2 else 0.0
              for k in range(K)]
        refs[ann['id']] = (np.array(a2), g[:, 2] > 0)
    ours = run_metric(DifficultySplitCocoMetric(
        ann_file=ann_file, heatmap_normalization='sum'), samples)
    anns = {a['id']: a for a in coco_json['annotations']}
    for split in ('easy', 'hard', 'all'):
        vals = np.concatenate([
            refs[i][0][refs[i][1]] for i in refs
            if (split == 'all' and reference_split_of(anns[i]))
            or split in reference_split_of(anns[i])])
        assert ours[f'coco/{split}/A(2)'] == pytest.approx(vals.mean(),
                                                           rel=1e-4)
    # raw Gaussians do not sum to 1: 'auto' uses softmax, not 'sum'
    auto = run_metric(DifficultySplitCocoMetric(ann_file=ann_file), samples)
    assert auto['coco/all/A(2)'] != pytest.approx(ours['coco/all/A(2)'])
    for s in samples:  # already normalised: 'auto' uses them as given
        hm = s['pred_fields']['heatmaps']
        s['pred_fields']['heatmaps'] = hm / hm.sum((1, 2), keepdim=True)
    auto = run_metric(DifficultySplitCocoMetric(ann_file=ann_file), samples)
    assert auto['coco/all/A(2)'] == pytest.approx(ours['coco/all/A(2)'])


def test_results_are_self_contained_for_distributed_collect(ann_file):
    coco_json = read_json(ann_file)
    samples = detected_box_samples(coco_json)
    a = DifficultySplitCocoMetric(ann_file=ann_file)
    b = DifficultySplitCocoMetric(ann_file=ann_file)
    a.dataset_meta = b.dataset_meta = copy.deepcopy(META)
    half = len(samples) // 2
    a.process([], copy.deepcopy(samples[:half]))
    b.process([], copy.deepcopy(samples[half:]))
    # what collect_results does: pickled results of all ranks, concatenated
    gathered = pickle.loads(pickle.dumps(a.results + b.results))
    fresh = DifficultySplitCocoMetric(ann_file=ann_file)
    fresh.dataset_meta = copy.deepcopy(META)
    with contextlib.redirect_stdout(io.StringIO()):
        split_run = fresh.compute_metrics(gathered)
    single = run_metric(DifficultySplitCocoMetric(ann_file=ann_file), samples)
    assert {f'coco/{k}': v for k, v in split_run.items()} == single


def test_edge_cases(ann_file, tmp_path):
    coco_json = read_json(ann_file)
    # empty predictions: every sample predicts no instance
    empty = []
    for s in gt_box_samples(coco_json):
        for key in ('keypoints', 'keypoint_scores', 'bboxes', 'bbox_scores'):
            s['pred_instances'][key] = s['pred_instances'][key][:0]
        empty.append(s)
    out = run_metric(DifficultySplitCocoMetric(ann_file=ann_file), empty)
    assert out['coco/AP'] == 0 and out['coco/hard/AP'] == 0
    assert out['coco/hard/EPE'] == -1 and out['coco/hard/paired'] == 0

    # a split with no instance: count 0, AP/AR -1 like COCOeval
    easy_only = dict(coco_json)
    easy_only['annotations'] = [a for a in coco_json['annotations']
                                if reference_split_of(a) & {'easy'}
                                or a['iscrowd']]
    path = tmp_path / 'easy.json'
    path.write_text(json.dumps(easy_only))
    samples = [s for s in gt_box_samples(coco_json)
               if s['id'] in {a['id'] for a in easy_only['annotations']}]
    out = run_metric(DifficultySplitCocoMetric(
        ann_file=str(path), split_results_file=str(tmp_path / 'r.csv')),
        samples)
    assert out['coco/hard/count'] == 0 and out['coco/hard/AP'] == -1
    assert out['coco/hard/AR'] == -1 and out['coco/hard/EPE'] == -1
    assert out['coco/easy/AP'] > 0.5
    assert 'hard,0,-1' in (tmp_path / 'r.csv').read_text()

    # predictions for an image that is not in the annotation file
    bad = gt_box_samples(coco_json)[:3]
    bad[0]['img_id'] = 987654
    with pytest.raises(ValueError, match='987654.*ann_file'):
        run_metric(DifficultySplitCocoMetric(ann_file=ann_file), bad)

    # pairing by annotation id needs ground-truth boxes
    with pytest.raises(ValueError, match="pairing='ann_id'"):
        run_metric(DifficultySplitCocoMetric(ann_file=ann_file,
                                             pairing='ann_id'),
                   detected_box_samples(coco_json))


def test_split_results_json(ann_file, tmp_path):
    coco_json = read_json(ann_file)
    out_file = tmp_path / 'splits.json'
    out = run_metric(DifficultySplitCocoMetric(
        ann_file=ann_file, split_results_file=str(out_file)),
        gt_box_samples(coco_json))
    dumped = read_json(out_file)
    assert dumped['pairing'] == 'ann_id'
    assert dumped['splits']['hard']['AP'] == out['coco/hard/AP']
    assert osp.getsize(out_file) > 0


def test_on_synthetic_generator_output(tiny_coco):
    """The project's synthetic COCO set: same overall values as CocoMetric,
    split counts as the pure split functions give them."""
    from mmipr.evaluation.splits import split_counts
    ann_file = osp.join(tiny_coco, 'annotations',
                        'person_keypoints_val2017.json')
    coco_json = read_json(ann_file)
    samples = gt_box_samples(coco_json)
    assert samples
    ref = run_metric(CocoMetric(ann_file=ann_file), samples)
    ours = run_metric(DifficultySplitCocoMetric(ann_file=ann_file), samples)
    for key in COCO_KEYS:
        assert ours[f'coco/{key}'] == ref[f'coco/{key}'], key
    counts = split_counts(coco_json['annotations'], K)
    for split in SPLITS + ['all']:
        assert ours[f'coco/{split}/count'] == counts[split]


def test_ids_as_mmpose_data_samples_carry_them(ann_file):
    """MMPose's samples hold category_id as a 1-element array and img_id as
    a numpy integer; the in-memory results of faster-coco-eval must not
    break on them (the real-data path of tools/train.py)."""
    samples = gt_box_samples(read_json(ann_file))
    as_mmpose = copy.deepcopy(samples)
    for s in as_mmpose:
        s['category_id'] = np.array([1])
        s['img_id'] = np.int64(s['img_id'])
    plain = run_metric(DifficultySplitCocoMetric(ann_file=ann_file), samples)
    numpy_ids = run_metric(DifficultySplitCocoMetric(ann_file=ann_file),
                           as_mmpose)
    assert numpy_ids == plain
