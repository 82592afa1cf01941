"""COCO keypoint evaluation per difficulty split (the paper's Sec. 3.3)."""
from __future__ import annotations

import contextlib
import copy
import csv
import gc
import io
import json
import logging
import os.path as osp
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import torch
from mmengine.logging import print_log
from mmpose.evaluation import CocoMetric
from mmpose.registry import METRICS
from mmpose.structures.bbox import get_warp_matrix
from terminaltables import AsciiTable
from xtcocotools.cocoeval import COCOeval

try:  # compiled COCOeval (evaluateImg + accumulate in C++)
    from faster_coco_eval import COCO as FasterCOCO
    from faster_coco_eval.core.faster_eval_api import COCOeval_faster
except ImportError:  # pragma: no cover - it is an install requirement
    FasterCOCO = COCOeval_faster = None

from mmipr.heatmap.stats import activation_sum
from mmipr.heatmap.stats import normalize_heatmaps as normalize_with

from ..oks import pair_oks
from ..splits import (
    SPLIT_NAMES,
    annotation_levels,
    assign_predictions,
    assign_predictions_grouped,
    split_masks,
)

_NORMALIZATIONS = ('auto', 'softmax', 'sum', 'none')
_PAIRINGS = ('auto', 'ann_id', 'oks')
_ENGINES = ('auto', 'faster-coco-eval', 'xtcocotools')
#: where non-finite predicted keypoints are moved: OKS 0 to every ground
#: truth (``exp(-d^2 / ...)`` underflows to 0), so COCOeval counts the
#: prediction as a false positive and its ground truth as missed
_FAR = -1e7


