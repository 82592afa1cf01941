"""Activation sums A(s) (the paper's Eq. 6) collected from top-down data
samples, batch by batch, for DifficultySplitCocoMetric.

Only per-instance numbers are kept in the processed results: for each
prediction, ``pred['activation_sums']`` (annotation id -> (K,) A(s) at that
ground truth, for every ground truth it may be paired with) and
``pred['heatmap_normalization']`` (the normalisation used), never the
heatmaps. The ground-truth keypoints are mapped into the heatmap frame by
:func:`mmipr.heatmap.coords.image_to_heatmap`; the window is centred on them
rounded half up (:func:`mmipr.heatmap.stats.round_half_up`, MMPose's rule),
inside :func:`mmipr.heatmap.stats.activation_sum`.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from mmipr.heatmap.coords import image_to_heatmap
from mmipr.heatmap.stats import activation_sum, normalize_heatmaps
from mmipr.utils.validation import check_number

#: values of ``heatmap_normalization``
NORMALIZATIONS = ('auto', 'softmax', 'sum', 'none')
#: 'auto' uses maps as given when each sums to 1 within this
AUTO_SUM_TOLERANCE = 1e-3


def normalize_for_activation(heatmaps: Tensor, mode: str = 'auto',
                             beta: float = 1.0) -> tuple[Tensor, list]:
    """Normalise heatmaps so that each (H, W) map sums to 1, per the
    metric's ``heatmap_normalization``.

    - ``'softmax'``, ``'sum'``: :func:`mmipr.heatmap.stats.normalize_heatmaps`;
    - ``'none'``: used as given;
    - ``'auto'``: per instance, ``'none'`` if all its K maps are
      non-negative and sum to 1 (within :data:`AUTO_SUM_TOLERANCE`, e.g.
      IntegralHead's), else ``'softmax'`` (e.g. ArgmaxHead's raw MSE maps).

    Args:
        heatmaps (Tensor): shape (B, K, H, W).
        mode (str): one of :data:`NORMALIZATIONS`.
        beta (float): softmax scale. Default: 1.0.

    Returns:
        tuple: the normalised heatmaps, float32, shape (B, K, H, W), and the
        mode used for each instance (list of B str).
    """
    heatmaps = heatmaps.float()
    B = heatmaps.shape[0]
    if mode == 'none':
        return heatmaps, [mode] * B
    if mode in ('softmax', 'sum'):
        return normalize_heatmaps(heatmaps, mode, beta), [mode] * B
    soft = normalize_heatmaps(heatmaps, 'softmax', beta)
    normalised = ((heatmaps >= 0).flatten(1).all(1)
                  & ((heatmaps.sum((-2, -1)) - 1).abs()
                     < AUTO_SUM_TOLERANCE).all(1))
    out = torch.where(normalised[:, None, None, None], heatmaps, soft)
    return out, ['none' if n else 'softmax' for n in normalised.tolist()]


def candidate_annotations(pred: dict, sample: dict, coco) -> list:
    """Ground truths a top-down prediction may be paired with: the one it
    was made for (ground-truth boxes), else every labelled non-crowd ground
    truth of its image.

    The one it was made for is the sample's ``raw_ann_info`` or, for data
    samples that carry none (COCO-WholeBody-Hand, paired by box), the
    metric's ground truth of ``pred['ann_id']``.

    Args:
        pred (dict): the processed prediction (``pred['ann_id']`` set).
        sample (dict): its data sample.
        coco: the metric's ground truth (``COCO``) or None.

    Returns:
        list[dict]: COCO annotations.
    """
    if pred['ann_id'] is not None:
        raw = sample.get('raw_ann_info')
        anns = [raw if isinstance(raw, dict) and raw.get('id') == pred['ann_id']
                else coco.anns[pred['ann_id']]]
    elif coco is not None:
        anns = coco.imgToAnns.get(sample['img_id'], [])
    else:
        anns = [a for a in (sample.get('raw_ann_info') or []) if a is not None]
    return [a for a in anns
            if a.get('keypoints') and not a.get('iscrowd', 0)]


class ActivationCollector:
    """Adds A(s) to the processed results of each batch.

    Args:
        s (int): half window of A(s).
        normalization (str): one of :data:`NORMALIZATIONS`.
        beta (float): softmax scale.
        warn (callable): called once with a message when samples carry
            heatmaps A(s) cannot use.
    """

    def __init__(self, s: int, normalization: str, beta: float,
                 warn) -> None:
        self.s = s
        self.normalization = normalization
        self.beta = beta
        self.warn = warn
        self.warned = False

    def add(self, preds: Sequence[dict], data_samples: Sequence[dict],
            coco) -> None:
        """A(s) of every prediction whose sample has top-down heatmaps.

        Args:
            preds (Sequence[dict]): the batch's processed predictions, one
                per data sample (changed in place).
            data_samples (Sequence[dict]): the batch's data samples.
            coco: the metric's ground truth (``COCO``) or None.
        """
        with_heatmaps = []
        for pred, sample in zip(preds, data_samples):
            heatmaps = (sample.get('pred_fields') or {}).get('heatmaps')
            if heatmaps is None:
                continue
            if (heatmaps.ndim != 3 or len(pred['keypoints']) != 1
                    or 'input_center' not in sample):
                if not self.warned:
                    self.warn('DifficultySplitCocoMetric: A(s) needs '
                              'top-down heatmaps (K, H, W) of one instance '
                              'with input_center/input_scale; skipping A(s).')
                    self.warned = True
                continue
            with_heatmaps.append((pred, sample, torch.as_tensor(heatmaps)))
        shapes = {hm.shape for _, _, hm in with_heatmaps}
        for shape in shapes:  # one batched computation per heatmap shape
            self.add_same_shape(
                [e for e in with_heatmaps if e[2].shape == shape], coco)

    def add_same_shape(self, entries: list, coco) -> None:
        """A(s) of B same-shape heatmaps at each candidate ground truth."""
        hms, used = normalize_for_activation(
            torch.stack([hm for _, _, hm in entries]), self.normalization,
            self.beta)
        H, W = hms.shape[-2:]
        # a window that covers the whole map around any pixel of it makes
        # A(s) = 1 for every keypoint inside: refused, not reported
        check_number('DifficultySplitCocoMetric', 'activation_s', self.s,
                     integer=True, low=0, high=max(H, W) - 1, high_open=True,
                     hint=f'a window of half-size {self.s} covers the whole '
                     f'{W}x{H} heatmap around any keypoint in it, so A(s) '
                     'would be 1 for all of them (the paper uses 2)')
        index, centers, owners = [], [], []
        for b, (pred, sample, _) in enumerate(entries):
            pred['activation_sums'] = {}
            pred['heatmap_normalization'] = used[b]
            for ann in candidate_annotations(pred, sample, coco):
                gt = np.reshape(ann['keypoints'], (-1, 3))[:, :2]
                centers.append(image_to_heatmap(
                    gt, sample['input_center'], sample['input_scale'],
                    (W, H)))
                index.append(b)
                owners.append((pred, ann['id']))
        if not index:
            return
        sums = activation_sum(
            hms[torch.as_tensor(index, device=hms.device)],
            torch.as_tensor(np.stack(centers), dtype=hms.dtype,
                            device=hms.device),
            self.s).cpu().numpy()
        for (pred, ann_id), row in zip(owners, sums):
            pred['activation_sums'][ann_id] = row
