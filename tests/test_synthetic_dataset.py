"""The synthetic COCO-keypoints generator against pycocotools, xtcocotools,
MMPose's CocoDataset and its own rendered pixels."""
import copy
import filecmp
import json
import os
import os.path as osp
import subprocess
import sys
import time

import numpy as np
import pytest

import mmipr  # noqa: F401  (makes MMPose importable before anything else)
from mmipr.datasets import (
    DETECTION_FILE,
    difficulty_counts,
    generate_synthetic_coco,
    generator_cli,
    render_image,
    write_split,
)

SEED = 0
NUM_VAL = 50
# COCO's per-keypoint OKS sigmas (cocoapi, xtcocotools, MMPose's coco.py).
COCO_SIGMAS = np.array([
    .26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87,
    .87, .89, .89]) / 10.0
REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic_coco'))
    stats = generate_synthetic_coco(root, num_train=6, num_val=NUM_VAL,
                                    seed=SEED, workers=2, progress=False)
    return root, stats


def _ann_file(root, split):
    return osp.join(root, 'annotations', f'person_keypoints_{split}2017.json')


def _load(root, split):
    with open(_ann_file(root, split)) as f:
        return json.load(f)


def test_layout_and_coco_fields(data_root):
    root, stats = data_root
    for split in ('train', 'val'):
        coco = _load(root, split)
        assert coco['categories'][0]['id'] == 1
        assert len(coco['categories'][0]['keypoints']) == 17
        images = {im['id']: im for im in coco['images']}
        assert len(images) == stats[split]['images']
        for im in images.values():
            assert 256 <= im['width'] <= 640 and 256 <= im['height'] <= 640
            assert osp.isfile(osp.join(root, f'{split}2017', im['file_name']))
        ids = [a['id'] for a in coco['annotations']]
        assert len(set(ids)) == len(ids)
        for a in coco['annotations']:
            im = images[a['image_id']]
            k = np.array(a['keypoints'], float).reshape(17, 3)
            assert set(np.unique(k[:, 2])) <= {0, 1, 2}
            assert a['num_keypoints'] == int((k[:, 2] > 0).sum())
            assert a['iscrowd'] == 0 and a['category_id'] == 1
            # COCO writes unlabelled keypoints as (0, 0, 0)
            assert np.all(k[k[:, 2] == 0, :2] == 0)
            x, y, w, h = a['bbox']
            assert x >= 0 and y >= 0 and x + w <= im['width'] and \
                y + h <= im['height'] and w > 0 and h > 0
            lab = k[k[:, 2] > 0]
            # the box is the person's silhouette, which holds its keypoints
            assert np.all(lab[:, 0] >= x - 0.5) and np.all(lab[:, 0] <= x + w)
            assert np.all(lab[:, 1] >= y - 0.5) and np.all(lab[:, 1] <= y + h)
            assert 0 < a['area'] <= w * h
            assert len(a['segmentation']) >= 1


def test_pycocotools_and_xtcocotools_load(data_root):
    from pycocotools.coco import COCO as PyCOCO
    from xtcocotools.coco import COCO as XtCOCO
    root, _ = data_root
    for split in ('train', 'val'):
        for cls in (PyCOCO, XtCOCO):
            coco = cls(_ann_file(root, split))
            assert coco.getCatIds() == [1]
            assert len(coco.getAnnIds()) > 0
    gt = PyCOCO(_ann_file(root, 'val'))
    with open(osp.join(root, DETECTION_FILE)) as f:
        dets = json.load(f)
    assert dets and all(set(d) == {'image_id', 'category_id', 'bbox', 'score'}
                        for d in dets)
    assert all(d['category_id'] == 1 and 0 < d['score'] <= 1 for d in dets)
    # the detection results are a valid COCO bbox result file
    dt = gt.loadRes(osp.join(root, DETECTION_FILE))
    assert set(dt.getImgIds()) <= set(gt.getImgIds())
    # ... and behave like a detector's: most people found, scores informative
    from pycocotools.cocoeval import COCOeval
    ev = COCOeval(gt, dt, 'bbox')
    ev.params.useCats = 1
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert 0.3 < ev.stats[0] < 1.0  # AP@[.5:.95] of the jittered boxes


def _gt_as_predictions(coco_dict, jitter=0.0, rng=None):
    preds = []
    for a in coco_dict['annotations']:
        if a['num_keypoints'] == 0:
            continue
        k = np.array(a['keypoints'], float).reshape(17, 3)
        if jitter:
            k[:, :2] += rng.normal(0, jitter, (17, 2)) * np.sqrt(a['area']) / 10
        preds.append(dict(image_id=a['image_id'], category_id=1, score=1.0,
                          keypoints=k.reshape(-1).tolist()))
    return preds


