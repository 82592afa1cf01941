"""COCO's object keypoint similarity (OKS) for many prediction/ground-truth
pairs at once (numpy only).

COCOeval's ``computeOks`` loops over the images, and over the ground truths
of each image; :func:`pair_oks` takes every pair of a whole evaluation in
one call and returns the same numbers, bit for bit.
"""
from __future__ import annotations

import numpy as np


def pair_oks(dt_xy: np.ndarray, gt_keypoints: np.ndarray,
             gt_bboxes: np.ndarray, gt_areas: np.ndarray,
             sigmas: np.ndarray) -> np.ndarray:
    """OKS of P (prediction, ground truth) pairs, COCO's ``use_area`` rule.

    With :math:`v_k = (2\\sigma_k)^2`, the ground truth's area :math:`a`
    and :math:`e_k = (d_{x,k}^2 + d_{y,k}^2) / v_k / (a + \\epsilon) / 2`
    (:math:`\\epsilon` = ``np.spacing(1)``):

    .. math::
        \\mathrm{OKS} = \\frac{1}{|L|} \\sum_{k \\in L} e^{-e_k}

    over the labelled keypoints :math:`L = \\{k: v^{gt}_k > 0\\}`, with
    :math:`d = x^{dt} - x^{gt}`. A ground truth with no labelled keypoint
    measures the distance to its box enlarged by its size on every side,
    :math:`d_x = \\max(0, x_0 - x^{dt}) + \\max(0, x^{dt} - x_1)` with
    :math:`x_0 = x - w`, :math:`x_1 = x + 2w` (likewise y), over all K
    keypoints.

    The terms of each pair are summed in the order of COCOeval's
    ``computeOks`` (one row reduction of the labelled terms), so the result
    equals it bit for bit, not only to rounding.

    Args:
        dt_xy (np.ndarray): predicted (x, y), shape (P, K, 2).
        gt_keypoints (np.ndarray): the paired ground truths' COCO keypoints
            (x, y, v), shape (P, K, 3).
        gt_bboxes (np.ndarray): their boxes (x, y, w, h), shape (P, 4).
        gt_areas (np.ndarray): their ``area``, shape (P,).
        sigmas (np.ndarray): per-keypoint sigmas, shape (K,).

    Returns:
        np.ndarray: float64 OKS, shape (P,).
    """
    dt_xy = np.asarray(dt_xy, np.float64)
    gt_keypoints = np.asarray(gt_keypoints, np.float64)
    gt_bboxes = np.asarray(gt_bboxes, np.float64).reshape(-1, 4)
    P, K = dt_xy.shape[:2]
    if gt_keypoints.shape != (P, K, 3):
        raise ValueError(f'gt_keypoints must have shape {(P, K, 3)} to match '
                         f'dt_xy {dt_xy.shape}, got {gt_keypoints.shape}')
    xd, yd = dt_xy[..., 0], dt_xy[..., 1]
    # the terms that count: the labelled keypoints, or all K for a ground
    # truth with none (distance to its enlarged box)
    used = gt_keypoints[..., 2] > 0
    dx = xd - gt_keypoints[..., 0]
    dy = yd - gt_keypoints[..., 1]
    unlabelled = np.flatnonzero(~used.any(-1))
    if len(unlabelled):
        x, y, w, h = (gt_bboxes[unlabelled, i:i + 1] for i in range(4))
        xu, yu = xd[unlabelled], yd[unlabelled]
        dx[unlabelled] = (np.maximum(0.0, x - w - xu)
                          + np.maximum(0.0, xu - (x + w * 2)))
        dy[unlabelled] = (np.maximum(0.0, y - h - yu)
                          + np.maximum(0.0, yu - (y + h * 2)))
        used[unlabelled] = True
    variances = (np.asarray(sigmas, np.float64) * 2)**2
    e = ((dx**2 + dy**2) / variances
         / (np.asarray(gt_areas, np.float64)[:, None] + np.spacing(1)) / 2)
    # numpy sums a row of n values in an order that depends on n: the rows
    # with n terms are summed together, as COCOeval sums each (its order)
    counts = used.sum(-1)
    order = np.argsort(counts, kind='stable')
    terms = np.exp(-e[order][used[order]])
    oks = np.empty(P)
    row = start = 0
    for n, rows in zip(*np.unique(counts[order], return_counts=True)):
        end = start + n * rows
        oks[order[row:row + rows]] = terms[start:end].reshape(rows, n).sum(
            -1) / n
        row, start = row + rows, end
    return oks
