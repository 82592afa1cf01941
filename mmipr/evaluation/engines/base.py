"""The interface of DifficultySplitCocoMetric's evaluation engines.

An engine runs COCO's keypoint evaluation once over the whole result set
(the numbers ``CocoMetric`` reports) and then, reusing that evaluation's OKS,
the AP/AR of every difficulty split. Two implement it:
:class:`~mmipr.evaluation.engines.faster_coco_eval.FasterCocoEvalEngine`
(compiled, COCO-style keypoints) and
:class:`~mmipr.evaluation.engines.xtcocotools.XtcocotoolsEngine` (as
``CocoMetric`` runs it, every ``iou_type``).

Predictions are named by their index in the result list the metric wrote
(file order), never by a library's annotation id, so that the metric's
bookkeeping does not depend on how an engine numbers them.
"""
from __future__ import annotations

import contextlib
import gc
from abc import ABC, abstractmethod
from collections.abc import Iterator

import numpy as np

#: the per-split numbers an engine returns, in this order
SPLIT_KEYS = ('AP', 'AP .5', 'AP .75', 'AR')
#: names of COCOeval's ``stats``, per ``iou_type``
STATS_NAMES = {
    'keypoints': ('AP', 'AP .5', 'AP .75', 'AP (M)', 'AP (L)', 'AR',
                  'AR .5', 'AR .75', 'AR (M)', 'AR (L)'),
    'keypoints_crowd': ('AP', 'AP .5', 'AP .75', 'AR', 'AR .5', 'AR .75',
                        'AP(E)', 'AP(M)', 'AP(H)'),
}


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


def silent(*args, **kwargs) -> None:
    """A ``print_function`` that prints nothing."""


class EvaluationEngine(ABC):
    """One COCO keypoint evaluation and its per-split AP/AR.

    Args:
        coco: the ground truth, ``xtcocotools.coco.COCO`` (``CocoMetric``'s
            ``self.coco``); never modified.
        sigmas (np.ndarray): per-keypoint OKS sigmas, shape (K,).
        iou_type (str): ``'keypoints'`` or ``'keypoints_crowd'``.
        use_area (bool): COCO's ``use_area``.
    """

    #: the name ``eval_engine`` selects it by
    name: str = ''
    #: True: :meth:`evaluate` reads the results kept by ``keep_results``
    #: (the metric needs not write CocoMetric's indented file); False: the
    #: file ``CocoMetric.results2json`` wrote
    in_memory: bool = False

    def __init__(self, coco, sigmas: np.ndarray, iou_type: str,
                 use_area: bool) -> None:
        self.coco = coco
        self.sigmas = sigmas
        self.iou_type = iou_type
        self.use_area = use_area
        #: the last :meth:`evaluate`'s COCOeval (None before one)
        self.coco_eval = None

    def keep_results(self, keypoints: dict, res_file: str,
                     write: bool) -> None:
        """For :attr:`in_memory` engines: keep ``CocoMetric``'s result
        entries (``results2json``'s) and, with ``write``, write them to
        ``res_file``.

        Args:
            keypoints (dict): image id -> its instances after NMS.
            res_file (str): the results file's path.
            write (bool): whether to write it.
        """
        raise NotImplementedError(f'{self.name} reads the results file')

    @abstractmethod
    def evaluate(self, res_file: str) -> list:
        """Run the full evaluation (evaluate, accumulate, summarize).

        Args:
            res_file (str): the results file ``CocoMetric`` wrote (read by
                engines that are not :attr:`in_memory`).

        Returns:
            list: (name, value) of COCO's summary, ``CocoMetric``'s keys.
        """

    def finish(self, coco_eval) -> list:
        """Keep the summarised ``coco_eval`` for the splits and return its
        summary, as :meth:`evaluate` does.

        Args:
            coco_eval: the COCOeval after ``summarize()``.

        Returns:
            list: (name, value) of its ``stats``, ``CocoMetric``'s keys.
        """
        self.coco_eval = coco_eval
        return list(zip(stats_names(self.iou_type),
                        (float(v) for v in coco_eval.stats)))

    @property
    def params(self):
        """The evaluation's COCOeval ``params`` (``imgIds``, ``catIds``,
        ``useCats``, ``maxDets``, ...)."""
        return self.coco_eval.params

    @abstractmethod
    def split_rows(self, member: np.ndarray, row_of: dict,
                   result_ann: list) -> list[dict]:
        """AP/AR of every split, equal to COCOeval on the annotation file
        filtered to the split's ground truths (and COCO's ignored ones) and
        the result file filtered to the predictions assigned to the split.

        Args:
            member (np.ndarray): bool, ground truth x split, shape (N, S).
            row_of (dict): annotation id -> row of ``member``.
            result_ann (list): per result (file order), the annotation id it
                was made for, or None (all None unless pairing by id).

        Returns:
            list[dict]: per split (``member``'s columns), :data:`SPLIT_KEYS`.
        """

    @abstractmethod
    def first_threshold_matches(self) -> Iterator[tuple]:
        """COCO's matches of the full evaluation at the first OKS threshold
        (0.5), area range 'all', matches to ignored ground truths included.

        Yields:
            tuple: (ground-truth annotation id, result index, the matched
            prediction's (x, y), shape (K, 2)).
        """


def summary(coco_eval, ap: bool, iou_thr: float | None = None,
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


def split_summary(coco_eval, cats: slice = slice(None)) -> dict[str, float]:
    """A split's AP, AP .5, AP .75 and AR (area 'all', index 0)."""
    return dict(zip(SPLIT_KEYS, (summary(coco_eval, True, cats=cats),
                                 summary(coco_eval, True, .5, cats=cats),
                                 summary(coco_eval, True, .75, cats=cats),
                                 summary(coco_eval, False, cats=cats))))


def empty_split_rows(num_splits: int) -> list[dict]:
    """Every split's numbers when nothing was evaluated (-1, as COCOeval
    gives an empty category)."""
    return [dict.fromkeys(SPLIT_KEYS, -1.0) for _ in range(num_splits)]


def stats_names(iou_type: str) -> tuple:
    """Names of COCOeval's ``stats`` for ``iou_type``."""
    return STATS_NAMES.get(iou_type, STATS_NAMES['keypoints'])
