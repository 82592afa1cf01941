"""DifficultySplitCocoMetric with gt_format='coco_wholebody_hand' against
independent references, on a small synthetic COCO-WholeBody file:

- MMPose's CocoWholeBodyHandDataset loading the same file (which hands are
  instances, their order and ids);
- the per-split instance counts written out here from the table of
  docs/metric.md (joints present n = v > 0: hard n <= 6, medium 7-12, easy
  >= 13; size max(w, h) of the hand box: < 64, 64-128, > 128);
- per-split AP/AR equal to pycocotools' COCOeval run directly on the split's
  filtered ground truth and predictions (hand sigmas, person's area);
- xtcocotools' own keypoints_lefthand / keypoints_righthand evaluation of the
  original file agreeing with the metric's overall numbers.
"""
import contextlib
import copy
import io
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from conftest import reference_split_epe
from mmpose.datasets import CocoWholeBodyHandDataset
from mmpose.datasets.datasets.utils import parse_pose_metainfo
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from xtcocotools.coco import COCO as XtCOCO
from xtcocotools.cocoeval import COCOeval as XtCOCOeval

from mmipr.evaluation import DifficultySplitCocoMetric
from mmipr.evaluation.gt_formats import wholebody_hand_to_coco

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
K = 21
HAND_META = parse_pose_metainfo(CocoWholeBodyHandDataset.METAINFO)
SIGMAS = np.asarray(HAND_META['sigmas'])
SPLITS = ['easy', 'medium', 'hard', 'easy_medium', 'joints_many',
          'joints_medium', 'joints_few', 'size_large', 'size_medium',
          'size_small']
COCO_KEYS = ['AP', 'AP .5', 'AP .75', 'AP (M)', 'AP (L)', 'AR', 'AR .5',
             'AR .75', 'AR (M)', 'AR (L)']
EMPTY_SIDE = {'valid': False, 'box': [0.0] * 4, 'kpts': [0.0] * (3 * K)}


# ----------------------------------------------------------------- fixtures
def hand(rng, size, n_labelled, coords_when_unlabelled=False):
    """A hand of box max(w, h) = size with n_labelled keypoints whose third
    value is a confidence in (0, 1] (COCO-WholeBody's)."""
    w, h = (size, size * rng.uniform(0.6, 1.0)) if rng.uniform() < 0.5 else (
        size * rng.uniform(0.6, 1.0), size)
    x, y = rng.uniform(0, 640 - w), rng.uniform(0, 480 - h)
    xy = np.stack([rng.uniform(x, x + w, K), rng.uniform(y, y + h, K)], 1)
    v = np.zeros(K)
    v[rng.choice(K, n_labelled, replace=False)] = rng.uniform(0.05, 1.0,
                                                              n_labelled)
    if not coords_when_unlabelled:
        xy[v == 0] = 0
    kpts = np.concatenate([xy, v[:, None]], 1).ravel().tolist()
    return {'valid': True, 'box': [x, y, w, h], 'kpts': kpts}


def make_wholebody(seed=0):
    """Images out of id order (one without persons), annotations out of
    image order, hands of every size and joints level (boundaries 6/7,
    12/13, 64, 128 included), and the hands MMPose drops or COCO ignores."""
    rng = np.random.default_rng(seed)
    valid = [hand(rng, size, n) for size in (40, 64, 90, 128, 200)
             for n in (1, 6, 7, 12, 13, 21)]
    valid += [hand(rng, size, n) for size, n in ((150, 14), (300, 17),
                                                 (200, 21))]
    rng.shuffle(valid)
    odd = [
        dict(EMPTY_SIDE),  # not valid
        {**hand(rng, 90, 15), 'valid': False},  # keypoints, but not valid
        {'valid': True, 'box': [10.0, 10.0, 50.0, 50.0],
         'kpts': [0.0] * (3 * K)},  # valid, all zero: dropped by MMPose
        {**hand(rng, 100, 0, coords_when_unlabelled=True)},  # kept, no v > 0
    ]
    sides = valid + odd
    order = rng.permutation(len(sides))
    sides = [sides[i] for i in order] + [dict(EMPTY_SIDE)]
    img_ids = [7, 3, 11, 5, 2, 9]  # 9: no person
    persons = []
    for i in range(0, len(sides) - 1, 2):
        left, right = sides[i], sides[i + 1]
        persons.append((left, right, 0))
    persons.append((hand(rng, 100, 21), hand(rng, 150, 21), 1))  # crowd
    anns = []
    for j, (left, right, crowd) in enumerate(persons):
        img = img_ids[j % 5]
        pw, ph = rng.uniform(150, 300), rng.uniform(250, 450)
        anns.append({
            'id': 1000 + 7 * j, 'image_id': img, 'category_id': 1,
            'iscrowd': crowd, 'bbox': [10.0, 10.0, pw, ph],
            'area': pw * ph * rng.uniform(0.4, 0.7), 'segmentation': [],
            'keypoints': [0.0] * 51, 'num_keypoints': 0,
            'foot_kpts': [0.0] * 18, 'face_kpts': [0.0] * 204,
            'face_box': [0.0] * 4, 'face_valid': False, 'foot_valid': False,
            'lefthand_valid': left['valid'], 'lefthand_box': left['box'],
            'lefthand_kpts': left['kpts'],
            'righthand_valid': right['valid'], 'righthand_box': right['box'],
            'righthand_kpts': right['kpts']})
    anns = [anns[i] for i in rng.permutation(len(anns))]
    images = [{'id': i, 'width': 640, 'height': 480, 'file_name': f'{i}.jpg'}
              for i in img_ids]
    return {'images': images, 'annotations': anns,
            'categories': [{'id': 1, 'name': 'person'}]}


