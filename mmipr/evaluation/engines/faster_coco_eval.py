"""The faster-coco-eval engine: compiled COCOeval, all OKS in one batch, all
splits in one evaluation (``docs/metric.md``, section Efficiency).

faster-coco-eval reproduces xtcocotools' COCOeval for COCO-style keypoints
(``iou_type='keypoints'``, ``use_area=True``), with one exception this engine
removes: xtcocotools does not evaluate a prediction none of whose keypoint
scores is positive (its ``_prepare``), faster-coco-eval does; such results
are left out here before ``loadRes``. Every reach into faster-coco-eval's
internals is listed in :mod:`mmipr.evaluation.engines.private_api`.
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
from collections.abc import Iterator

import numpy as np

try:  # compiled COCOeval (evaluateImg + accumulate in C++)
    from faster_coco_eval import COCO as FasterCOCO
    from faster_coco_eval.core.faster_eval_api import COCOeval_faster
except ImportError:  # pragma: no cover - it is an install requirement
    FasterCOCO = COCOeval_faster = None

from mmipr.utils.io import atomic_output

from ..oks import pair_oks
from ..splits import assign_predictions_grouped
from .base import EvaluationEngine, empty_split_rows, silent, split_summary

AVAILABLE = COCOeval_faster is not None


def coco_results(keypoints: dict, num_keypoints: int) -> tuple[list, np.ndarray]:
    """``CocoMetric.results2json``'s entries, in memory.

    Args:
        keypoints (dict): image id -> the image's instances after NMS
            (``CocoMetric.compute_metrics``'), each with ``img_id``,
            ``category_id``, ``keypoints`` (K, 3) and ``score``.
        num_keypoints (int): K.

    Returns:
        tuple: the entries (list of dict, file order) and their keypoints
        (x, y, score), float64, shape (N, K, 3).
    """
    insts = [inst for group in keypoints.values() for inst in group]
    K3 = num_keypoints * 3
    kpts = (np.stack([np.asarray(inst['keypoints'], np.float64).reshape(K3)
                      for inst in insts]) if insts else np.zeros((0, K3)))
    results = []
    for inst, row in zip(insts, kpts.tolist()):
        # MMPose's data samples carry ids as numpy scalars or 1-element
        # arrays; COCO's index needs plain ints
        res = {'image_id': int(np.asarray(inst['img_id']).item()),
               'category_id': int(
                   np.asarray(inst['category_id']).reshape(-1)[0]),
               'keypoints': row, 'score': float(inst['score'])}
        if 'bbox' in inst:
            res['bbox'] = inst['bbox'].tolist()
        results.append(res)
    return results, kpts.reshape(len(insts), num_keypoints, 3)


def evaluated_by_coco(keypoints: np.ndarray) -> np.ndarray:
    """Which results xtcocotools' COCOeval evaluates: those with at least
    one keypoint score > 0 (its ``_prepare`` skips the others; NaN is not
    > 0).

    Args:
        keypoints (np.ndarray): COCO result keypoints (x, y, score), shape
            (N, K, 3).

    Returns:
        np.ndarray: bool, shape (N,).
    """
    return (np.asarray(keypoints)[..., 2] > 0).any(-1)


if AVAILABLE:

    class GivenOksEval(COCOeval_faster):
        """faster-coco-eval's COCOeval (C++ matching and accumulation) that
        reads the OKS of each (image, category) from ``given_oks`` instead
        of computing it with its per-image Python ``computeOks``."""

        given_oks: dict  #: (image id, category id) -> OKS rows, set by subclasses

        def computeOks(self, imgId: int, catId: int):  # noqa: N802
            return self.given_oks[imgId, catId]

    class FullEval(GivenOksEval):
        """The full evaluation. After faster-coco-eval's own ``_prepare``,
        every OKS of the evaluation comes from one :func:`pair_oks` call and
        the evaluation is kept flat (``self.flat``) for the splits."""

        def _prepare(self) -> None:
            super()._prepare()
            self.flat = FlatEvaluation(self)
            self.given_oks = self.flat.oks_blocks(self.params.maxDets[-1])

    class SplitsEval(GivenOksEval):
        """All splits in one evaluation: split s of the c-th category is
        category ``s * C + c``, so that ``accumulate`` gives each split its
        own rows, as if the files had been filtered to it.

        Fill ``gt_dataset`` and ``dt_dataset`` (``append_ref``, the
        predictions of each (image, category) in score order) and
        ``given_oks`` before ``evaluate``.

        Args:
            params: the full evaluation's params; ``catIds`` and ``imgIds``
                are replaced, the area range reduced to 'all'.
            num_categories (int): S * C.
            img_ids (list): the images of the full evaluation.
        """

        def __init__(self, params, num_categories: int,
                     img_ids: list) -> None:
            super().__init__(iouType=params.iouType, print_function=silent,
                             kpt_oks_sigmas=params.kpt_oks_sigmas)
            p = copy.copy(params)
            p.areaRng, p.areaRngLbl = p.areaRng[:1], p.areaRngLbl[:1]
            p.catIds, p.useCats = list(range(num_categories)), 1
            p.imgIds = img_ids
            self.params = p
            self.given_oks = {}

        def _prepare(self) -> None:
            self._nonempty_iou_pairs = set(self.given_oks)


class FlatEvaluation:
    """A faster-coco-eval evaluation's ground truths, predictions and OKS as
    flat arrays over its (image, category) groups.

    Attributes:
        keys (list): (image id, category id) of the n groups with a ground
            truth or a prediction, in COCOeval's image-major order.
        gts (list): ground-truth dicts, group by group (COCOeval's order).
        dts (list): prediction dicts, group by group, each group in
            COCOeval's score order (stable).
        g_group, d_group (np.ndarray): group of each, shapes (G,), (D,).
        g_start, d_start (np.ndarray): first index of each group, (n + 1,).
        g_count, d_count (np.ndarray): size of each group, (n,).
        pair_dt, pair_gt (np.ndarray): every (prediction, ground truth) of
            the same group, prediction-major, shape (P,).
        pair_group (np.ndarray): group of each pair, shape (P,).
        oks (np.ndarray): their OKS (:func:`pair_oks`), shape (P,).
    """

    def __init__(self, coco_eval) -> None:
        p = coco_eval.params
        K = len(p.kpt_oks_sigmas)
        cat_ids = p.catIds if p.useCats else [-1]
        self.keys, gts, dts, g_count, d_count = [], [], [], [], []
        for img in p.imgIds:
            for cat in cat_ids:
                g = coco_eval.gt_dataset.get(img, cat)
                d = coco_eval.dt_dataset.get(img, cat)
                if g or d:
                    self.keys.append((img, cat))
                    gts += g
                    dts += d
                    g_count.append(len(g))
                    d_count.append(len(d))
        n = len(self.keys)
        g_count, d_count = np.array(g_count, int), np.array(d_count, int)
        self.g_start = np.r_[0, np.cumsum(g_count)]
        self.d_start = np.r_[0, np.cumsum(d_count)]
        self.g_group = np.repeat(np.arange(n), g_count)
        self.d_group = np.repeat(np.arange(n), d_count)
        # COCOeval's order: by descending score within each group, stable
        scores = np.array([d['score'] for d in dts], np.float64)
        order = np.lexsort((-scores, self.d_group))
        self.gts, self.dts = gts, [dts[i] for i in order]

        pair_count = g_count * d_count
        self.pair_group = np.repeat(np.arange(n), pair_count)
        offset = np.arange(pair_count.sum()) - np.repeat(
            np.cumsum(pair_count) - pair_count, pair_count)
        per_row = g_count[self.pair_group]
        self.pair_dt = self.d_start[self.pair_group] + offset // np.maximum(
            per_row, 1)
        self.pair_gt = self.g_start[self.pair_group] + offset % np.maximum(
            per_row, 1)
        self.g_count, self.d_count = g_count, d_count

        gt_kpts = np.array([g.get('keypoints') or [0.0] * (3 * K)
                            for g in gts], np.float64).reshape(-1, K, 3)
        gt_boxes = np.array([g['bbox'] for g in gts],
                            np.float64).reshape(-1, 4)
        gt_areas = np.array([g['area'] for g in gts], np.float64)
        dt_kpts = np.array([d['keypoints'] for d in self.dts],
                           np.float64).reshape(-1, K, 3)
        self.oks = pair_oks(dt_kpts[self.pair_dt, :, :2],
                            gt_kpts[self.pair_gt], gt_boxes[self.pair_gt],
                            gt_areas[self.pair_gt], p.kpt_oks_sigmas)

    def oks_blocks(self, maxdet: int) -> dict:
        """(image id, category id) -> OKS of its top ``maxdet`` predictions x
        ground truths (COCOeval's ``ious``), for the groups with both.

        Args:
            maxdet (int): COCOeval's ``maxDets[-1]``.

        Returns:
            dict: key -> nested list, shape (min(D, maxdet), G).
        """
        blocks = row_blocks(self.oks, self.d_count, self.g_count)
        return {self.keys[i]: rows[:maxdet] for i, rows in blocks}


def row_blocks(values: np.ndarray, rows: np.ndarray,
               cols: np.ndarray) -> list:
    """Cut consecutive row-major blocks out of ``values`` as nested lists
    (faster-coco-eval converts lists fastest).

    Args:
        values (np.ndarray): the blocks' values, one after the other,
            shape (sum(rows * cols),).
        rows, cols (np.ndarray): shape of each block, shape (n,).

    Returns:
        list: (block index, rows x cols nested list) of the non-empty
        blocks.
    """
    flat = values.tolist()
    out, pos = [], 0
    for i, (r, c) in enumerate(zip(rows.tolist(), cols.tolist())):
        if r and c:
            out.append((i, [flat[j:j + c] for j in range(pos, pos + r * c, c)]))
        pos += r * c
    return out


class FasterCocoEvalEngine(EvaluationEngine):
    """faster-coco-eval's compiled COCOeval; ``iou_type='keypoints'`` with
    ``use_area=True`` only (where it gives xtcocotools' results)."""

    name = 'faster-coco-eval'
    in_memory = True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.results: list = []
        #: result index of each evaluated prediction (dt id - 1 -> index)
        self.kept = np.zeros(0, np.int64)

    def keep_results(self, keypoints: dict, res_file: str,
                     write: bool) -> None:
        """Keep ``CocoMetric``'s result entries in memory and, with
        ``write``, dump them to ``res_file`` by json's C encoder (no
        indentation: the indented dump costs more than the evaluation)."""
        self.results, kpts = coco_results(keypoints, len(self.sigmas))
        self.kept = np.flatnonzero(evaluated_by_coco(kpts))
        if write:
            with atomic_output(res_file) as tmp, open(tmp, 'w') as f:
                f.write(json.dumps(self.results, sort_keys=True))

    @staticmethod
    def supports(iou_type: str, use_area: bool) -> bool:
        """Whether it gives xtcocotools' results for these settings:
        CrowdPose's ``'keypoints_crowd'`` summary needs the annotation
        file's crowdIndex, and ``use_area=False``'s area ranges read a key
        such files lack."""
        return iou_type == 'keypoints' and bool(use_area)

    def ground_truth(self):
        """faster-coco-eval's COCO over the ground truth's images, categories
        and (shallow copies of) annotations, so that its bookkeeping keys
        never reach ``self.coco``."""
        gt = FasterCOCO()
        gt.print_function = silent
        gt.dataset = {'images': list(self.coco.imgs.values()),
                      'annotations': [dict(a) for a in self.coco.anns.values()],
                      'categories': list(self.coco.cats.values())}
        with contextlib.redirect_stdout(io.StringIO()):
            gt.createIndex()
        return gt

    def evaluate(self, res_file: str) -> list:
        coco_gt = self.ground_truth()
        results, self.results = self.results, []
        with contextlib.redirect_stdout(io.StringIO()):
            coco_det = coco_gt.loadRes([results[i] for i in self.kept])
        coco_eval = FullEval(coco_gt, coco_det, self.iou_type,
                             kpt_oks_sigmas=self.sigmas,
                             use_area=self.use_area, print_function=silent)
        coco_eval.evaluate()
        coco_eval.accumulate()
        with contextlib.redirect_stdout(io.StringIO()):
            coco_eval.summarize()
        return self.finish(coco_eval)

    def split_rows(self, member: np.ndarray, row_of: dict,
                   result_ann: list) -> list[dict]:
        """Per image, each split keeps a subset of the ground truths (its own
        and COCO's ignored ones) and of the predictions (those assigned to
        its ground truths, and the unassigned). One :class:`SplitsEval` runs
        faster-coco-eval's ``evaluate`` on all splits' subsets at once (a
        category per split), with the OKS of the full evaluation (sliced,
        never recomputed). Everything but that evaluation is done on the
        flat arrays of the whole evaluation, never image by image.
        """
        E = self.coco_eval
        flat = E.flat
        p = E.params
        S = member.shape[1]
        maxdet = p.maxDets[-1]
        dt_ann = {j + 1: result_ann[i] for j, i in enumerate(self.kept.tolist())}
        gt_member = member[[row_of[g['id']] for g in flat.gts]].reshape(-1, S)
        index_of = {g['id']: i for i, g in enumerate(flat.gts)}
        carried = np.array([index_of.get(dt_ann.get(d['id']), -1)
                            for d in flat.dts], np.int64)
        # a carried ground truth of another image is not known there
        same = carried >= 0
        same[same] = flat.g_group[carried[same]] == flat.d_group[same]
        carried = np.where(same, carried, -1)
        assigned = assign_predictions_grouped(
            flat.oks, flat.pair_dt, flat.pair_gt, len(flat.dts),
            gt_member.any(1), carried)
        ignored = np.array([bool(g['ignore']) for g in flat.gts], bool)
        g_keep = gt_member | ignored[:, None]  # (G, S)
        # unassigned (-1) picks the appended all-True row
        d_keep = np.vstack([gt_member, np.ones((1, S), bool)])[assigned]
        # rank of each kept prediction among its group's kept ones: COCOeval
        # keeps the top maxDets rows of the OKS
        kept_before = np.cumsum(d_keep, 0) - d_keep
        rank = kept_before - kept_before[flat.d_start[flat.d_group]]
        d_top = d_keep & (rank < maxdet)
        pair_keep = d_top[flat.pair_dt] & g_keep[flat.pair_gt]  # (P, S)

        cat_ids = p.catIds if p.useCats else [-1]
        C = len(cat_ids)
        group_img = [int(img) for img, _ in flat.keys]
        group_cat = np.array([cat_ids.index(cat) for _, cat in flat.keys],
                             np.int64)
        n = len(flat.keys)
        if not n:
            return empty_split_rows(S)
        E_splits = SplitsEval(p, S * C, sorted(set(group_img)))
        for s in range(S):
            code = (group_cat + s * C).tolist()  # the split's category
            for items, keep, group, dataset in (
                    (flat.gts, g_keep[:, s], flat.g_group, E_splits.gt_dataset),
                    (flat.dts, d_keep[:, s], flat.d_group, E_splits.dt_dataset)):
                for i, g in zip(np.flatnonzero(keep).tolist(),
                                group[keep].tolist()):
                    dataset.append_ref(group_img[g], code[g], items[i])
            rows = np.bincount(flat.d_group[d_top[:, s]], minlength=n)
            cols = np.bincount(flat.g_group[g_keep[:, s]], minlength=n)
            for i, block in row_blocks(flat.oks[pair_keep[:, s]], rows, cols):
                E_splits.given_oks[group_img[i], code[i]] = block
        E_splits.evaluate()
        E_splits.accumulate()
        return [split_summary(E_splits, slice(s * C, (s + 1) * C))
                for s in range(S)]

    def first_threshold_matches(self) -> Iterator[tuple]:
        E = self.coco_eval
        for key in E.eval['matched']:
            dt_id, gt_id = (int(v) for v in key.split('_', 1))
            if dt_id <= 0:
                continue
            xy = np.reshape(E.cocoDt.anns[dt_id]['keypoints'], (-1, 3))[:, :2]
            yield gt_id, int(self.kept[dt_id - 1]), xy