@pytest.mark.parametrize('lib', ['xtcocotools', 'pycocotools'])
def test_ground_truth_as_predictions_gives_ap_one(data_root, lib):
    root, _ = data_root
    if lib == 'xtcocotools':
        from xtcocotools.coco import COCO
        from xtcocotools.cocoeval import COCOeval
    else:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    gt = COCO(_ann_file(root, 'val'))
    coco_dict = _load(root, 'val')

    def ap(preds):
        dt = gt.loadRes(copy.deepcopy(preds))
        if lib == 'xtcocotools':
            ev = COCOeval(gt, dt, 'keypoints', COCO_SIGMAS, use_area=True)
        else:
            ev = COCOeval(gt, dt, 'keypoints')
            ev.params.kpt_oks_sigmas = COCO_SIGMAS
        ev.params.useSegm = None
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        return ev.stats[0]

    assert ap(_gt_as_predictions(coco_dict)) == pytest.approx(1.0)
    # control: the same evaluation does drop when predictions are off
    noisy = _gt_as_predictions(coco_dict, 1.0, np.random.default_rng(0))
    assert ap(noisy) < 0.9


def test_visibility_labels_match_rendered_pixels():
    n_occluded = n_visible = 0
    for index in range(12):
        scene = render_image(SEED, 'val', index)
        h, w = scene.image.shape[:2]
        for p, kps in enumerate(scene.keypoints):
            covered = scene.occluder_mask(p)
            own = scene.person_masks[p]
            for x, y, v in kps:
                if v == 0:
                    continue
                c, r = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
                assert 0 <= c < w and 0 <= r < h
                assert own[r, c], 'a labelled keypoint lies on its person'
                if v == 1:
                    n_occluded += 1
                    assert covered[r, c], 'occluded but nothing drawn over it'
                    assert not scene.visible_mask(p)[r, c]
                else:
                    n_visible += 1
                    assert not covered[r, c], 'visible but drawn over'
                    assert scene.visible_mask(p)[r, c]
        # unlabelled keypoints (outside the image, far side of the head)
        # carry no coordinates, as in COCO
        unlabelled = scene.keypoints[..., 2] == 0
        assert (scene.keypoints[unlabelled][:, :2] == 0).all()
    assert n_occluded > 20 and n_visible > 20


def test_render_image_matches_written_files(data_root):
    import cv2
    root, _ = data_root
    coco = _load(root, 'val')
    scene = render_image(SEED, 'val', 3)
    im = coco['images'][3]
    assert (im['height'], im['width']) == scene.image.shape[:2]
    jpg = cv2.imread(osp.join(root, 'val2017', im['file_name']))
    assert np.abs(jpg.astype(int) - scene.image).mean() < 6  # JPEG loss only
    anns = [a for a in coco['annotations'] if a['image_id'] == im['id']]
    got = np.array([a['keypoints'] for a in anns]).reshape(len(anns), 17, 3)
    keep = scene.areas > 0
    np.testing.assert_allclose(got, scene.keypoints[keep], atol=0.006)


def _recount(anns):
    """Difficulty levels written out plainly, per instance."""
    out = {f: [0, 0, 0] for f in ('joints', 'occlusion', 'size')}
    for a in anns:
        vs = a['keypoints'][2::3]
        n = sum(v > 0 for v in vs)
        if n == 0:
            continue
        occ = sum(v == 1 for v in vs) / n
        side = max(a['bbox'][2], a['bbox'][3])
        out['joints'][0 if n <= 5 else 1 if n <= 10 else 2] += 1
        out['occlusion'][0 if occ > 0.5 else 1 if occ >= 0.1 else 2] += 1
        out['size'][0 if side < 64 else 1 if side <= 128 else 2] += 1
    return out


def test_difficulty_coverage_on_small_val(data_root):
    root, stats = data_root
    anns = _load(root, 'val')['annotations']
    expected = _recount(anns)
    counts = difficulty_counts(anns)
    assert counts == stats['val']['difficulty']
    total = sum(a['num_keypoints'] > 0 for a in anns)
    assert total >= NUM_VAL  # about 2.5 people per image
    for factor, levels in expected.items():
        assert [counts[factor][k] for k in ('hard', 'medium', 'easy')] == levels
        assert counts[factor]['total'] == total
        for n in levels:
            assert n >= 0.15 * total, (factor, levels, total)


