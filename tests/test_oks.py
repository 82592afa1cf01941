"""pair_oks against COCOeval's own computeOks (xtcocotools and
faster-coco-eval), bit for bit, on images with labelled, partly labelled and
unlabelled ground truths."""
import contextlib
import io

import numpy as np
import pytest
from faster_coco_eval import COCO as FasterCOCO
from faster_coco_eval.core.faster_eval_api import COCOeval_faster
from xtcocotools.coco import COCO
from xtcocotools.cocoeval import COCOeval

from mmipr.evaluation.oks import pair_oks

K = 17
SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62,
                   1.07, 1.07, .87, .87, .89, .89]) / 10.0


def coco_files(seed: int = 0, num_images: int = 12):
    """Ground truths (every visibility pattern, some with no labelled
    keypoint) and predictions near and far from them."""
    rng = np.random.default_rng(seed)
    images, anns, dets = [], [], []
    for img in range(1, num_images + 1):
        images.append({'id': img, 'width': 640, 'height': 480})
        for _ in range(rng.integers(1, 4)):
            x, y = rng.uniform(0, 400, 2)
            w, h = rng.uniform(20, 200, 2)
            vis = rng.choice([0, 1, 2], K, p=[.3, .2, .5])
            if rng.uniform() < 0.25:
                vis[:] = 0
            kx, ky = x + rng.uniform(0, w, K), y + rng.uniform(0, h, K)
            kpts = np.stack([np.where(vis > 0, kx, 0),
                             np.where(vis > 0, ky, 0), vis], 1)
            anns.append({'id': len(anns) + 1, 'image_id': img,
                         'category_id': 1, 'bbox': [x, y, w, h],
                         'area': w * h * rng.uniform(0.3, 0.9),
                         'iscrowd': 0, 'num_keypoints': int((vis > 0).sum()),
                         'keypoints': kpts.ravel().tolist()})
            for _ in range(rng.integers(0, 3)):
                noise = rng.choice([1, 10, 60, 400])
                pred = np.stack([kx + rng.normal(0, noise, K),
                                 ky + rng.normal(0, noise, K),
                                 np.ones(K)], 1)
                dets.append({'image_id': img, 'category_id': 1,
                             'keypoints': pred.ravel().tolist(),
                             'score': float(rng.uniform())})
    return ({'images': images, 'annotations': anns,
             'categories': [{'id': 1, 'name': 'person'}]}, dets)


def our_oks(gts: list, dts: list) -> np.ndarray:
    """pair_oks over every (prediction, ground truth) of one image."""
    dt = np.array([d['keypoints'] for d in dts]).reshape(-1, K, 3)
    gt = np.array([g['keypoints'] for g in gts]).reshape(-1, K, 3)
    d, g = np.meshgrid(np.arange(len(dts)), np.arange(len(gts)),
                       indexing='ij')
    d, g = d.ravel(), g.ravel()
    return pair_oks(dt[d, :, :2], gt[g],
                    np.array([x['bbox'] for x in gts])[g],
                    np.array([x['area'] for x in gts])[g],
                    SIGMAS).reshape(len(dts), len(gts))


@pytest.mark.parametrize('engine', ['xtcocotools', 'faster-coco-eval'])
def test_pair_oks_equals_cocoeval_compute_oks_bitwise(engine):
    gt_json, dets = coco_files()
    with contextlib.redirect_stdout(io.StringIO()):
        if engine == 'xtcocotools':
            gt = COCO()
            gt.dataset = gt_json
            gt.createIndex()
            E = COCOeval(gt, gt.loadRes(dets), 'keypoints', SIGMAS, True)
            E.params.imgIds = sorted(gt.getImgIds())
            E._prepare()

            def image(img):
                return E._gts[img, 1], E._dts[img, 1]
        else:
            gt = FasterCOCO(gt_json)
            E = COCOeval_faster(gt, gt.loadRes(dets), 'keypoints',
                                kpt_oks_sigmas=SIGMAS, use_area=True)
            E._prepare()

            def image(img):
                return E.gt_dataset.get(img, 1), E.dt_dataset.get(img, 1)
    E.params.maxDets = [100]  # every prediction, none cut
    compared = 0
    for img in gt.getImgIds():
        gts, dts = image(img)
        if not gts or not dts:
            continue
        dts = [dts[i] for i in np.argsort([-d['score'] for d in dts],
                                          kind='mergesort')]
        ref = np.asarray(E.computeOks(img, 1))
        ours = our_oks(gts, dts)
        np.testing.assert_array_equal(ours, ref)
        compared += ours.size
    assert compared > 20


def test_pair_oks_formula_written_out():
    """One pair by hand: labelled keypoints only; a ground truth with none
    measures the distance to its box enlarged by its size on each side."""
    dt = np.zeros((2, 2, 2))
    dt[0] = [[3.0, 4.0], [100.0, 100.0]]
    dt[1] = [[-30.0, 5.0], [10.0, 50.0]]
    gt = np.zeros((2, 2, 3))
    gt[0] = [[0.0, 0.0, 2], [0.0, 0.0, 0]]  # only keypoint 0 labelled
    boxes = np.array([[0, 0, 1, 1], [0.0, 0.0, 10.0, 20.0]])
    areas = np.array([50.0, 200.0])
    sigmas = np.array([0.5, 0.25])
    oks = pair_oks(dt, gt, boxes, areas, sigmas)
    v = (2 * sigmas)**2
    eps = np.spacing(1)
    assert oks[0] == pytest.approx(np.exp(-25 / v[0] / (50 + eps) / 2))
    # box (0, 0, 10, 20): x in [-10, 20], y in [-20, 40]
    d2 = np.array([20.0**2, 10.0**2])
    assert oks[1] == pytest.approx(np.mean(np.exp(-d2 / v / (200 + eps) / 2)))
    with pytest.raises(ValueError, match='gt_keypoints must have shape'):
        pair_oks(dt, gt[:, :1], boxes, areas, sigmas)
