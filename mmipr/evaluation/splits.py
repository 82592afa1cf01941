"""Difficulty splits of COCO keypoint instances (the paper's Sec. 3.3).

Pure functions over COCO annotations (numpy only, no MMPose import): they
give each ground-truth instance a level per factor and a combined level, and
assign predictions to ground truths. :class:`DifficultySplitCocoMetric` uses
them, and ``tools/dataset/split_counts.py`` prints a file's split counts.

Levels are integer codes: ``EASY = 0``, ``MEDIUM = 1``, ``HARD = 2`` and
``NO_SPLIT = -1`` for instances that belong to no split (crowd regions and
instances with no labelled keypoint, which COCO's keypoint evaluation ignores).

Factors (thresholds of ``/work/shared/design/paper-notes.md``):

========== ================================== ========== ============ ==========
factor     value                              hard       medium       easy
========== ================================== ========== ============ ==========
joints     labelled keypoints ``n`` (v > 0)   n <= 5     6 <= n <= 10 n >= 11
occlusion  ``(v == 1) / (v > 0)``             > 0.5      0.1 .. 0.5   < 0.1
size       ``max(w, h)`` of the box, image px < 64       64 .. 128    > 128
========== ================================== ========== ============ ==========

For ``K != 17`` keypoints the joints bounds 5 and 10 scale to
``round(5 * K / 17)`` and ``round(10 * K / 17)`` (COCO-WholeBody-Hand,
K = 21: 6 and 12).

Which factors apply is a choice of the annotation format (``factors=``,
:data:`FACTORS` by default): the combined level is the hardest of the chosen
factors, and the splits of a left-out factor do not exist
(:func:`split_names`). COCO-WholeBody-Hand leaves out occlusion
(:mod:`mmipr.evaluation.gt_formats`).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

EASY, MEDIUM, HARD, NO_SPLIT = 0, 1, 2, -1
LEVEL_NAMES = ('easy', 'medium', 'hard')

#: split name of each (factor, level), in the order the metric reports them
FACTOR_SPLITS: dict[str, tuple] = {
    'joints': ('joints_many', 'joints_medium', 'joints_few'),
    'occlusion': ('occlusion_low', 'occlusion_medium', 'occlusion_high'),
    'size': ('size_large', 'size_medium', 'size_small'),
    'combined': ('easy', 'medium', 'hard'),
}
#: union split of the paper's Table 1 ("e/m")
EASY_MEDIUM = 'easy_medium'
#: the difficulty factors, in report order (the default ``factors``)
FACTORS = ('joints', 'occlusion', 'size')


def check_factors(factors: Sequence[str]) -> tuple:
    """``factors`` as a tuple in :data:`FACTORS`' order, checked.

    Args:
        factors (Sequence[str]): a non-empty subset of :data:`FACTORS`.

    Returns:
        tuple: the factors, in :data:`FACTORS`' order.

    Raises:
        ValueError: empty, repeated or unknown factors.
    """
    if isinstance(factors, str):
        factors = (factors,)
    factors = tuple(factors)
    unknown = [f for f in factors if f not in FACTORS]
    if unknown or not factors or len(set(factors)) != len(factors):
        raise ValueError(f'factors must be a non-empty subset of {FACTORS} '
                         f'without repeats, got {factors!r}')
    return tuple(f for f in FACTORS if f in factors)


def split_names(factors: Sequence[str] = FACTORS) -> tuple:
    """Names of the splits of some factors, in report order: the combined
    levels, ``easy_medium``, then each factor's levels.

    Args:
        factors (Sequence[str]): a non-empty subset of :data:`FACTORS`.

    Returns:
        tuple: split names; :data:`SPLIT_NAMES` for all factors.
    """
    return (*FACTOR_SPLITS['combined'], EASY_MEDIUM,
            *(name for f in check_factors(factors)
              for name in FACTOR_SPLITS[f]))


#: every split (all factors), in report order
SPLIT_NAMES = split_names(FACTORS)

_JOINTS_BOUNDS_17 = (5, 10)
_OCCLUSION_BOUNDS = (0.1, 0.5)
_SIZE_BOUNDS = (64.0, 128.0)


def joints_bounds(num_keypoints: int) -> tuple:
    """Upper bounds of the hard and medium joints levels for K keypoints.

    Args:
        num_keypoints (int): K.

    Returns:
        tuple: ``(hard_max, medium_max)``; ``(5, 10)`` for K = 17.
    """
    return tuple(round(b * num_keypoints / 17)
                 for b in _JOINTS_BOUNDS_17)


def joints_level(visibility: np.ndarray) -> np.ndarray:
    """Level of the number of labelled keypoints (``v > 0``).

    Args:
        visibility (np.ndarray): COCO visibility flags, shape (N, K).

    Returns:
        np.ndarray: int levels, shape (N,); NO_SPLIT where none is labelled.
    """
    hard_max, medium_max = joints_bounds(visibility.shape[-1])
    n = (visibility > 0).sum(-1)
    level = np.where(n <= hard_max, HARD,
                     np.where(n <= medium_max, MEDIUM, EASY))
    return np.where(n == 0, NO_SPLIT, level)


def occlusion_level(visibility: np.ndarray) -> np.ndarray:
    """Level of the occluded fraction ``(v == 1) / (v > 0)``.

    Args:
        visibility (np.ndarray): COCO visibility flags, shape (N, K).

    Returns:
        np.ndarray: int levels, shape (N,); NO_SPLIT where none is labelled.
    """
    labelled = (visibility > 0).sum(-1)
    ratio = (visibility == 1).sum(-1) / np.maximum(labelled, 1)
    low, high = _OCCLUSION_BOUNDS
    level = np.where(ratio > high, HARD, np.where(ratio >= low, MEDIUM, EASY))
    return np.where(labelled == 0, NO_SPLIT, level)


def size_level(bboxes: np.ndarray) -> np.ndarray:
    """Level of the instance size ``max(w, h)`` of its box in image pixels.

    Args:
        bboxes (np.ndarray): COCO boxes (x, y, w, h), shape (N, 4).

    Returns:
        np.ndarray: int levels, shape (N,).
    """
    size = np.max(np.asarray(bboxes, dtype=np.float64)[:, 2:4], axis=-1)
    small, large = _SIZE_BOUNDS
    return np.where(size < small, HARD, np.where(size <= large, MEDIUM, EASY))


def combined_level(*levels: np.ndarray) -> np.ndarray:
    """The combined easy/medium/hard level: the hardest of the factors.

    Hard if any factor is hard, easy only if every factor is easy; NO_SPLIT
    if any factor is NO_SPLIT.

    Args:
        *levels (np.ndarray): per-factor levels, each shape (N,).

    Returns:
        np.ndarray: int levels, shape (N,).
    """
    stacked = np.stack(levels)
    return np.where((stacked == NO_SPLIT).any(0), NO_SPLIT, stacked.max(0))


def instance_levels(keypoints: np.ndarray, bboxes: np.ndarray,
                    iscrowd: np.ndarray | None = None,
                    factors: Sequence[str] = FACTORS
                    ) -> dict[str, np.ndarray]:
    """Levels of each chosen factor and the combined level for N instances.

    Crowd regions and instances with no labelled keypoint get NO_SPLIT in
    every factor.

    Args:
        keypoints (np.ndarray): COCO keypoints (x, y, v), shape (N, K, 3) or
            (N, 3K).
        bboxes (np.ndarray): COCO boxes (x, y, w, h), shape (N, 4).
        iscrowd (np.ndarray, optional): crowd flags, shape (N,).
        factors (Sequence[str]): the factors that apply, a non-empty subset
            of :data:`FACTORS`; the combined level is the hardest of them.
            Default: all three.

    Returns:
        dict: each of ``factors`` and ``'combined'`` -> int levels of shape
        (N,).
    """
    factors = check_factors(factors)
    n = len(keypoints)
    vis = np.asarray(keypoints, dtype=np.float64).reshape(n, -1, 3)[..., 2]
    bboxes = np.asarray(bboxes, dtype=np.float64).reshape(n, 4)
    excluded = (vis > 0).sum(-1) == 0
    if iscrowd is not None:
        excluded |= np.asarray(iscrowd, dtype=bool)
    level_of = {'joints': lambda: joints_level(vis),
                'occlusion': lambda: occlusion_level(vis),
                'size': lambda: size_level(bboxes)}
    levels = {f: np.where(excluded, NO_SPLIT, level_of[f]())
              for f in factors}
    levels['combined'] = combined_level(*levels.values())
    return levels


def annotation_levels(anns: Sequence[dict],
                      num_keypoints: int | None = None,
                      factors: Sequence[str] = FACTORS
                      ) -> dict[str, np.ndarray]:
    """:func:`instance_levels` of COCO annotation dicts.

    Args:
        anns (Sequence[dict]): COCO annotations with ``keypoints``, ``bbox``
            and optionally ``iscrowd`` (crowd regions may lack keypoints).
        num_keypoints (int, optional): K; inferred from the annotations if
            omitted.
        factors (Sequence[str]): the factors that apply (see
            :func:`instance_levels`). Default: all three.

    Returns:
        dict: the levels of :func:`instance_levels` plus ``'ids'``, the
        annotation ids, shape (N,).
    """
    if num_keypoints is None:
        num_keypoints = max((len(a.get('keypoints') or ()) // 3
                             for a in anns), default=0)
    kpts = np.zeros((len(anns), num_keypoints, 3))
    labelled = [i for i, a in enumerate(anns) if a.get('keypoints')]
    for i in labelled:
        if len(anns[i]['keypoints']) != 3 * num_keypoints:
            raise ValueError(
                f'annotation {anns[i].get("id")} has '
                f'{len(anns[i]["keypoints"])} keypoint values, expected '
                f'3 * {num_keypoints}: pass the dataset\'s number of '
                'keypoints')
    if labelled:
        kpts[labelled] = np.array([anns[i]['keypoints'] for i in labelled],
                                  np.float64).reshape(-1, num_keypoints, 3)
    bboxes = np.array([a['bbox'] for a in anns],
                      dtype=np.float64).reshape(-1, 4)
    iscrowd = np.array([a.get('iscrowd', 0) for a in anns], dtype=bool)
    levels = instance_levels(kpts, bboxes, iscrowd, factors)
    levels['ids'] = np.array([a['id'] for a in anns], dtype=np.int64)
    return levels


def split_masks(levels: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Membership of each instance in each named split.

    Args:
        levels (dict): output of :func:`instance_levels` (its factors decide
            the splits).

    Returns:
        dict: split name (:func:`split_names` of the levels' factors, in
        that order) -> bool mask of shape (N,).
    """
    masks = {}
    factors = tuple(f for f in FACTORS if f in levels)
    for factor in (*factors, 'combined'):
        for level, name in enumerate(FACTOR_SPLITS[factor]):
            masks[name] = levels[factor] == level
    masks[EASY_MEDIUM] = masks['easy'] | masks['medium']
    return {name: masks[name] for name in split_names(factors)}