def test_same_arguments_same_bytes(tmp_path):
    a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
    generate_synthetic_coco(a, 3, 5, seed=3, workers=1, progress=False)
    generate_synthetic_coco(b, 3, 5, seed=3, workers=2, progress=False)
    files = []
    for d, _, names in os.walk(a):
        files += [osp.relpath(osp.join(d, n), a) for n in names]
    # images, their part maps, 3 JSON, the marker
    assert len(files) == 2 * (3 + 5) + 3 + 1
    _, mismatch, errors = filecmp.cmpfiles(a, b, files, shallow=False)
    assert not mismatch and not errors
    c = str(tmp_path / 'c')
    generate_synthetic_coco(c, 3, 5, seed=4, workers=1, progress=False)
    _, mismatch, _ = filecmp.cmpfiles(a, c, files, shallow=False)
    assert mismatch  # another seed, other data


def test_mmpose_coco_dataset_loads_both_splits(data_root):
    from mmengine.registry import init_default_scope
    from mmpose.datasets import CocoDataset
    init_default_scope('mmpose')
    root, _ = data_root
    codec = dict(type='MSRAHeatmap', input_size=(96, 128),
                 heatmap_size=(24, 32), sigma=1)
    train_pipeline = [
        dict(type='LoadImage'),
        dict(type='GetBBoxCenterScale'),
        dict(type='RandomFlip', direction='horizontal'),
        dict(type='RandomHalfBody'),
        dict(type='RandomBBoxTransform'),
        dict(type='TopdownAffine', input_size=codec['input_size']),
        dict(type='GenerateTarget', encoder=codec),
        dict(type='PackPoseInputs')
    ]
    val_pipeline = [
        dict(type='LoadImage'),
        dict(type='GetBBoxCenterScale'),
        dict(type='TopdownAffine', input_size=codec['input_size']),
        dict(type='PackPoseInputs')
    ]
    n_val = sum(a['num_keypoints'] > 0 for a in _load(root, 'val')['annotations'])
    for split, pipeline, bbox_file, n in (
            ('train', train_pipeline, None, None),
            ('val', val_pipeline, None, n_val),
            ('val', val_pipeline, osp.join(root, DETECTION_FILE), None)):
        ds = CocoDataset(
            data_root=root, data_mode='topdown',
            ann_file=f'annotations/person_keypoints_{split}2017.json',
            bbox_file=bbox_file, data_prefix=dict(img=f'{split}2017/'),
            pipeline=pipeline, test_mode=split == 'val')
        assert len(ds) > 0
        if n is not None:
            assert len(ds) == n
        for i in (0, len(ds) - 1):
            item = ds[i]
            assert tuple(item['inputs'].shape) == (3, 128, 96)
            if split == 'train':
                hm = item['data_samples'].gt_fields.heatmaps
                assert tuple(hm.shape) == (17, 32, 24)
    with open(osp.join(root, DETECTION_FILE)) as f:
        n_det = sum(d['score'] >= 0.0 for d in json.load(f))
    assert len(ds) == n_det  # det_bbox_thr=0 keeps every detection


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """Run tools/dataset/make_synthetic_coco.py as a user does."""
    return subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'dataset',
                                  'make_synthetic_coco.py'), *args],
        capture_output=True, text=True, timeout=300, cwd=REPO)


def test_cli_help_and_run(tmp_path):
    out = run_cli('--help')
    assert out.returncode == 0 and '--seed' in out.stdout
    out = run_cli(str(tmp_path / 'd'), '--num-train', '2', '--num-val', '3',
                  '--workers', '1', '--no-progress')
    assert out.returncode == 0, out.stderr[-3000:]
    assert '| joints |' in out.stdout and 'val: 3 images' in out.stdout
    out = run_cli(str(tmp_path / 'e'), '--num-val', '0')
    assert out.returncode == 2 and 'argument --num-val' in out.stderr
    assert not (tmp_path / 'e').exists()


@pytest.mark.parametrize('flag,value', [
    ('--num-val', '0'), ('--num-train', '0'), ('--num-val', '-3'),
    ('--seed', '-1'), ('--workers', '0'), ('--jpeg-quality', '101'),
    ('--max-people', '0'), ('--num-val', 'ten'), ('--min-size', '700')])
def test_cli_refuses_bad_values_before_writing(tmp_path, capsys, flag,
                                               value):
    # before: --num-val 0 exited 0 and wrote an empty split, on which
    # MMEngine later stopped with "need at least one array to concatenate";
    # --seed -1 failed inside numpy after the folders were made
    with pytest.raises(SystemExit) as info:
        generator_cli.main([str(tmp_path / 'd'), flag, value,
                            '--no-progress'])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert flag in err and value in err
    assert not (tmp_path / 'd').exists()


