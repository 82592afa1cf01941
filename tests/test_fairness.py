"""The study's fairness rules, each against an independent computation.

- scores: under the shared rule (``score_mode='bbox'``) AP depends on the
  keypoints and box scores only, whatever keypoint scores a head emits;
- centres: the detection target and the prior are Gaussians around the same
  sub-pixel point;
- normalisation: the L1 and the prior are averaged over the same visible
  joints, so their ratio does not depend on how many are invisible.
"""
import contextlib
import copy
import io
import json
import os.path as osp

import numpy as np
import pytest
import torch
from conftest import REPO
from mmengine.config import Config
from mmpose.registry import KEYPOINT_CODECS, MODELS
from test_difficulty_metric import META, detected_box_samples, make_annotations, run_metric
from xtcocotools.coco import COCO
from xtcocotools.cocoeval import COCOeval

from mmipr.evaluation import DifficultySplitCocoMetric
from mmipr.study.runs import SCORE_RULES

SYNTHETIC = osp.join(REPO, 'configs', 'synthetic')


# ------------------------------------------------------------------ scores
def _with_keypoint_scores(samples, low: bool, seed: int):
    rng = np.random.default_rng(seed)
    out = copy.deepcopy(samples)
    for s in out:
        shape = s['pred_instances']['keypoint_scores'].shape
        # a wide-prior head: every A(2) below keypoint_score_thr=0.2
        s['pred_instances']['keypoint_scores'] = (
            rng.uniform(0.05, 0.19, shape) if low
            else rng.uniform(0.5, 1.0, shape))
    return out


def _reference_ap(ann_path: str, samples) -> float:
    """xtcocotools' COCOeval on a results file whose instance score is the
    detected box's score (COCO's sigmas, use_area, as CocoMetric)."""
    dts = [dict(image_id=s['img_id'], category_id=1,
                keypoints=np.concatenate(
                    [s['pred_instances']['keypoints'][0],
                     np.ones((17, 1))], 1).ravel().tolist(),
                score=float(s['pred_instances']['bbox_scores'][0]))
           for s in samples]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(ann_path)
        ev = COCOeval(gt, gt.loadRes(dts), 'keypoints',
                      np.array(META['sigmas']), use_area=True)
        ev.params.useSegm = None
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0])


def test_the_shared_score_rule_is_box_score_alone(tmp_path):
    assert SCORE_RULES['coco'] == 'bbox'
    coco_json = make_annotations(seed=5)
    ann_path = str(tmp_path / 'ann.json')
    with open(ann_path, 'w') as f:
        json.dump(coco_json, f)
    samples = detected_box_samples(coco_json, seed=6)
    confident = _with_keypoint_scores(samples, low=False, seed=1)
    unsure = _with_keypoint_scores(samples, low=True, seed=2)

    def ap(rule, preds):
        metric = DifficultySplitCocoMetric(
            ann_file=ann_path, score_mode=rule, nms_mode='none')
        return run_metric(metric, preds)['coco/AP']
    reference = _reference_ap(ann_path, samples)
    assert ap('bbox', confident) == pytest.approx(reference, abs=1e-12)
    assert ap('bbox', unsure) == pytest.approx(reference, abs=1e-12)
    # under each head's own scores the same keypoints rank differently
    assert ap('bbox_keypoint', confident) != ap('bbox_keypoint', unsure)


# ----------------------------------------------------------------- centres
@pytest.mark.parametrize('sigma_config', [
    'sbl_r18_detection_sigma0.5.py', 'sbl_r18_detection.py'])
def test_detection_target_and_prior_share_their_centre(sigma_config):
    """The detection config's target is the prior's Gaussian (written out
    here), at the same sub-pixel point, up to normalisation."""
    det = Config.fromfile(osp.join(SYNTHETIC, sigma_config)).model.head
    prior_cfg = Config.fromfile(
        osp.join(SYNTHETIC, 'sbl_r18_integral_kl2.py')).model.head
    codec = KEYPOINT_CODECS.build(det.decoder)
    label_codec = KEYPOINT_CODECS.build(prior_cfg.decoder)
    W, H = det.decoder.heatmap_size
    keypoint = np.array([[[37.3, 81.6]]], np.float32)  # input pixels
    visible = np.ones((1, 1), np.float32)
    target = codec.encode(keypoint, visible)['heatmaps'][0]
    # the prior's centre, as IntegralHead computes it for KLPriorLoss
    labels = label_codec.encode(keypoint, visible)['keypoint_labels'][0, 0]
    cx, cy = labels * np.array([W, H])
    sigma = det.decoder.sigma
    x, y = np.meshgrid(np.arange(W), np.arange(H))
    gaussian = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma ** 2))
    kept = target > 0  # MMPose cuts the target at 3 sigma
    assert kept[int(round(cy)), int(round(cx))]
    np.testing.assert_allclose(target[kept], gaussian[kept], rtol=1e-5,
                               atol=1e-6)
    prior = MODELS.build(dict(prior_cfg.prior_loss, sigma=sigma))
    # the prior's own Gaussian: the KL to it is least when h~ equals it
    logits = torch.from_numpy(np.log(gaussian + 1e-30))[None, None].float()
    centre = torch.tensor([[[cx, cy]]], dtype=torch.float32)
    at_centre = prior(logits, centre, torch.ones(1, 1))
    shifted = prior(logits, centre + 0.5, torch.ones(1, 1))
    assert float(at_centre) < 1e-4 < float(shifted)


