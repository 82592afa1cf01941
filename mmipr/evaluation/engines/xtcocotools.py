"""The xtcocotools engine: COCOeval as ``CocoMetric`` runs it (every
``iou_type``, e.g. CrowdPose's ``'keypoints_crowd'``), splits reusing its OKS
(``docs/metric.md``, section Efficiency).

Per image, a split keeps a subset of ground truths and predictions; identical
subsets are evaluated once for all splits. When COCO's greedy matching of a
subset is provably the restriction of the full matching, the full
evaluation's per-image result is sliced; otherwise COCOeval's own
``evaluateImg`` runs on the sliced OKS matrix. Every reach into COCOeval's
internals is listed in :mod:`mmipr.evaluation.engines.private_api`.
"""
from __future__ import annotations

import contextlib
import copy
import io
from collections import defaultdict
from collections.abc import Iterator

import numpy as np
from xtcocotools.cocoeval import COCOeval

from ..splits import assign_predictions
from .base import EvaluationEngine, split_summary


class XtcocotoolsEngine(EvaluationEngine):
    """xtcocotools' COCOeval, as ``CocoMetric`` runs it."""

    name = 'xtcocotools'
    in_memory = False

    def evaluate(self, res_file: str) -> list:
        coco_det = self.coco.loadRes(res_file)
        coco_eval = COCOeval(self.coco, coco_det, self.iou_type, self.sigmas,
                             self.use_area)
        coco_eval.params.useSegm = None
        coco_eval.evaluate()
        coco_eval.accumulate()
        # 'keypoints_crowd' summarize() re-evaluates on each crowdIndex
        # group of images, leaving the last group's state: keep the full
        # evaluation's for the splits
        state = (coco_eval.evalImgs, coco_eval.ious, coco_eval._gts,
                 coco_eval._dts, coco_eval.eval, coco_eval._paramsEval)
        img_ids = list(coco_eval.params.imgIds)
        coco_eval.summarize()
        (coco_eval.evalImgs, coco_eval.ious, coco_eval._gts, coco_eval._dts,
         coco_eval.eval, coco_eval._paramsEval) = state
        coco_eval.params.imgIds = img_ids
        return self.finish(coco_eval)

    def split_rows(self, member: np.ndarray, row_of: dict,
                   result_ann: list) -> list[dict]:
        E = self.coco_eval
        p = E.params
        # loadRes numbers the results 1..N in file order
        dt_ann = {i + 1: a for i, a in enumerate(result_ann)
                  if a is not None}
        # Each split sees, per image, a subset of its ground truths and
        # predictions; the matching of one subset is computed once (COCOeval's
        # evaluateImg on the OKS of the single full evaluation) and shared by
        # every split with the same subset, and a split that keeps a whole
        # image reuses the full evaluation's result for it.
        work = copy.copy(E)
        work._gts, work._dts = defaultdict(list), defaultdict(list)
        work.ious = {}
        area_all, maxdet = p.areaRng[0], p.maxDets[-1]
        full = {(ev['image_id'], ev['category_id']): ev
                for ev in E.evalImgs
                if ev is not None and list(ev['aRng']) == list(area_all)}
        per_split = [{} for _ in range(member.shape[1])]  # (img, cat) -> result
        cat_ids = p.catIds if p.useCats else [-1]
        for img in p.imgIds:
            for cat in cat_ids:
                key = (img, cat)
                g_list, d_list = E._gts[key], E._dts[key]
                if not g_list and not d_list:
                    continue
                d_sorted, oks, col, g_keep, d_keep = self.image_split_masks(
                    key, g_list, d_list, member, row_of, dt_ann)
                ev = full.get(key) if len(d_sorted) <= maxdet else None
                restrictable = self.restrictable(ev, g_list, g_keep, d_keep)
                if ev is not None:  # ev orders ground truths ignored-last
                    ev_cols = [col[i] for i in ev['gtIds']]
                memo = {}
                for s in np.flatnonzero(g_keep.any(1) | d_keep.any(1)):
                    sig = g_keep[s].tobytes() + d_keep[s].tobytes()
                    if sig in memo:
                        pass
                    elif restrictable[s]:
                        memo[sig] = self.restrict(ev, g_keep[s, ev_cols],
                                                  d_keep[s])
                    else:
                        memo[sig] = self.evaluate_subset(
                            work, key, g_list, d_sorted, oks,
                            np.flatnonzero(g_keep[s]),
                            np.flatnonzero(d_keep[s]))
                        if memo[sig] is not None:
                            # accumulate() concatenates them: arrays are
                            # much faster to concatenate than lists
                            memo[sig]['dtScores'] = np.asarray(
                                memo[sig]['dtScores'], np.float64)
                    per_split[s][key] = memo[sig]
        return [self.accumulate_split(r) for r in per_split]

    def image_split_masks(self, key: tuple, g_list: list, d_list: list,
                          member: np.ndarray, row_of: dict,
                          dt_ann: dict) -> tuple:
        """One image's predictions in COCOeval's order and, per split, which
        ground truths and predictions it keeps.

        Args:
            key (tuple): (image id, category id).
            g_list (list): the image's ground truths, G of them.
            d_list (list): its predictions, D of them.
            member (np.ndarray): bool, ground truth x split, shape (N, S).
            row_of (dict): annotation id -> row of ``member``.
            dt_ann (dict): prediction id -> annotation id it was made for.

        Returns:
            tuple: the predictions sorted by score, their OKS (D, G), ground
            truth id -> column, and the keep masks (S, G) and (S, D):
            ground truths of the split and COCO's ignored ones; predictions
            assigned to the split's ground truths, and the unassigned.
        """
        score_key = self.coco_eval.score_key
        order = np.argsort([-d[score_key] for d in d_list], kind='mergesort')
        d_sorted = [d_list[i] for i in order]
        oks = self.full_oks(key, len(d_sorted), len(g_list))
        gt_member = member[[row_of[g['id']] for g in g_list]]
        col = {g['id']: j for j, g in enumerate(g_list)}
        carried = np.array(
            [col.get(dt_ann.get(d['id']), -1) for d in d_sorted], np.int64)
        assigned = assign_predictions(oks, gt_member.any(1), carried)
        ignored = np.array([bool(g['ignore']) for g in g_list],
                           bool).reshape(-1, 1)
        g_keep = (gt_member | ignored).T  # (S, G)
        # unassigned (-1) picks the appended all-True row
        unassigned = np.ones((1, member.shape[1]), bool)
        d_keep = np.vstack([gt_member, unassigned])[assigned].T  # (S, D)
        return d_sorted, oks, col, g_keep, d_keep

    def full_oks(self, key, num_dt: int, num_gt: int) -> np.ndarray:
        """OKS of all predictions (score order) x ground truths of one
        image; COCOeval kept only the top ``maxDets`` rows, so recompute the
        rare images with more predictions than that."""
        E = self.coco_eval
        if num_dt > E.params.maxDets[-1]:
            maxdets = E.params.maxDets
            E.params.maxDets = [*maxdets[:-1], num_dt]
            try:
                ious = E.computeOks(*key)
            finally:
                E.params.maxDets = maxdets
        else:
            ious = E.ious[key]
        return np.asarray(ious, np.float64).reshape(num_dt, num_gt)

    @staticmethod
    def restrictable(ev: dict | None, g_list: list, g_keep: np.ndarray,
                     d_keep: np.ndarray) -> np.ndarray:
        """For each split, whether COCO's greedy matching of the image
        restricted to the kept ground truths (G) and predictions (D) is the
        restriction of its full matching ``ev`` (area 'all', at most
        ``maxDets`` predictions).

        It is when, at every OKS threshold, each matched prediction is kept
        exactly when its non-crowd match is: then every kept ground truth is
        free at the same steps in both runs, and a kept prediction's best
        free match, being kept, stays its best. Crowd regions (kept in every
        split) absorb any number of predictions and never become taken.

        Args:
            ev (dict, optional): the full evaluation's ``evaluateImg`` result.
            g_list (list): the image's ground truths (COCOeval's order).
            g_keep (np.ndarray): bool, shape (S, G).
            d_keep (np.ndarray): bool, predictions in score order, (S, D).

        Returns:
            np.ndarray: bool, shape (S,).
        """
        S = len(g_keep)
        if ev is None:
            return np.zeros(S, bool)
        col = {g['id']: j for j, g in enumerate(g_list)}
        crowd = np.array([bool(g['iscrowd']) for g in g_list] + [True])
        # dt x threshold -> column of the matched ground truth; -1 (last,
        # "crowd") when unmatched
        match = np.array([col.get(i, -1) for i in ev['dtMatches'].ravel()],
                         np.int64).reshape(ev['dtMatches'].shape)
        g_ext = np.concatenate([g_keep, np.zeros((S, 1), bool)], 1)
        same = g_ext[:, match] == d_keep[:, None, :]  # (S, T, D)
        return (same | crowd[match][None]).all((1, 2))

    @staticmethod
    def restrict(ev: dict, gk: np.ndarray, d_keep: np.ndarray) -> dict:
        """``ev`` restricted to kept ground truths (``gk``, bool in the order
        of ``ev['gtIds']``) and predictions (valid where
        :meth:`restrictable`): the ``evaluateImg`` result of the filtered
        image, except that a crowd region's ``gtMatches`` may name a
        prediction of another split (``accumulate`` does not read them)."""
        out = dict(ev)
        out.update(
            dtIds=[i for i, k in zip(ev['dtIds'], d_keep) if k],
            gtIds=[i for i, k in zip(ev['gtIds'], gk) if k],
            dtMatches=ev['dtMatches'][:, d_keep],
            gtMatches=ev['gtMatches'][:, gk],
            dtScores=np.asarray(ev['dtScores'], np.float64)[d_keep],
            gtIgnore=ev['gtIgnore'][gk],
            dtIgnore=ev['dtIgnore'][:, d_keep])
        return out

    @staticmethod
    def evaluate_subset(work: COCOeval, key: tuple, g_list: list,
                        d_sorted: list, oks: np.ndarray, g_keep: np.ndarray,
                        d_keep: np.ndarray) -> dict | None:
        """COCOeval's ``evaluateImg`` (area 'all') of one image restricted
        to some ground truths and predictions, as if the files had been
        filtered: the OKS rows of the kept predictions (top ``maxDets`` in
        score order) and the kept columns."""
        d_top = d_keep[:work.params.maxDets[-1]]
        work._gts[key] = [g_list[j] for j in g_keep]
        work._dts[key] = [d_sorted[i] for i in d_keep]
        work.ious[key] = (oks[d_top][:, g_keep]
                          if len(g_keep) and len(d_top) else [])
        return work.evaluateImg(*key, work.params.areaRng[0],
                                work.params.maxDets[-1])

    def accumulate_split(self, results: dict) -> dict[str, float]:
        """COCOeval's ``accumulate`` over one split's per-image results and
        COCO's summary numbers (area 'all')."""
        E = copy.copy(self.coco_eval)
        # shallow: accumulate() only reads params; imgIds and areaRng are
        # replaced, not mutated
        p = copy.copy(self.coco_eval.params)
        p.areaRng, p.areaRngLbl = p.areaRng[:1], p.areaRngLbl[:1]
        p.imgIds = sorted({k[0] for k in results})
        E.params = p
        cat_ids = p.catIds if p.useCats else [-1]
        E.evalImgs = [results.get((img, cat)) for cat in cat_ids
                      for img in p.imgIds]
        E._paramsEval = copy.copy(p)
        with contextlib.redirect_stdout(io.StringIO()):
            E.accumulate()
        return split_summary(E)

    def first_threshold_matches(self) -> Iterator[tuple]:
        E = self.coco_eval
        area_all = tuple(E.params.areaRng[0])
        for ev in E.evalImgs:
            if ev is None or tuple(ev['aRng']) != area_all:
                continue
            for gt_id, dt_id in zip(ev['gtIds'], ev['gtMatches'][0]):
                if dt_id <= 0:
                    continue
                dt = E.cocoDt.anns[int(dt_id)]
                xy = np.reshape(dt['keypoints'], (-1, 3))[:, :2]
                yield gt_id, int(dt_id) - 1, xy