def split_counts(anns: Sequence[dict],
                 num_keypoints: int | None = None,
                 factors: Sequence[str] = FACTORS) -> dict[str, int]:
    """Number of instances in each split, plus ``'all'`` (instances in any).

    Args:
        anns (Sequence[dict]): COCO annotations.
        num_keypoints (int, optional): K.
        factors (Sequence[str]): the factors that apply (see
            :func:`instance_levels`). Default: all three.

    Returns:
        dict: split name (:func:`split_names`) -> count, and ``'all'``.
    """
    levels = annotation_levels(anns, num_keypoints, factors)
    counts = {k: int(v.sum()) for k, v in split_masks(levels).items()}
    counts['all'] = int((levels['combined'] != NO_SPLIT).sum())
    return counts


def assign_predictions(oks: np.ndarray, candidates: np.ndarray,
                       carried: np.ndarray | None = None) -> np.ndarray:
    """Assign each prediction of one image to the ground truth it was made for.

    The rule (paper-notes "Difficulty splits"):

    - a prediction that carries the ground truth it was made for (top-down
      with ground-truth boxes: its annotation id) is assigned to it;
    - otherwise (detected boxes) to the candidate ground truth of highest OKS
      in its image (first on ties);
    - to none (-1) when that highest OKS is 0, when the image has no
      candidate, or when the carried ground truth is not a candidate. A
      prediction assigned to none is a false positive in every split.

    Candidates are the ground truths that belong to a split (not crowd, at
    least one labelled keypoint): OKS against an unlabelled instance is
    measured to its box, not to keypoints, and must not attract predictions.

    Args:
        oks (np.ndarray): OKS of predictions x ground truths, shape (D, G).
        candidates (np.ndarray): bool, ground truths that may be assigned,
            shape (G,).
        carried (np.ndarray, optional): column index of the ground truth each
            prediction was made for, -1 if unknown, shape (D,).

    Returns:
        np.ndarray: column index of the assigned ground truth or -1, shape
        (D,).
    """
    oks = np.asarray(oks, dtype=np.float64)
    candidates = np.asarray(candidates, dtype=bool)
    if oks.ndim != 2 or oks.shape[1] != len(candidates):
        raise ValueError(f'oks must have shape (D, {len(candidates)}), got '
                         f'{oks.shape}')
    masked = np.where(candidates[None], oks, 0.0)
    best = masked.argmax(1) if masked.shape[1] else np.zeros(len(oks), int)
    has = masked.max(1, initial=0.0) > 0
    assigned = np.where(has, best, -1)
    if carried is not None:
        carried = np.asarray(carried, dtype=np.int64)
        known = carried >= 0
        ok = np.zeros_like(known)
        ok[known] = candidates[carried[known]]
        assigned = np.where(known, np.where(ok, carried, -1), assigned)
    return assigned


