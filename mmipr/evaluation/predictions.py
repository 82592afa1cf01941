"""One rule for non-finite predictions, whichever evaluation engine runs.

- A predicted instance with a non-finite keypoint coordinate (NaN, inf) is
  moved far outside the image (:data:`FAR`) before NMS and evaluation: its
  OKS is 0 to every ground truth, so COCOeval counts it as a false positive
  and its ground truth as missed (xtcocotools would count a NaN OKS as a
  match at every threshold). It pairs with no ground truth for EPE and A(s).
- A non-finite keypoint score or box score (NaN, inf, -inf) counts as 0
  before the instance scores are computed (``CocoMetric``'s rescoring) and
  evaluated. Where ``CocoMetric`` is defined (its instance scores are finite)
  this gives its numbers, e.g. a NaN keypoint score is never above
  ``keypoint_score_thr`` there either, and a prediction with no positive
  keypoint score is not evaluated by COCOeval.

Each rule warns once per evaluation with its counts. Functions over the
metric's processed results (``pred`` dicts of ``CocoMetric.process``).
"""
from __future__ import annotations

import logging

import numpy as np
from mmengine.logging import print_log

#: where non-finite predicted keypoints are moved: OKS 0 to every ground
#: truth (``exp(-d^2 / ...)`` underflows to 0), so COCOeval counts the
#: prediction as a false positive and its ground truth as missed
FAR = -1e7
#: the processed results' score fields the zero rule applies to
SCORE_FIELDS = ('keypoint_scores', 'bbox_scores')


def mark_nonfinite_keypoints(preds: list[dict]) -> int:
    """Move predicted instances with a non-finite coordinate far away
    (:data:`FAR`) and flag them (``pred['nonfinite']``, bool per instance);
    warn with their number.

    Args:
        preds (list[dict]): the processed predictions (changed in place);
            ``pred['keypoints']`` of shape (N, K, 2).

    Returns:
        int: the number of such instances (also those moved by an earlier
        evaluation of the same results).
    """
    count = sum(int(np.sum(pred['nonfinite'])) for pred in preds
                if 'nonfinite' in pred)  # evaluated before: moved
    todo = [pred for pred in preds if 'nonfinite' not in pred]
    kpts = [np.asarray(pred['keypoints']) for pred in todo]
    # one check of every coordinate; instance by instance only if it fails
    if kpts and not np.isfinite(
            np.concatenate([k.ravel() for k in kpts])).all():
        for pred, k in zip(todo, kpts):
            bad = ~np.isfinite(k).all(tuple(range(1, k.ndim)))
            if bad.any():
                k = k.copy()
                k[bad] = FAR
                pred['keypoints'] = k
                pred['nonfinite'] = bad
                count += int(bad.sum())
    if count:
        print_log(
            f'DifficultySplitCocoMetric: {count} predicted instance(s) '
            'have non-finite keypoint coordinates (NaN/inf); they are '
            'evaluated as misses (OKS 0: false positives, their ground '
            'truths unmatched) and paired with no ground truth.',
            'current', logging.WARNING)
    return count


def zero_nonfinite_scores(preds: list[dict]) -> dict[str, int]:
    """Set non-finite keypoint and box scores to 0, count them
    (``pred['nonfinite_scores']``: field -> count, kept for a later
    evaluation of the same results) and warn with the counts.

    Args:
        preds (list[dict]): the processed predictions (changed in place);
            ``pred['keypoint_scores']`` (N, K), ``pred['bbox_scores']`` (N,).

    Returns:
        dict: field -> number of scores set to 0, over all predictions.
    """
    counts = dict.fromkeys(SCORE_FIELDS, 0)
    todo = []
    for pred in preds:
        if 'nonfinite_scores' in pred:  # evaluated before: zeroed
            for field, n in pred['nonfinite_scores'].items():
                counts[field] += n
        else:
            todo.append(pred)
    for field in SCORE_FIELDS:
        values = [np.asarray(pred[field]) for pred in todo if field in pred]
        # one check of every score; prediction by prediction only if it fails
        if not values or np.isfinite(
                np.concatenate([v.ravel() for v in values])).all():
            continue
        for pred in todo:
            v = np.asarray(pred.get(field, ()))
            bad = ~np.isfinite(v)
            if bad.any():
                pred[field] = np.where(bad, 0, v).astype(v.dtype)
                n = int(bad.sum())
                pred.setdefault('nonfinite_scores', {})[field] = n
                counts[field] += n
    for pred in todo:
        pred.setdefault('nonfinite_scores', {})
    if any(counts.values()):
        print_log(
            f'DifficultySplitCocoMetric: {counts["keypoint_scores"]} '
            f'keypoint score(s) and {counts["bbox_scores"]} box score(s) are '
            'not finite (NaN/inf); they count as 0 (docs/metric.md, '
            '"Non-finite predictions").', 'current', logging.WARNING)
    return counts
