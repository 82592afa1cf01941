"""Per-instance localisation statistics on ground-truth boxes (Table V).

The paper's App. A.5 splits instances by the integral baseline's activation
sum, A(1) > 0.34 "localised", else "dispersed", and compares every variant on
both groups. That needs per-instance numbers of each model on the same
instances: its mean A(s) over the labelled joints and its OKS to the ground
truth, keyed by annotation id.
"""
from __future__ import annotations

import numpy as np
import torch

from mmipr.evaluation.oks import pair_oks
from mmipr.heatmap.stats import activation_sum, normalize_heatmaps

from .gt_boxes import build_gt_box_model, returns_normalized_heatmaps
from .heatmap_stats import inside_heatmap
from .samples import keypoints_in_heatmap


def object_keypoint_similarity(pred: np.ndarray, ann: dict,
                               sigmas: np.ndarray) -> float:
    """COCO's OKS of one prediction to one annotation
    (:func:`~mmipr.evaluation.oks.pair_oks` for a single pair).

    Args:
        pred (np.ndarray): predicted keypoints (x, y), shape (K, 2).
        ann (dict): COCO annotation (``keypoints``, ``area``, ``bbox``).
        sigmas (np.ndarray): per-keypoint OKS sigmas, shape (K,).

    Returns:
        float: OKS in [0, 1]; NaN without labelled keypoints (where COCOeval
        measures the distance to the box instead: such an instance has no
        localisation to compare, and is left out of Table V's means).
    """
    gt = np.reshape(ann['keypoints'], (-1, 3))
    if not (gt[:, 2] > 0).any():
        return float('nan')
    return float(pair_oks(np.asarray(pred)[None], gt[None],
                          np.asarray(ann['bbox'])[None],
                          np.array([ann['area']]), sigmas)[0])


@torch.no_grad()
def collect_instance_stats(model, loader, windows=(1, 2),
                           normalize: str = 'sum') -> dict:
    """Run a top-down model over a ground-truth-box loader, per instance.

    Args:
        model: an MMPose top-down model returning heatmaps
            (``test_cfg.output_heatmaps=True``).
        loader: a dataloader with ``bbox_file=None`` (samples carry
            ``raw_ann_info``).
        windows (Sequence[int]): the s of the A(s) to record.
        normalize (str): ``'sum'`` or ``'softmax'`` for heatmaps that are
            not yet normalised (IntegralHead's are left as they are).

    Returns:
        dict: annotation id (str) -> ``{'oks': float, 'A(s)': float, ...}``,
        A(s) the mean over labelled joints whose ground truth lies inside
        the heatmap (NaN if none).
    """
    sigmas = np.asarray(model.dataset_meta['sigmas'])
    integral = returns_normalized_heatmaps(model)
    out = {}
    for batch in loader:
        samples = model.test_step(batch)
        heatmaps = torch.stack(
            [s.pred_fields.heatmaps for s in samples]).float()
        if not integral:
            heatmaps = normalize_heatmaps(heatmaps, normalize)
        B, K, H, W = heatmaps.shape
        targets = keypoints_in_heatmap(samples, (W, H))
        anns = [s.metainfo['raw_ann_info'] for s in samples]
        vis = torch.from_numpy(np.array(
            [np.reshape(a['keypoints'], (K, 3))[:, 2] for a in anns]) > 0)
        valid = (vis & inside_heatmap(targets, (W, H))).float()
        sums = {s: activation_sum(heatmaps, targets, s) for s in windows}
        for i, (sample, ann) in enumerate(zip(samples, anns)):
            n = float(valid[i].sum())
            entry = {'oks': object_keypoint_similarity(
                np.asarray(sample.pred_instances.keypoints[0]), ann, sigmas)}
            for s, a in sums.items():
                entry[f'A({s})'] = (float((a[i] * valid[i]).sum()) / n
                                    if n else float('nan'))
            out[str(ann['id'])] = entry
    return out


def split_by_localisation(baseline: dict, threshold: float = 0.34,
                          key: str = 'A(1)') -> tuple[set, set]:
    """The paper's App. A.5 split: instances whose ``baseline`` A(1) exceeds
    ``threshold`` are localised, the others (with a finite A(1)) dispersed.

    Args:
        baseline (dict): :func:`collect_instance_stats` of the integral
            regression baseline.
        threshold (float): the A(1) threshold. Default: 0.34 (the paper's).
        key (str): the statistic. Default: ``'A(1)'``.

    Returns:
        tuple[set, set]: annotation ids (str) localised, dispersed.
    """
    localised = {a for a, e in baseline.items() if e[key] > threshold}
    dispersed = {a for a, e in baseline.items()
                 if np.isfinite(e[key]) and e[key] <= threshold}
    return localised, dispersed


def model_instance_stats(config: str, checkpoint: str,
                         device: str = 'cpu') -> dict:
    """:func:`collect_instance_stats` of ``checkpoint`` on its test set
    with ground-truth boxes (batches of 64, no workers).

    Args:
        config (str): the model's config.
        checkpoint (str): its weights.
        device (str): Default: ``'cpu'``.

    Returns:
        dict: :func:`collect_instance_stats`'s result.
    """
    model, loader = build_gt_box_model(config, checkpoint, device=device,
                                       batch_size=64, num_workers=0)
    return collect_instance_stats(model, loader)
