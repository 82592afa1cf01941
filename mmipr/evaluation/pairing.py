"""EPE and A(s) per split: which prediction each ground truth is paired with
and the pooled statistics over the paired ground truths' labelled keypoints.

``ann_id`` pairing (ground-truth boxes) pairs each ground truth with the
prediction made for its box (before OKS-NMS); ``oks`` pairing uses COCO's own
matching of the full evaluation at OKS 0.5, area 'all'
(:meth:`~mmipr.evaluation.engines.base.EvaluationEngine.first_threshold_matches`).
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

#: values of ``pairing``
PAIRINGS = ('auto', 'ann_id', 'oks')


def resolve_pairing(pairing: str, preds: list[dict]) -> str:
    """The pairing to use: ``'auto'`` is ``'ann_id'`` when every data sample
    carried the annotation it was made for, else ``'oks'``.

    Args:
        pairing (str): one of :data:`PAIRINGS`.
        preds (list[dict]): the processed predictions (``pred['ann_id']``).

    Returns:
        str: ``'ann_id'`` or ``'oks'``.
    """
    carried = [p.get('ann_id') is not None for p in preds]
    if pairing == 'ann_id' and not all(carried):
        raise ValueError(
            "pairing='ann_id' needs every data sample to carry "
            "'raw_ann_info' (top-down with ground-truth boxes; with "
            "gt_format='coco_wholebody_hand', a hand box of the annotation "
            "file); use pairing='oks' or 'auto' with detected boxes.")
    if pairing == 'auto':
        return 'ann_id' if carried and all(carried) else 'oks'
    return pairing


def pairs_by_ann_id(preds: list[dict]) -> dict[int, tuple]:
    """Each ground truth with the prediction made for its box.

    Args:
        preds (list[dict]): the processed predictions.

    Returns:
        dict: annotation id -> (predicted (x, y), shape (K, 2); A(s), shape
        (K,), or None). Predictions with a non-finite coordinate pair with
        nothing.
    """
    pairs = {}
    for pred in preds:
        ann = pred.get('ann_id')
        if ann is None or ann in pairs or not len(pred['keypoints']):
            continue
        if 'nonfinite' in pred and pred['nonfinite'][0]:
            continue  # a miss: paired with nothing
        sums = pred.get('activation_sums', {}).get(ann)
        pairs[ann] = (np.asarray(pred['keypoints'])[0, :, :2], sums)
    return pairs


def pairs_by_matches(matches: Iterable[tuple], preds: list[dict],
                     result_samples: list) -> dict[int, tuple]:
    """Each ground truth with the prediction COCO matched it to.

    Args:
        matches (Iterable[tuple]): (ground-truth id, result index, matched
            (x, y) of shape (K, 2)), the engine's first-threshold matches.
        preds (list[dict]): the processed predictions.
        result_samples (list): per result (file order), the id of the data
            sample it came from (None for bottom-up samples).

    Returns:
        dict: annotation id -> (predicted (x, y), shape (K, 2); A(s), shape
        (K,), or None).
    """
    by_sample = {}
    for pred in preds:
        if not isinstance(pred['id'], (list, tuple)):
            by_sample.setdefault(pred['id'], pred)
    pairs = {}
    for gt_id, index, xy in matches:
        if gt_id in pairs:
            continue
        sample = by_sample.get(result_samples[index], {})
        pairs[gt_id] = (xy, sample.get('activation_sums', {}).get(gt_id))
    return pairs


def add_pair_stats(rows: dict, pairs: dict, masks: dict,
                   ann_ids: np.ndarray, anns: dict, num_keypoints: int,
                   activation_key: str) -> None:
    """EPE and A(s) per split, pooled over the labelled keypoints of the
    paired ground truths (``rows`` changed in place: ``paired``, ``EPE`` and,
    when any A(s) was collected, ``activation_key``; -1 when none).

    Args:
        rows (dict): split name -> its row of numbers; ``'all'`` covers every
            ground truth in some split.
        pairs (dict): annotation id -> (predicted (x, y) (K, 2), A(s) (K,)
            or None).
        masks (dict): split name -> bool over ``ann_ids``, shape (N,).
        ann_ids (np.ndarray): the ground truths' annotation ids, shape (N,).
        anns (dict): annotation id -> COCO annotation.
        num_keypoints (int): K.
        activation_key (str): the A(s) key, e.g. ``'A(2)'``.
    """
    K = num_keypoints
    index = {int(a): i for i, a in enumerate(ann_ids)}
    n = len(ann_ids)
    pred = np.zeros((n, K, 2))
    gt = np.zeros((n, K, 3))
    act = np.full((n, K), np.nan)
    paired = np.zeros(n, bool)
    in_any = np.any(list(masks.values()), axis=0)
    rows_of, kpts_of, sums_of = [], [], {}
    for ann_id, (kpts, sums) in pairs.items():
        i = index.get(int(ann_id))
        if i is None or not in_any[i]:
            continue
        rows_of.append(i)
        kpts_of.append(kpts)
        if sums is not None:
            sums_of[i] = sums
    if rows_of:
        paired[rows_of] = True
        pred[rows_of] = np.reshape(kpts_of, (-1, K, 2))
        gt[rows_of] = np.reshape(
            [anns[int(ann_ids[i])]['keypoints'] for i in rows_of], (-1, K, 3))
    if sums_of:
        act[list(sums_of)] = np.reshape(list(sums_of.values()), (-1, K))
    vis = gt[..., 2] > 0
    err = np.linalg.norm(pred - gt[..., :2], axis=-1)
    has_act = bool(np.isfinite(act).any())
    for name, row in rows.items():
        sel = (masks.get(name, in_any)) & paired
        v = vis & sel[:, None]
        row['paired'] = int(sel.sum())
        row['EPE'] = float(err[v].mean()) if v.any() else -1.0
        if has_act:
            a = act[v & np.isfinite(act)]
            row[activation_key] = float(a.mean()) if a.size else -1.0