def reference_hands(wholebody):
    """The hands as this test reads the MMPose loop: images in file order,
    each image's non-crowd annotations in file order, left then right; kept
    when valid and max(kpts) > 0; id = position + 1."""
    out = []
    for img in wholebody['images']:
        for ann in wholebody['annotations']:
            if ann['image_id'] != img['id'] or ann['iscrowd']:
                continue
            for side in ('left', 'right'):
                kpts = ann[f'{side}hand_kpts']
                if ann[f'{side}hand_valid'] and max(kpts) > 0:
                    out.append({
                        'id': len(out) + 1, 'image_id': img['id'],
                        'category_id': 1, 'keypoints': list(kpts),
                        'num_keypoints': sum(v > 0 for v in kpts[2::3]),
                        'bbox': list(ann[f'{side}hand_box']),
                        'area': ann['area'], 'iscrowd': 0})
    return out


def reference_splits(h):
    """Split names of one hand, from the table."""
    v = np.asarray(h['keypoints'][2::3])
    n = int((v > 0).sum())
    if n == 0:
        return set()
    joints = 2 if n <= 6 else (1 if n <= 12 else 0)
    size = max(h['bbox'][2:])
    size = 2 if size < 64 else (1 if size <= 128 else 0)
    combined = max(joints, size)
    names = {('joints_many', 'joints_medium', 'joints_few')[joints],
             ('size_large', 'size_medium', 'size_small')[size],
             ('easy', 'medium', 'hard')[combined]}
    return names | ({'easy_medium'} if combined < 2 else set())


@pytest.fixture(scope='module')
def wholebody():
    return make_wholebody()


@pytest.fixture(scope='module')
def ann_file(tmp_path_factory, wholebody):
    path = tmp_path_factory.mktemp('wholebody') / 'wholebody.json'
    path.write_text(json.dumps(wholebody))
    return str(path)


def mmpose_hands(ann_file):
    """MMPose's CocoWholeBodyHandDataset's data list of the file."""
    with contextlib.redirect_stdout(io.StringIO()):
        ds = CocoWholeBodyHandDataset(ann_file=ann_file, data_prefix=dict(
            img=''), test_mode=True, pipeline=[], serialize_data=False)
    return ds.data_list


def gt_box_samples(data_list, hands, seed=1):
    """Top-down with MMPose's ground-truth hand boxes (float32 xyxy): one
    sample per data info, keypoints = the hand's + noise of varying size."""
    rng = np.random.default_rng(seed)
    out = []
    for info, h in zip(data_list, hands):
        g = np.reshape(h['keypoints'], (K, 3))
        noise = rng.choice([0.3, 1, 3, 8, 20])
        kpts = g[:, :2] + rng.normal(0, noise, (K, 2))
        x, y, w, h_ = h['bbox']
        missing = g[:, 2] == 0
        kpts[missing] = np.stack([rng.uniform(x, x + w, K),
                                  rng.uniform(y, y + h_, K)], 1)[missing]
        out.append(sample(info['id'], info['img_id'], kpts, info['bbox'],
                          1.0, rng))
    return out


def sample(sample_id, img_id, kpts, bbox_xyxy, score, rng):
    return {'id': sample_id, 'img_id': img_id, 'gt_instances': {},
            'pred_instances': {
                'keypoints': np.asarray(kpts, np.float32)[None],
                'keypoint_scores': rng.uniform(0.3, 1.0, (1, K)),
                'bboxes': np.asarray(bbox_xyxy, np.float32).reshape(1, 4),
                'bbox_scores': np.array([score], np.float32)}}


