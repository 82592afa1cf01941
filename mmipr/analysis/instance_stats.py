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

from mmipr.analysis.samples import keypoints_in_heatmap
from mmipr.heatmap.stats import activation_sum, normalize_heatmaps


def object_keypoint_similarity(pred: np.ndarray, ann: dict,
                               sigmas: np.ndarray) -> float:
    """COCO's OKS of one prediction to one annotation.

    .. math::
        OKS = \\frac{1}{|V|} \\sum_{k \\in V}
        \\exp\\left(-\\frac{d_k^2}{2 A (2 \\sigma_k)^2}\\right)

    with V the labelled keypoints, d_k the distance in image pixels and A the
    annotation's ``area`` (as xtcocotools' ``computeOks``).

    Args:
        pred (np.ndarray): predicted keypoints (x, y), shape (K, 2).
        ann (dict): COCO annotation (``keypoints``, ``area``).
        sigmas (np.ndarray): per-keypoint OKS sigmas, shape (K,).

    Returns:
        float: OKS in [0, 1]; NaN without labelled keypoints.
    """
    gt = np.reshape(ann['keypoints'], (-1, 3))
    labelled = gt[:, 2] > 0
    if not labelled.any():
        return float('nan')
    d2 = ((pred - gt[:, :2]) ** 2).sum(-1)
    e = d2 / ((2 * sigmas) ** 2 * (ann['area'] + np.spacing(1)) * 2)
    return float(np.exp(-e[labelled]).mean())


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
    integral = hasattr(model.head, 'integrate')
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
        rounded = torch.floor(targets + 0.5)
        inside = ((rounded[..., 0] >= 0) & (rounded[..., 0] < W)
                  & (rounded[..., 1] >= 0) & (rounded[..., 1] < H))
        valid = (vis & inside).float()
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