@contextlib.contextmanager
def paused_gc():
    """Pause CPython's cyclic garbage collector, then restore its state.

    COCO evaluation allocates millions of small, acyclic containers
    (annotation dicts, keypoint lists); each allocation burst triggers a
    collection that traverses every live object of the process (the
    dataset's annotations and samples). Reference counting still frees all
    of them; only cycles wait for the next collection. Measured in
    ``tools/benchmark/bench_metric.py``.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _silent(*args, **kwargs) -> None:
    """A ``print_function`` that prints nothing."""


if COCOeval_faster is not None:

    class _GivenOksEval(COCOeval_faster):
        """faster-coco-eval's COCOeval (C++ matching and accumulation) that
        reads the OKS of each (image, category) from ``given_oks`` instead
        of computing it with its per-image Python ``computeOks``."""

        given_oks: dict  #: (image id, category id) -> OKS rows, set by subclasses

        def computeOks(self, imgId: int, catId: int):  # noqa: N802
            return self.given_oks[imgId, catId]

    class _FullEval(_GivenOksEval):
        """The full evaluation. After faster-coco-eval's own ``_prepare``,
        every OKS of the evaluation comes from one :func:`pair_oks` call and
        the evaluation is kept flat (``self.flat``) for the splits."""

        def _prepare(self) -> None:
            super()._prepare()
            self.flat = _FlatEvaluation(self)
            self.given_oks = self.flat.oks_blocks(self.params.maxDets[-1])

    class _SplitsEval(_GivenOksEval):
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
            super().__init__(iouType=params.iouType, print_function=_silent,
                             kpt_oks_sigmas=params.kpt_oks_sigmas)
            p = copy.copy(params)
            p.areaRng, p.areaRngLbl = p.areaRng[:1], p.areaRngLbl[:1]
            p.catIds, p.useCats = list(range(num_categories)), 1
            p.imgIds = img_ids
            self.params = p
            self.given_oks = {}

        def _prepare(self) -> None:
            self._nonempty_iou_pairs = set(self.given_oks)


class _FlatEvaluation:
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
        self._g_count, self._d_count = g_count, d_count

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
        blocks = _row_blocks(self.oks, self._d_count, self._g_count)
        return {self.keys[i]: rows[:maxdet] for i, rows in blocks}


def _row_blocks(values: np.ndarray, rows: np.ndarray,
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


def normalize_heatmaps(heatmaps: torch.Tensor, mode: str = 'auto',
                       beta: float = 1.0) -> tuple:
    """Normalise heatmaps so that each (H, W) map sums to 1.

    - ``'softmax'``: ``softmax(beta * h)`` over the H*W pixels (the paper's
      Eq. 2, as its footnote 2 prescribes for detection heatmaps);
    - ``'sum'``: ``max(h, 0) / sum(max(h, 0))``;
    - ``'none'``: used as given;
    - ``'auto'``: per instance, ``'none'`` if all its K maps are
      non-negative and sum to 1 (within 1e-3), else ``'softmax'``.

    Args:
        heatmaps (Tensor): shape (B, K, H, W).
        mode (str): one of ``'auto'``, ``'softmax'``, ``'sum'``, ``'none'``.
        beta (float): softmax scale. Default: 1.0.

    Returns:
        tuple: the normalised heatmaps, shape (B, K, H, W), and the mode used
        for each instance (list of B str).
    """
    heatmaps = heatmaps.float()
    B = heatmaps.shape[0]
    if mode == 'none':
        return heatmaps, [mode] * B
    if mode in ('softmax', 'sum'):
        return normalize_with(heatmaps, mode, beta), [mode] * B
    soft = normalize_with(heatmaps, 'softmax', beta)
    normalised = ((heatmaps >= 0).flatten(1).all(1)
                  & ((heatmaps.sum((-2, -1)) - 1).abs() < 1e-3).all(1))
    out = torch.where(normalised[:, None, None, None], heatmaps, soft)
    return out, ['none' if n else 'softmax' for n in normalised.tolist()]


def image_to_heatmap(keypoints: np.ndarray, input_center: np.ndarray,
                     input_scale: np.ndarray, heatmap_size: tuple
                     ) -> np.ndarray:
    """Map image-space points into the heatmap frame of a top-down crop.

    MMPose's top-down warp (``get_warp_matrix`` without rotation) with the
    heatmap size as output size, i.e. exactly the inverse of the
    decode's mapping ``x_img = x_hm / heatmap_size * input_scale +
    input_center - input_scale / 2`` (non-UDP codecs).

    Args:
        keypoints (np.ndarray): (x, y) in image pixels, shape (..., 2).
        input_center (np.ndarray): crop centre, shape (2,).
        input_scale (np.ndarray): crop size (w, h), shape (2,).
        heatmap_size (tuple): (W, H).

    Returns:
        np.ndarray: (x, y) in heatmap pixels, shape (..., 2).
    """
    warp = get_warp_matrix(
        np.asarray(input_center, np.float32),
        np.asarray(input_scale, np.float32), 0.,
        output_size=tuple(int(v) for v in heatmap_size),
        fix_aspect_ratio=False)
    return keypoints @ warp[:, :2].T + warp[:, 2]


def _summary(coco_eval: COCOeval, ap: bool, iou_thr: float | None = None,
             area: int = 0, cats: slice = slice(None)) -> float:
    """COCO's summary number (``COCOeval.summarize`` semantics) of one area
    range index at the largest maxDets over some categories; -1 when
    undefined."""
    p = coco_eval.params
    s = coco_eval.eval['precision' if ap else 'recall']
    if iou_thr is not None:
        s = s[np.where(np.isclose(p.iouThrs, iou_thr))[0]]
    s = s[..., cats, area, -1]
    s = s[s > -1]
    return float(s.mean()) if s.size else -1.0


def _split_summary(coco_eval: COCOeval,
                   cats: slice = slice(None)) -> dict[str, float]:
    """A split's AP, AP .5, AP .75 and AR (area 'all', index 0)."""
    return {'AP': _summary(coco_eval, True, cats=cats),
            'AP .5': _summary(coco_eval, True, .5, cats=cats),
            'AP .75': _summary(coco_eval, True, .75, cats=cats),
            'AR': _summary(coco_eval, False, cats=cats)}