def detected_box_samples(data_list, hands, seed=2):
    """Top-down with detected boxes (none equal to a hand box): misses,
    duplicates, false positives."""
    rng = np.random.default_rng(seed)
    out = []
    for s in gt_box_samples(data_list, hands, seed):
        if rng.uniform() < 0.15:
            continue
        for _ in range(2 if rng.uniform() < 0.25 else 1):
            kpts = s['pred_instances']['keypoints'][0] + rng.normal(0, 1.5,
                                                                    (K, 2))
            box = s['pred_instances']['bboxes'][0] + rng.uniform(1, 3, 4)
            out.append(sample(len(out), s['img_id'], kpts, box,
                              rng.uniform(0.3, 1.0), rng))
    for img_id in (7, 3, 11, 5, 2, 9):
        for _ in range(int(rng.integers(1, 4))):
            x, y = rng.uniform(0, 560), rng.uniform(0, 400)
            kpts = np.stack([rng.uniform(x, x + 60, K),
                             rng.uniform(y, y + 60, K)], 1)
            out.append(sample(len(out), img_id, kpts, [x, y, x + 60, y + 60],
                              rng.uniform(0.1, 1.0), rng))
    return out


def run_metric(metric, samples, meta=HAND_META, batch=16):
    if meta is not None:
        metric.dataset_meta = copy.deepcopy(meta)
    for i in range(0, len(samples), batch):
        metric.process([], copy.deepcopy(samples[i:i + batch]))
    with contextlib.redirect_stdout(io.StringIO()):
        return metric.evaluate(len(samples))


def read_json(path):
    with open(path) as f:
        return json.load(f)


# ------------------------------------------------------- reference (brute)
def coco_oks(dt, g):
    """COCO's OKS of a result against a labelled hand (person's area)."""
    gk = np.reshape(g['keypoints'], (K, 3))
    dk = np.reshape(dt['keypoints'], (K, 3))
    e = ((dk[:, :2] - gk[:, :2]) ** 2).sum(1) / (2 * SIGMAS) ** 2 / (
        g['area'] + np.spacing(1)) / 2
    return np.exp(-e)[gk[:, 2] > 0].mean()


def reference_assignment(results, hands, samples, by_box):
    """Hand id each result is assigned to (None: unassigned)."""
    if by_box:  # each sample was made for hand (sample id + 1)
        lookup = {np.round(s['pred_instances']['keypoints'][0], 2).tobytes():
                  s['id'] for s in samples}
        out = []
        for r in results:
            xy = np.reshape(r['keypoints'], (K, 3))[:, :2].astype(np.float32)
            h = hands[lookup[np.round(xy, 2).tobytes()]]
            out.append(h['id'] if reference_splits(h) else None)
        return out
    out = []
    for r in results:
        cands = [h for h in hands
                 if h['image_id'] == r['image_id'] and reference_splits(h)]
        oks = [coco_oks(r, h) for h in cands]
        best = int(np.argmax(oks)) if oks else -1
        out.append(cands[best]['id'] if oks and oks[best] > 0 else None)
    return out


def pycocotools_eval(images, gts, dts):
    """pycocotools' COCOeval (keypoints, hand sigmas) of these files."""
    gt = {'images': images, 'annotations': gts,
          'categories': [{'id': 1, 'name': 'hand'}]}
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        if dts:
            coco_dt = coco_gt.loadRes(copy.deepcopy(dts))
        else:
            coco_dt = COCO()
            coco_dt.dataset = {'images': images, 'annotations': [],
                               'categories': gt['categories']}
            coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, 'keypoints')
        ev.params.kpt_oks_sigmas = SIGMAS
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


# -------------------------------------------------------------------- tests
def test_instances_are_mmpose_hand_dataset_instances(wholebody, ann_file):
    data_list = mmpose_hands(ann_file)
    hands = reference_hands(wholebody)
    adapted = wholebody_hand_to_coco(wholebody)['annotations']
    # 33 valid hands + the one with coordinates but no v > 0
    assert len(data_list) == len(hands) == len(adapted) == 34
    for info, ref, ours in zip(data_list, hands, adapted):
        assert ours['id'] == ref['id'] == info['id'] + 1
        assert ours['image_id'] == ref['image_id'] == info['img_id']
        x1, y1, x2, y2 = info['bbox'][0]
        np.testing.assert_allclose(ours['bbox'], [x1, y1, x2 - x1, y2 - y1],
                                   atol=1e-3)
        assert ours['bbox'] == ref['bbox'] and ours['area'] == ref['area']
        kp = np.reshape(ours['keypoints'], (K, 3))
        np.testing.assert_allclose(kp[:, :2], info['keypoints'][0], atol=1e-3)
        np.testing.assert_array_equal(kp[:, 2] > 0,
                                      info['keypoints_visible'][0] > 0)
        assert ours['keypoints'] == ref['keypoints']
        assert ours['num_keypoints'] == ref['num_keypoints']
    assert [h['image_id'] for h in hands][:1] == [7]  # file order, not id