@pytest.mark.parametrize('kwargs,name', [
    (dict(num_val=0), 'num_val'), (dict(num_train=0), 'num_train'),
    (dict(num_val=2.0), 'num_val'), (dict(seed=-1), 'seed'),
    (dict(workers=0), 'workers'), (dict(jpeg_quality=-5), 'jpeg_quality')])
def test_generator_refuses_an_empty_split_and_bad_settings(tmp_path, kwargs,
                                                            name):
    settings = dict(dict(num_train=1, num_val=1, seed=0, workers=1,
                         progress=False), **kwargs)
    with pytest.raises(ValueError, match=f'generate_synthetic_coco: {name}'):
        generate_synthetic_coco(str(tmp_path / 'd'), **settings)
    assert not os.listdir(tmp_path)
    with pytest.raises(ValueError, match='num_images.*concatenate'):
        write_split(str(tmp_path / 'e'), 'val', 0, workers=1,
                    progress=False)
    with pytest.raises(ValueError, match=r"split must be one of \['train', "):
        write_split(str(tmp_path / 'e'), 'test', 1, workers=1,
                    progress=False)


@pytest.mark.slow
def test_thousand_images_within_a_minute(tmp_path):
    t0 = time.time()
    stats = generate_synthetic_coco(str(tmp_path), 800, 200, seed=1,
                                    workers=2, progress=False)
    elapsed = time.time() - t0
    assert stats['train']['images'] + stats['val']['images'] == 1000
    assert elapsed < 60, f'{elapsed:.1f} s'


def test_shared_level_prob_couples_the_factors():
    from mmipr.datasets.synthetic_scene import SceneConfig
    coupled = [render_image(SEED, 'val', i, SceneConfig(shared_level_prob=1.0)).targets
               for i in range(12)]
    for targets in coupled:
        assert (targets == targets[:, :1]).all()
    independent = np.concatenate([
        render_image(SEED, 'val', i, SceneConfig(shared_level_prob=0.0)).targets
        for i in range(12)])
    assert (independent != independent[:, :1]).any(1).mean() > 0.3


def test_far_side_face_keypoints_are_neither_drawn_nor_labelled():
    from mmipr.datasets.synthetic_body import sample_body
    rng = np.random.default_rng(0)
    hidden = np.zeros(5, int)
    for _ in range(200):
        body = sample_body(rng)
        assert body.labelled[5:].all(), 'body joints are always labelled'
        marks = [p.pts[0] for p in body.parts
                 if p.kind == 'ellipse' and min(np.ravel(p.size)) < 0.025]
        for i in range(5):
            drawn = any(np.allclose(m, body.keypoints[i]) for m in marks)
            assert drawn == body.labelled[i], (i, body.labelled)
        hidden += ~body.labelled[:5]
    # people seen from behind hide their face; profiles their far eye and ear
    assert (hidden > 20).all() and (hidden < 150).all()


def test_keypoint_pixels_round_halves_up_as_mmpose():
    # the generator's pixel of a keypoint (its labels read the painted id
    # map there) rounds as MMPose's codecs: int(x + 0.5), halves up
    from mmipr.datasets.synthetic_scene import keypoint_pixels
    xs = np.array([0.5, 1.5, 2.5, 2.4999, 3.5, 7.0, 0.0, -0.4, 99.5])
    kps = np.stack([xs, xs[::-1]], -1)
    expected = [[int(x + 0.5), int(y + 0.5)] for x, y in kps]
    got = keypoint_pixels(kps)
    assert got.dtype == np.int64 and got.tolist() == expected


@pytest.mark.parametrize('probs,code', [((1, 0, 0), 2), ((0, 0, 1), 0)])
def test_scene_targets_use_the_split_codes(probs, code):
    # level_probs are (hard, medium, easy); targets are the codes of
    # mmipr.evaluation.splits, which also label the written instances
    from mmipr.datasets.synthetic_scene import SceneConfig
    from mmipr.evaluation.splits import HARD, instance_levels
    assert HARD == 2
    cfg = SceneConfig(level_probs=probs)
    scenes = [render_image(SEED, 'val', i, cfg) for i in range(6)]
    targets = np.concatenate([s.targets for s in scenes])
    assert (targets == code).all()
    keep = [s.areas > 0 for s in scenes]
    levels = instance_levels(
        np.concatenate([s.keypoints[k] for s, k in zip(scenes, keep)]),
        np.concatenate([s.bboxes[k] for s, k in zip(scenes, keep)]))
    labelled = levels['size'] >= 0
    assert (levels['size'][labelled] == code).mean() > 0.8