# ----------------------------------------------------------- normalisation
def test_l1_and_prior_are_averaged_over_the_same_visible_joints():
    from mmpose.models.losses import L1Loss
    cfg = Config.fromfile(osp.join(SYNTHETIC, 'sbl_r18_integral_kl2.py'))
    l1 = MODELS.build(cfg.model.head.loss)
    prior = MODELS.build(cfg.model.head.prior_loss)
    g = torch.Generator().manual_seed(0)
    B, K, H, W = 4, 17, 64, 48
    pred = torch.rand(B, K, 2, generator=g)
    target = torch.rand(B, K, 2, generator=g)
    logits = torch.randn(B, K, H, W, generator=g)
    weights = (torch.rand(B, K, generator=g) > 0.4).float()
    target[weights == 0] = float('nan')  # invisible: any coordinate
    visible = weights > 0
    n = int(visible.sum())
    assert 0 < n < B * K
    # written out: mean over visible joints of (|dx| + |dy|) / 2
    expected_l1 = sum(float((pred[b, k] - target[b, k]).abs().mean())
                      for b, k in visible.nonzero().tolist()) / n
    assert float(l1(pred, target, weights)) == pytest.approx(expected_l1,
                                                             rel=1e-6)
    # the prior against torch's kl_div over the same joints
    centres = torch.where(visible[..., None], target * torch.tensor([W, H]),
                          torch.zeros(()))
    log_h = torch.log_softmax(logits.flatten(2), -1)
    y, x = torch.meshgrid(torch.arange(H).float(), torch.arange(W).float(),
                          indexing='ij')
    kl = []
    for b, k in visible.nonzero().tolist():
        cx, cy = centres[b, k]
        g_log = -((x - cx) ** 2 + (y - cy) ** 2) / (2 * prior.sigma ** 2)
        g_log = torch.log_softmax(g_log.flatten(), 0)
        kl.append(torch.nn.functional.kl_div(
            log_h[b, k], g_log, reduction='sum', log_target=True))
    expected_prior = float(torch.stack(kl).mean()) * prior.loss_weight
    assert float(prior(logits, centres, weights)) == pytest.approx(
        expected_prior, rel=1e-4)
    # adding invisible joints changes neither term, so neither the ratio
    more = torch.cat([weights, torch.zeros(B, K)])
    pred2, target2 = torch.cat([pred, pred]), torch.cat([target, target])
    logits2 = torch.cat([logits, logits])
    centres2 = torch.cat([centres, centres])
    assert float(l1(pred2, target2, more)) == pytest.approx(expected_l1,
                                                            rel=1e-6)
    assert float(prior(logits2, centres2, more)) == pytest.approx(
        expected_prior, rel=1e-4)
    # MMPose's L1Loss averages over all B*K*2 entries: with every joint
    # visible it equals ours, with invisible ones it shrinks by n / (B K)
    ones = torch.ones(B, K)
    clean = torch.nan_to_num(target)
    mmpose_l1 = L1Loss(use_target_weight=True)
    assert float(mmpose_l1(pred, clean, ones)) == pytest.approx(
        float(l1(pred, clean, ones)), rel=1e-6)
    assert float(mmpose_l1(pred, clean, weights)) == pytest.approx(
        expected_l1 * n / (B * K), rel=1e-5)


def test_prior_weight_is_one_to_one_with_l1_at_initialisation():
    """KLPriorLoss's default weight: KL(G || uniform) on the paper's 64x48
    map with sigma 2, times the weight, equals the L1 of a uniform heatmap's
    centre to keypoints spread over the central 80 % (0.20)."""
    prior = MODELS.build(dict(type='KLPriorLoss', sigma=2.0))
    H, W = 64, 48
    kl = prior(torch.zeros(1, 1, H, W), torch.tensor([[[23.5, 31.5]]]),
               torch.ones(1, 1)) / prior.loss_weight
    xs = torch.linspace(0.1, 0.9, 100001)
    l1_at_init = float((xs - 0.5).abs().mean())
    assert l1_at_init == pytest.approx(0.20, abs=1e-4)
    assert float(kl) * prior.loss_weight == pytest.approx(l1_at_init,
                                                          rel=0.01)