def test_split_counts_equal_a_count_by_hand(wholebody, ann_file):
    hands = reference_hands(wholebody)
    expected = {s: sum(s in reference_splits(h) for h in hands)
                for s in SPLITS}
    expected['all'] = sum(bool(reference_splits(h)) for h in hands)
    assert expected['all'] == 33
    assert min(expected.values()) >= 3
    metric = DifficultySplitCocoMetric(ann_file=ann_file,
                                       gt_format='coco_wholebody_hand')
    out = run_metric(metric, gt_box_samples(mmpose_hands(ann_file), hands))
    for split, n in expected.items():
        assert out[f'coco/{split}/count'] == n, split
    assert not any('occlusion' in k for k in out)
    # the tool gives the same counts
    tool = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools/dataset/split_counts.py'),
         ann_file, '--gt-format', 'coco_wholebody_hand', '--json'],
        capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(tool.stdout) == {**{s: expected[s] for s in SPLITS},
                                       'all': expected['all']}


@pytest.mark.parametrize('mode,engine', [
    ('gt_boxes', 'faster-coco-eval'), ('gt_boxes', 'xtcocotools'),
    ('detected_boxes', 'auto')])
def test_per_split_ap_equals_cocoeval_on_filtered_files(
        wholebody, ann_file, tmp_path, mode, engine):
    hands = reference_hands(wholebody)
    data_list = mmpose_hands(ann_file)
    samples = (gt_box_samples(data_list, hands) if mode == 'gt_boxes'
               else detected_box_samples(data_list, hands))
    metric = DifficultySplitCocoMetric(
        ann_file=ann_file, gt_format='coco_wholebody_hand',
        eval_engine=engine, outfile_prefix=str(tmp_path / 'r'))
    ours = run_metric(metric, samples)
    results = read_json(tmp_path / 'r.keypoints.json')
    images = wholebody['images']

    full = pycocotools_eval(images, hands, results)
    for key, value in zip(COCO_KEYS, full):
        assert ours[f'coco/{key}'] == pytest.approx(value, abs=1e-12), key

    assigned = reference_assignment(results, hands, samples,
                                    mode == 'gt_boxes')
    by_id = {h['id']: h for h in hands}
    for split in SPLITS:
        gts = [h for h in hands
               if split in reference_splits(h) or not reference_splits(h)]
        dts = [r for r, a in zip(results, assigned)
               if a is None or split in reference_splits(by_id[a])]
        stats = pycocotools_eval(images, gts, dts)
        expected = dict(zip(('AP', 'AP .5', 'AP .75', 'AR'),
                            (stats[0], stats[1], stats[2], stats[5])))
        for key, value in expected.items():
            assert ours[f'coco/{split}/{key}'] == pytest.approx(
                value, abs=1e-12), (split, key)
    assert ours['coco/hard/AP'] != ours['coco/easy/AP']
    assert 0 < ours['coco/AP'] < 1
    if mode == 'gt_boxes':  # every sample paired with its hand by its box
        assert ours['coco/all/paired'] == 33


def test_epe_per_split_pairs_by_hand_box(wholebody, ann_file):
    hands = reference_hands(wholebody)
    samples = gt_box_samples(mmpose_hands(ann_file), hands)
    ours = run_metric(DifficultySplitCocoMetric(
        ann_file=ann_file, gt_format='coco_wholebody_hand'), samples)
    for split in SPLITS + ['all']:
        want = reference_split_epe(samples, hands, reference_splits, split, K)
        assert ours[f'coco/{split}/EPE'] == pytest.approx(want,
                                                          rel=1e-5), split
    # no dataset metainfo: MMPose's hand metainfo, the same numbers
    no_meta = run_metric(DifficultySplitCocoMetric(
        ann_file=ann_file, gt_format='coco_wholebody_hand'), samples,
        meta=None)
    assert no_meta == ours