@METRICS.register_module()
class DifficultySplitCocoMetric(CocoMetric):
    """:class:`mmpose.evaluation.CocoMetric` plus results per difficulty split.

    A drop-in for ``CocoMetric`` (all its arguments, every key it reports,
    identical values) that also reports, for each split of
    :data:`mmipr.evaluation.splits.SPLIT_NAMES`:

    - ``{split}/count``: ground-truth instances in the split;
    - ``{split}/AP``, ``{split}/AP .5``, ``{split}/AP .75``, ``{split}/AR``:
      COCO's OKS AP/AR over the split's ground truths and the predictions
      assigned to it (:func:`mmipr.evaluation.splits.assign_predictions`),
      equal to COCOeval on both files filtered; -1 for an empty split;
    - ``{split}/paired``: ground truths paired with one prediction;
    - ``{split}/EPE``: mean end-point error (original image pixels) over the
      labelled keypoints of the paired ground truths; -1 if none;
    - ``{split}/A(s)``: mean activation sum (paper's Eq. 6) over the same
      keypoints, when the model outputs heatmaps; -1 if none.

    ``all/count``, ``all/paired``, ``all/EPE``, ``all/A(s)`` cover every
    instance that belongs to a split. Pairing for EPE and A(s): with
    ground-truth boxes (the data sample carries ``raw_ann_info``), by
    annotation id; with detected boxes, COCO's own OKS matching at OKS 0.5
    (area range 'all'). A table of every number is logged.

    Evaluation engine: faster-coco-eval's compiled COCOeval wherever it gives
    xtcocotools' results (``iou_type='keypoints'`` with ``use_area=True``,
    any per-keypoint sigmas), else xtcocotools' COCOeval as ``CocoMetric``
    runs it (e.g. CrowdPose's ``'keypoints_crowd'``). The log line names the
    engine. With faster-coco-eval the results file is written without
    indentation (the same JSON values) and read back from memory.

    Predicted instances with a non-finite keypoint coordinate (NaN, inf)
    are moved far outside the image before NMS and evaluation: their OKS is
    0 to every ground truth, so COCOeval counts them as false positives and
    their ground truths as missed (xtcocotools would count a NaN OKS as a
    match at every threshold). They pair with no ground truth for EPE and
    A(s). A warning gives their number.

    Args:
        *args: positional arguments of ``CocoMetric``.
        activation_s (int): half window ``s`` of A(s). Default: 2.
        heatmap_normalization (str): ``'auto'``, ``'softmax'``, ``'sum'`` or
            ``'none'`` (see :func:`normalize_heatmaps`). Default: ``'auto'``.
        softmax_beta (float): beta of the softmax normalisation.
            Default: 1.0.
        pairing (str): ``'auto'`` (by annotation id when every prediction
            carries one, else OKS), ``'ann_id'`` or ``'oks'``. Default:
            ``'auto'``.
        split_results_file (str, optional): write the per-split table there,
            as CSV if it ends in ``.csv``, else JSON. Default: None.
        eval_engine (str): ``'auto'`` (faster-coco-eval where it gives
            xtcocotools' results, else xtcocotools), ``'faster-coco-eval'``
            or ``'xtcocotools'``. Default: ``'auto'``.
        **kwargs: keyword arguments of ``CocoMetric``.
    """

    def __init__(self,
                 *args,
                 activation_s: int = 2,
                 heatmap_normalization: str = 'auto',
                 softmax_beta: float = 1.0,
                 pairing: str = 'auto',
                 split_results_file: str | None = None,
                 eval_engine: str = 'auto',
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.engine = self._resolve_engine(eval_engine)
        if heatmap_normalization not in _NORMALIZATIONS:
            raise ValueError(f'heatmap_normalization must be one of '
                             f'{_NORMALIZATIONS}, got {heatmap_normalization}')
        if pairing not in _PAIRINGS:
            raise ValueError(
                f'pairing must be one of {_PAIRINGS}, got {pairing}')
        self.activation_s = int(activation_s)
        self.heatmap_normalization = heatmap_normalization
        self.softmax_beta = softmax_beta
        self.pairing = pairing
        self.split_results_file = split_results_file
        self._coco_eval: COCOeval | None = None
        self._dt_sample_ids: list = []
        self._dt_results: list | None = None
        self._warned_heatmaps = False

    def _resolve_engine(self, eval_engine: str) -> str:
        """The COCOeval implementation to run.

        Args:
            eval_engine (str): one of ``'auto'``, ``'faster-coco-eval'``,
                ``'xtcocotools'``.

        Returns:
            str: ``'faster-coco-eval'`` or ``'xtcocotools'``.
        """
        if eval_engine not in _ENGINES:
            raise ValueError(
                f'eval_engine must be one of {_ENGINES}, got {eval_engine}')
        # faster-coco-eval reproduces xtcocotools' COCOeval for COCO-style
        # keypoints; CrowdPose's 'keypoints_crowd' summary needs the
        # annotation file's crowdIndex, and use_area=False's area ranges
        # read a key such files lack: those stay on xtcocotools
        supported = self.iou_type == 'keypoints' and bool(self.use_area)
        if eval_engine == 'xtcocotools' or (eval_engine == 'auto' and (
                not supported or COCOeval_faster is None)):
            return 'xtcocotools'
        if COCOeval_faster is None:
            raise ImportError("eval_engine='faster-coco-eval' needs the "
                              'faster-coco-eval package (pip install '
                              'faster-coco-eval==1.8.0)')
        if not supported:
            raise ValueError(
                "eval_engine='faster-coco-eval' gives xtcocotools' results "
                "only for iou_type='keypoints' with use_area=True, got "
                f'iou_type={self.iou_type!r}, use_area={self.use_area}; '
                "use eval_engine='auto' or 'xtcocotools'")
        return 'faster-coco-eval'

    # ------------------------------------------------------------ process
    def process(self, data_batch: Sequence[dict],
                data_samples: Sequence[dict]) -> None:
        """CocoMetric's ``process`` plus, per data sample, the annotation id
        it was made for and, with heatmaps, its per-joint A(s).

        Only per-instance numbers are kept (``pred['ann_id']``,
        ``pred['activation_sums']``: ann id -> (K,) A(s) for each ground
        truth the prediction may be paired with, ``pred['heatmap_
        normalization']``), never the heatmaps.
        """
        start = len(self.results)
        super().process(data_batch, data_samples)
        with_heatmaps = []
        for (pred, _), sample in zip(self.results[start:], data_samples):
            raw = sample.get('raw_ann_info')
            pred['ann_id'] = (raw['id'] if isinstance(raw, dict)
                              and 'id' in raw else None)
            heatmaps = (sample.get('pred_fields') or {}).get('heatmaps')
            if heatmaps is None:
                continue
            if (heatmaps.ndim != 3 or len(pred['keypoints']) != 1
                    or 'input_center' not in sample):
                if not self._warned_heatmaps:
                    print_log('DifficultySplitCocoMetric: A(s) needs '
                              'top-down heatmaps (K, H, W) of one instance '
                              'with input_center/input_scale; skipping A(s).',
                              'current')
                    self._warned_heatmaps = True
                continue
            with_heatmaps.append((pred, sample, torch.as_tensor(heatmaps)))
        shapes = {hm.shape for _, _, hm in with_heatmaps}
        for shape in shapes:  # one batched computation per heatmap shape
            self._add_activation_sums(
                [e for e in with_heatmaps if e[2].shape == shape])

    def _candidate_anns(self, pred: dict, sample: dict) -> list:
        """Ground truths a top-down prediction may be paired with."""
        if pred['ann_id'] is not None:
            anns = [sample['raw_ann_info']]
        elif self.coco is not None:
            anns = self.coco.imgToAnns.get(sample['img_id'], [])
        else:
            anns = [a for a in (sample.get('raw_ann_info') or [])
                    if a is not None]
        return [a for a in anns
                if a.get('keypoints') and not a.get('iscrowd', 0)]

    def _add_activation_sums(self, entries: list) -> None:
        """A(s) of B same-shape heatmaps at each candidate ground truth."""
        hms, used = normalize_heatmaps(
            torch.stack([hm for _, _, hm in entries]),
            self.heatmap_normalization, self.softmax_beta)
        H, W = hms.shape[-2:]
        index, centers, owners = [], [], []
        for b, (pred, sample, _) in enumerate(entries):
            pred['activation_sums'] = {}
            pred['heatmap_normalization'] = used[b]
            for ann in self._candidate_anns(pred, sample):
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
            self.activation_s).cpu().numpy()
        for (pred, ann_id), row in zip(owners, sums):
            pred['activation_sums'][ann_id] = row

    # ------------------------------------------------------- evaluation
    def results2json(self, keypoints: dict[int, list],
                     outfile_prefix: str) -> str:
        """CocoMetric's ``results2json``, remembering which data sample each
        written prediction came from (COCO's ``loadRes`` numbers them 1..N in
        file order)."""
        # bottom-up samples carry a list of ids: no per-instance sample
        self._dt_sample_ids = [
            None if isinstance(inst['id'], (list, tuple)) else inst['id']
            for insts in keypoints.values() for inst in insts]
        if self.engine == 'xtcocotools':
            return super().results2json(keypoints, outfile_prefix)
        # CocoMetric's entries, dumped by json's C encoder (no indentation:
        # the indented dump costs more than faster-coco-eval's evaluation)
        K = self.dataset_meta['num_keypoints']
        results = []
        for insts in keypoints.values():
            for inst in insts:
                # MMPose's data samples carry ids as numpy scalars or
                # 1-element arrays; COCO's index needs plain ints
                res = {'image_id': int(np.asarray(inst['img_id']).item()),
                       'category_id': int(
                           np.asarray(inst['category_id']).reshape(-1)[0]),
                       'keypoints': np.asarray(inst['keypoints']).reshape(
                           K * 3).tolist(),
                       'score': float(inst['score'])}
                if 'bbox' in inst:
                    res['bbox'] = inst['bbox'].tolist()
                results.append(res)
        res_file = f'{outfile_prefix}.keypoints.json'
        if self.outfile_prefix is not None:  # else a temporary file
            with open(res_file, 'w') as f:
                f.write(json.dumps(results, sort_keys=True))  # one-shot: C
        self._dt_results = results
        return res_file

    def _faster_gt(self):
        """faster-coco-eval's COCO over ``self.coco``'s images, categories and
        (shallow copies of) annotations, so that its bookkeeping keys never
        reach ``self.coco``."""
        gt = FasterCOCO()
        gt.print_function = _silent
        gt.dataset = {'images': list(self.coco.imgs.values()),
                      'annotations': [dict(a) for a in self.coco.anns.values()],
                      'categories': list(self.coco.cats.values())}
        with contextlib.redirect_stdout(io.StringIO()):
            gt.createIndex()
        return gt

    def _do_python_keypoint_eval(self, outfile_prefix: str) -> list:
        """COCOeval as CocoMetric runs it (with faster-coco-eval: its compiled
        equivalent), kept for the split evaluation."""
        print_log(f'{type(self).__name__}: evaluating with {self.engine}',
                  'current')
        if self.engine == 'faster-coco-eval':
            coco_gt = self._faster_gt()
            results, self._dt_results = self._dt_results, None
            with contextlib.redirect_stdout(io.StringIO()):
                coco_det = coco_gt.loadRes(results)
            coco_eval = _FullEval(
                coco_gt, coco_det, self.iou_type,
                kpt_oks_sigmas=self.dataset_meta['sigmas'],
                use_area=self.use_area, print_function=_silent)
            coco_eval.evaluate()
            coco_eval.accumulate()
            with contextlib.redirect_stdout(io.StringIO()):
                coco_eval.summarize()
        else:
            res_file = f'{outfile_prefix}.keypoints.json'
            coco_det = self.coco.loadRes(res_file)
            coco_eval = COCOeval(self.coco, coco_det, self.iou_type,
                                 self.dataset_meta['sigmas'], self.use_area)
            coco_eval.params.useSegm = None
            coco_eval.evaluate()
            coco_eval.accumulate()
            # 'keypoints_crowd' summarize() re-evaluates on each crowdIndex
            # group of images, leaving the last group's state: keep the full
            # evaluation's for the splits
            state = {k: getattr(coco_eval, k) for k in (
                'evalImgs', 'ious', '_gts', '_dts', 'eval', '_paramsEval')}
            img_ids = list(coco_eval.params.imgIds)
            coco_eval.summarize()
            for k, v in state.items():
                setattr(coco_eval, k, v)
            coco_eval.params.imgIds = img_ids
        self._coco_eval = coco_eval
        if self.iou_type == 'keypoints_crowd':
            names = ['AP', 'AP .5', 'AP .75', 'AR', 'AR .5', 'AR .75',
                     'AP(E)', 'AP(M)', 'AP(H)']
        else:
            names = ['AP', 'AP .5', 'AP .75', 'AP (M)', 'AP (L)', 'AR',
                     'AR .5', 'AR .75', 'AR (M)', 'AR (L)']
        return list(zip(names, (float(v) for v in coco_eval.stats)))

    def compute_metrics(self, results: list) -> dict[str, float]:
        """CocoMetric's metrics plus the per-split ones (see the class doc).

        Args:
            results (list): the processed results of all samples.

        Returns:
            Dict[str, float]: metric name -> value.
        """
        if not results:
            raise ValueError('DifficultySplitCocoMetric got no processed '
                             'data samples: check the dataloader/dataset.')
        if self.coco is not None:
            known = set(self.coco.getImgIds())
            unknown = sorted({p['img_id'] for p, _ in results} - known)
            if unknown:
                raise ValueError(
                    f'{len(unknown)} predicted image ids are not in the '
                    f'annotation file (e.g. {unknown[:5]}): ann_file must be '
                    'the annotation file of the evaluated dataset.')
        with paused_gc():
            self._mark_nonfinite([p for p, _ in results])
            self._coco_eval = None
            metrics = super().compute_metrics(results)
            if self._coco_eval is not None:  # else format_only
                metrics.update(self._split_metrics([p for p, _ in results]))
            self._coco_eval = None
        return metrics

    @staticmethod
    def _mark_nonfinite(preds: list[dict]) -> int:
        """Move predicted instances with a non-finite coordinate far away
        (OKS 0: a false positive, its ground truth missed) and flag them
        (``pred['nonfinite']``, bool per instance); warn with their number.

        Args:
            preds (list[dict]): the processed predictions (changed in place).

        Returns:
            int: the number of such instances.
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
                    k[bad] = _FAR
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

    def _resolve_pairing(self, preds: list[dict]) -> str:
        carried = [p.get('ann_id') is not None for p in preds]
        if self.pairing == 'ann_id' and not all(carried):
            raise ValueError(
                "pairing='ann_id' needs every data sample to carry "
                "'raw_ann_info' (top-down with ground-truth boxes); use "
                "pairing='oks' or 'auto' with detected boxes.")
        if self.pairing == 'auto':
            return 'ann_id' if carried and all(carried) else 'oks'
        return self.pairing

    def _split_metrics(self, preds: list[dict]) -> dict[str, float]:
        """Per-split AP/AR (reusing the OKS of the one COCOeval run), EPE
        and A(s)."""
        E = self._coco_eval
        p = E.params
        pairing = self._resolve_pairing(preds)
        dt_ann = {}
        if pairing == 'ann_id':
            sample_ann = {pred['id']: pred['ann_id'] for pred in preds}
            dt_ann = {i + 1: sample_ann[s]
                      for i, s in enumerate(self._dt_sample_ids)}

        gts = self.coco.loadAnns(self.coco.getAnnIds(
            imgIds=p.imgIds, catIds=p.catIds if p.useCats else []))
        levels = annotation_levels(gts, self.dataset_meta['num_keypoints'])
        masks = split_masks(levels)
        ann_ids = levels['ids']
        member = np.stack([masks[s] for s in SPLIT_NAMES], 1)  # (N, S)
        row_of = {int(a): i for i, a in enumerate(ann_ids)}

        split_rows = (self._faster_split_rows if self.engine ==
                      'faster-coco-eval' else self._xtcocotools_split_rows)(
                          member, row_of, dt_ann)
        rows = {}
        for s, name in enumerate(SPLIT_NAMES):
            rows[name] = split_rows[s]
            rows[name]['count'] = int(masks[name].sum())
        rows['all'] = {'count': int((levels['combined'] >= 0).sum())}

        pairs = self._pairs(pairing, preds)
        self._add_pair_stats(rows, pairs, masks, ann_ids)
        used = sorted({pr['heatmap_normalization'] for pr in preds
                       if 'heatmap_normalization' in pr})
        self._report(rows, pairing, used)
        metrics = {}
        for name, row in rows.items():
            for k, v in row.items():
                metrics[f'{name}/{k}'] = v
        return metrics

    def _xtcocotools_split_rows(self, member: np.ndarray, row_of: dict,
                                dt_ann: dict) -> list[dict]:
        """AP/AR of every split with xtcocotools' COCOeval.

        Args:
            member (np.ndarray): bool, ground truth x split, shape (N, S).
            row_of (dict): annotation id -> row of ``member``.
            dt_ann (dict): prediction id -> annotation id it was made for
                (empty unless pairing by annotation id).

        Returns:
            list[dict]: per split (:data:`SPLIT_NAMES` order), AP, AP .5,
            AP .75 and AR.
        """
        E = self._coco_eval
        p = E.params
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
        per_split = [{} for _ in SPLIT_NAMES]  # (img, cat) -> result
        cat_ids = p.catIds if p.useCats else [-1]
        for img in p.imgIds:
            for cat in cat_ids:
                key = (img, cat)
                g_list, d_list = E._gts[key], E._dts[key]
                if not g_list and not d_list:
                    continue
                d_sorted, oks, col, g_keep, d_keep = self._image_split_masks(
                    key, g_list, d_list, E.score_key, member, row_of, dt_ann)
                ev = full.get(key) if len(d_sorted) <= maxdet else None
                restrictable = self._restrictable(ev, g_list, g_keep,
                                                  d_keep)
                if ev is not None:  # ev orders ground truths ignored-last
                    ev_cols = [col[i] for i in ev['gtIds']]
                memo = {}
                for s in np.flatnonzero(g_keep.any(1) | d_keep.any(1)):
                    sig = g_keep[s].tobytes() + d_keep[s].tobytes()
                    if sig in memo:
                        pass
                    elif restrictable[s]:
                        memo[sig] = self._restrict(ev, g_keep[s, ev_cols],
                                                   d_keep[s])
                    else:
                        memo[sig] = self._evaluate_subset(
                            work, key, g_list, d_sorted, oks,
                            np.flatnonzero(g_keep[s]),
                            np.flatnonzero(d_keep[s]))
                        if memo[sig] is not None:
                            # accumulate() concatenates them: arrays are
                            # much faster to concatenate than lists
                            memo[sig]['dtScores'] = np.asarray(
                                memo[sig]['dtScores'], np.float64)
                    per_split[s][key] = memo[sig]
        return [self._accumulate_split(r) for r in per_split]

    def _image_split_masks(self, key: tuple, g_list: list, d_list: list,
                           score_key: str, member: np.ndarray, row_of: dict,
                           dt_ann: dict) -> tuple:
        """One image's predictions in COCOeval's order and, per split, which
        ground truths and predictions it keeps (either engine).

        Args:
            key (tuple): (image id, category id).
            g_list (list): the image's ground truths, G of them.
            d_list (list): its predictions, D of them.
            score_key (str): the prediction's score field.
            member (np.ndarray): bool, ground truth x split, shape (N, S).
            row_of (dict): annotation id -> row of ``member``.
            dt_ann (dict): prediction id -> annotation id it was made for.

        Returns:
            tuple: the predictions sorted by score, their OKS (D, G), ground
            truth id -> column, and the keep masks (S, G) and (S, D):
            ground truths of the split and COCO's ignored ones; predictions
            assigned to the split's ground truths, and the unassigned.
        """
        order = np.argsort([-d[score_key] for d in d_list], kind='mergesort')
        d_sorted = [d_list[i] for i in order]
        oks = self._full_oks(key, len(d_sorted), len(g_list))
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

    def _faster_split_rows(self, member: np.ndarray, row_of: dict,
                           dt_ann: dict) -> list[dict]:
        """AP/AR of every split with faster-coco-eval's compiled COCOeval.

        Per image, each split keeps a subset of the ground truths (its own
        and COCO's ignored ones) and of the predictions (those assigned to
        its ground truths, and the unassigned). One ``_SplitsEval`` runs
        faster-coco-eval's ``evaluate`` on all splits' subsets at once (a
        category per split), with the OKS of the full evaluation (sliced,
        never recomputed). Everything but that evaluation is done on the
        flat arrays of the whole evaluation, never image by image.

        Args:
            member (np.ndarray): bool, ground truth x split, shape (N, S).
            row_of (dict): annotation id -> row of ``member``.
            dt_ann (dict): prediction id -> annotation id it was made for
                (empty unless pairing by annotation id).

        Returns:
            list[dict]: per split (:data:`SPLIT_NAMES` order), AP, AP .5,
            AP .75 and AR.
        """
        E = self._coco_eval
        flat = E.flat
        p = E.params
        S = len(SPLIT_NAMES)
        maxdet = p.maxDets[-1]
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
            return [dict.fromkeys(('AP', 'AP .5', 'AP .75', 'AR'), -1.0)
                    for _ in range(S)]
        E_splits = _SplitsEval(p, S * C, sorted(set(group_img)))
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
            for i, block in _row_blocks(flat.oks[pair_keep[:, s]], rows,
                                        cols):
                E_splits.given_oks[group_img[i], code[i]] = block
        E_splits.evaluate()
        E_splits.accumulate()
        return [_split_summary(E_splits, slice(s * C, (s + 1) * C))
                for s in range(S)]

    def _full_oks(self, key, num_dt: int, num_gt: int) -> np.ndarray:
        """OKS of all predictions (score order) x ground truths of one
        image; COCOeval kept only the top ``maxDets`` rows, so recompute the
        rare images with more predictions than that."""
        E = self._coco_eval
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
    def _restrictable(ev: dict | None, g_list: list, g_keep: np.ndarray,
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
            g_list (list): the image's ground truths (``_gts`` order).
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
    def _restrict(ev: dict, gk: np.ndarray, d_keep: np.ndarray) -> dict:
        """``ev`` restricted to kept ground truths (``gk``, bool in the order
        of ``ev['gtIds']``) and predictions (valid where
        :meth:`_restrictable`): the ``evaluateImg`` result of the filtered
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
    def _evaluate_subset(work: COCOeval, key: tuple, g_list: list,
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

    def _accumulate_split(self, results: dict) -> dict[str, float]:
        """COCOeval's ``accumulate`` over one split's per-image results and
        COCO's summary numbers (area 'all')."""
        E = copy.copy(self._coco_eval)
        # shallow: accumulate() only reads params; imgIds and areaRng are
        # replaced, not mutated
        p = copy.copy(self._coco_eval.params)
        p.areaRng, p.areaRngLbl = p.areaRng[:1], p.areaRngLbl[:1]
        p.imgIds = sorted({k[0] for k in results})
        E.params = p
        cat_ids = p.catIds if p.useCats else [-1]
        E.evalImgs = [results.get((img, cat)) for cat in cat_ids
                      for img in p.imgIds]
        E._paramsEval = copy.copy(p)
        with contextlib.redirect_stdout(io.StringIO()):
            E.accumulate()
        return _split_summary(E)

    def _pairs(self, pairing: str, preds: list[dict]) -> dict[int, tuple]:
        """ann id -> (predicted keypoints (K, 2), A(s) (K,) or None)."""
        pairs = {}
        if pairing == 'ann_id':
            for pred in preds:
                ann = pred.get('ann_id')
                if ann is None or ann in pairs or not len(pred['keypoints']):
                    continue
                if 'nonfinite' in pred and pred['nonfinite'][0]:
                    continue  # a miss: paired with nothing
                sums = pred.get('activation_sums', {}).get(ann)
                pairs[ann] = (np.asarray(pred['keypoints'])[0, :, :2], sums)
            return pairs
        E = self._coco_eval
        by_sample = {}
        for pred in preds:
            if not isinstance(pred['id'], (list, tuple)):
                by_sample.setdefault(pred['id'], pred)
        for gt_id, dt_id in self._matches_at_first_threshold():
            if dt_id <= 0 or gt_id in pairs:
                continue
            dt = E.cocoDt.anns[int(dt_id)]
            kpts = np.reshape(dt['keypoints'], (-1, 3))[:, :2]
            sample = by_sample.get(self._dt_sample_ids[int(dt_id) - 1],
                                   {})
            sums = sample.get('activation_sums', {}).get(gt_id)
            pairs[gt_id] = (kpts, sums)
        return pairs

    def _matches_at_first_threshold(self):
        """(ground-truth id, prediction id) of COCOeval's matches at the first
        OKS threshold (0.5), area range 'all' (matches to COCO's ignored
        ground truths included: no split holds them)."""
        E = self._coco_eval
        if self.engine == 'faster-coco-eval':
            for key in E.eval['matched']:
                dt_id, gt_id = key.split('_', 1)
                yield int(gt_id), int(dt_id)
            return
        area_all = tuple(E.params.areaRng[0])
        for ev in E.evalImgs:
            if ev is None or tuple(ev['aRng']) != area_all:
                continue
            yield from zip(ev['gtIds'], ev['gtMatches'][0])

    def _add_pair_stats(self, rows: dict, pairs: dict, masks: dict,
                        ann_ids: np.ndarray) -> None:
        """EPE and A(s) per split, pooled over labelled keypoints."""
        K = self.dataset_meta['num_keypoints']
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
                [self.coco.anns[int(ann_ids[i])]['keypoints']
                 for i in rows_of], (-1, K, 3))
        if sums_of:
            act[list(sums_of)] = np.reshape(list(sums_of.values()), (-1, K))
        vis = gt[..., 2] > 0
        err = np.linalg.norm(pred - gt[..., :2], axis=-1)
        a_key = f'A({self.activation_s})'
        has_act = bool(np.isfinite(act).any())
        for name, row in rows.items():
            sel = (masks.get(name, in_any)) & paired
            v = vis & sel[:, None]
            row['paired'] = int(sel.sum())
            row['EPE'] = float(err[v].mean()) if v.any() else -1.0
            if has_act:
                a = act[v & np.isfinite(act)]
                row[a_key] = float(a.mean()) if a.size else -1.0

    def _report(self, rows: dict, pairing: str, normalizations: list) -> None:
        """Log the per-split table and write ``split_results_file``."""
        columns = ['count', 'AP', 'AP .5', 'AP .75', 'AR', 'paired', 'EPE',
                   f'A({self.activation_s})']
        columns = [c for c in columns if any(c in r for r in rows.values())]

        def fmt(v):
            return '-' if v is None else (
                str(v) if isinstance(v, int) else f'{v:.3f}')

        table = [['split', *columns]] + [
            [name, *(fmt(row.get(c)) for c in columns)]
            for name, row in rows.items()]
        norm = ', '.join(normalizations) or 'n/a (no heatmaps)'
        empty = [n for n, r in rows.items() if r['count'] == 0]
        print_log(
            'Difficulty splits (AP/AR: COCO OKS, -1 = empty split; EPE in '
            f'image pixels, pairing: {pairing}; heatmap normalization: '
            f'{norm})\n' + AsciiTable(table).table, 'current')
        if empty:
            print_log(f'Splits with no instance (AP = -1): {empty}',
                      'current')
        if self.split_results_file:
            self._dump(rows, columns, pairing, normalizations)

    def _dump(self, rows: dict, columns: list, pairing: str,
              normalizations: list) -> None:
        path = self.split_results_file
        if path.endswith('.csv'):
            with open(path, 'w', newline='') as f:
                writer = csv.writer(f)
                writer.writerow(['split', *columns])
                for name, row in rows.items():
                    writer.writerow([name, *(row.get(c, '') for c in columns)])
        else:
            with open(path, 'w') as f:
                json.dump({'pairing': pairing,
                               'heatmap_normalization': normalizations,
                               'activation_s': self.activation_s,
                               'splits': rows}, f, indent=2)
        print_log(f'Per-split results written to {osp.abspath(path)}',
                  'current')