def assign_predictions_grouped(oks: np.ndarray, pair_dt: np.ndarray,
                               pair_gt: np.ndarray, num_dt: int,
                               candidates: np.ndarray,
                               carried: np.ndarray | None = None
                               ) -> np.ndarray:
    """:func:`assign_predictions` for the predictions of many images at once.

    The OKS matrix of each image is given as pairs: every (prediction,
    ground truth) of the same image, the pairs of one prediction contiguous
    and in the ground truths' column order. Each prediction gets the result
    :func:`assign_predictions` gives it on its image's matrix.

    Args:
        oks (np.ndarray): OKS of each pair, shape (P,).
        pair_dt (np.ndarray): prediction index of each pair, shape (P,).
        pair_gt (np.ndarray): ground-truth index of each pair, shape (P,).
        num_dt (int): D, the number of predictions (some may have no pair:
            their image has no ground truth).
        candidates (np.ndarray): bool, ground truths that may be assigned,
            shape (G,).
        carried (np.ndarray, optional): index of the ground truth each
            prediction was made for if it is one of its image's, else -1,
            shape (D,).

    Returns:
        np.ndarray: index of the assigned ground truth or -1, shape (D,).
    """
    oks = np.asarray(oks, np.float64)
    pair_dt = np.asarray(pair_dt, np.int64)
    pair_gt = np.asarray(pair_gt, np.int64)
    candidates = np.asarray(candidates, bool)
    assigned = np.full(num_dt, -1, np.int64)
    if len(oks):
        if (np.diff(pair_dt) < 0).any():
            raise ValueError('the pairs of each prediction must be '
                             'contiguous, in increasing prediction order')
        masked = np.where(candidates[pair_gt], oks, 0.0)
        starts = np.flatnonzero(np.r_[True, pair_dt[1:] != pair_dt[:-1]])
        best = np.maximum.reduceat(masked, starts)
        owner = pair_dt[starts]
        at_best = (masked == np.repeat(best, np.diff(np.r_[starts, len(oks)])))
        first = np.minimum.reduceat(
            np.where(at_best, np.arange(len(oks)), len(oks)), starts)
        # no maximum found (NaN OKS): first is past the end, and unused
        assigned[owner] = np.where(
            best > 0, pair_gt[np.minimum(first, len(oks) - 1)], -1)
    if carried is not None:
        carried = np.asarray(carried, np.int64)
        known = carried >= 0
        ok = np.zeros_like(known)
        ok[known] = candidates[carried[known]]
        assigned = np.where(known, np.where(ok, carried, -1), assigned)
    return assigned