def test_activation_sums_use_the_hand_paired_by_box(wholebody, ann_file):
    """Hand samples carry no raw_ann_info: A(s) is taken at the ground truth
    paired by box. Uniform 48x64 maps and a crop 4x the hand box: every
    labelled keypoint's 5x5 window lies inside, A(2) = 25 / (48 * 64)."""
    hands = reference_hands(wholebody)
    samples = gt_box_samples(mmpose_hands(ann_file), hands)
    for s in samples:
        x, y, w, h = hands[s['id']]['bbox']
        side = 4 * max(w, h)
        s.update(pred_fields={'heatmaps': np.full((K, 64, 48), 1 / 3072)},
                 input_center=np.array([x + w / 2, y + h / 2]),
                 input_scale=np.array([side * 0.75, side]),
                 input_size=(192, 256))
    ours = run_metric(DifficultySplitCocoMetric(
        ann_file=ann_file, gt_format='coco_wholebody_hand'), samples)
    assert ours['coco/all/A(2)'] == pytest.approx(25 / 3072, rel=1e-5)
    assert ours['coco/all/paired'] == 33


@pytest.mark.parametrize('side', ['left', 'right'])
def test_overall_equals_xtcocotools_hand_evaluation(wholebody, tmp_path,
                                                    side):
    """xtcocotools evaluates one side per person (keypoints_lefthand /
    keypoints_righthand; a person without that hand is an ignored ground
    truth there, a non-instance here). On a file of persons that each have
    that hand valid and labelled, and no other hand, both evaluate the same
    instances: every overall number agrees."""
    other = 'right' if side == 'left' else 'left'
    data = copy.deepcopy(wholebody)
    data['annotations'] = [
        {**a, f'{other}hand_valid': False, f'{other}hand_kpts': [0.0] * 63}
        for a in data['annotations']
        if not a['iscrowd'] and a[f'{side}hand_valid']
        and any(v > 0 for v in a[f'{side}hand_kpts'][2::3])]
    path = tmp_path / f'{side}.json'
    path.write_text(json.dumps(data))
    hands = reference_hands(data)
    assert len(hands) >= 10
    samples = gt_box_samples(mmpose_hands(str(path)), hands, seed=3)
    ours = run_metric(DifficultySplitCocoMetric(
        ann_file=str(path), gt_format='coco_wholebody_hand',
        outfile_prefix=str(tmp_path / 'r')), samples)
    results = read_json(tmp_path / 'r.keypoints.json')
    dts = [{**r, f'{side}hand_kpts': r['keypoints'],
            f'{side}hand_score': r['score']} for r in results]
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = XtCOCO(str(path))
        ev = XtCOCOeval(coco_gt, coco_gt.loadRes(dts),
                        f'keypoints_{side}hand', SIGMAS, use_area=True)
        ev.params.useSegm = None
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    for key, value in zip(COCO_KEYS, ev.stats):
        assert ours[f'coco/{key}'] == pytest.approx(value, abs=1e-12), key
    assert ours['coco/all/count'] == len(hands)
    assert 0.1 < ours['coco/AP'] < 1


def test_bad_gt_format_and_metainfo(ann_file, wholebody, tmp_path):
    with pytest.raises(ValueError, match=r"gt_format must be one of "
                       r"\['coco', 'coco_wholebody_hand'\], got 'wholebody'"):
        DifficultySplitCocoMetric(ann_file=ann_file, gt_format='wholebody')
    with pytest.raises(ValueError, match='needs ann_file'):
        DifficultySplitCocoMetric(gt_format='coco_wholebody_hand')
    no_hands = copy.deepcopy(wholebody)  # a COCO body file: no hand fields
    for a in no_hands['annotations']:
        del a['lefthand_valid']
    (tmp_path / 'body.json').write_text(json.dumps(no_hands))
    with pytest.raises(ValueError, match='no lefthand_valid.*COCO-WholeBody'):
        DifficultySplitCocoMetric(ann_file=str(tmp_path / 'body.json'),
                                  gt_format='coco_wholebody_hand')
    metric = DifficultySplitCocoMetric(ann_file=ann_file,
                                       gt_format='coco_wholebody_hand')
    body = parse_pose_metainfo(
        dict(from_file='configs/_base_/datasets/coco.py'))
    with pytest.raises(ValueError, match='21 hand keypoints.*num_keypoints=17'):
        metric.dataset_meta = body
    # no metainfo at all: MMPose's hand metainfo (its sigmas)
    metric.dataset_meta = {'dataset_name': 'hand'}
    np.testing.assert_array_equal(metric.dataset_meta['sigmas'], SIGMAS)
    assert metric.dataset_meta['num_keypoints'] == K
