"""COCO keypoint evaluation per difficulty split (the paper's Sec. 3.3).

The metric composes: an evaluation engine (:mod:`mmipr.evaluation.engines`),
the split functions (:mod:`mmipr.evaluation.splits`), the A(s) collection
(:mod:`mmipr.evaluation.activation`), the EPE pairing
(:mod:`mmipr.evaluation.pairing`), the rule for non-finite predictions
(:mod:`mmipr.evaluation.predictions`) and the report
(:mod:`mmipr.evaluation.report`). ``docs/metric.md`` documents it.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import io
import warnings
from collections.abc import Sequence

import numpy as np
from mmengine.fileio import get_local_path, load
from mmengine.logging import print_log
from mmpose.evaluation import CocoMetric
from mmpose.registry import METRICS
from xtcocotools.coco import COCO

from mmipr.utils.validation import InvalidArgumentError, check_bool, check_choice, check_number

from ..activation import NORMALIZATIONS, ActivationCollector
from ..engines import ENGINE_NAMES, EvaluationEngine, paused_gc, resolve_engine
from ..gt_formats import FORMAT_FACTORS, GT_FORMATS, HAND_NUM_KEYPOINTS, convert, match_box
from ..pairing import PAIRINGS, add_pair_stats, pairs_by_ann_id, pairs_by_matches, resolve_pairing
from ..predictions import mark_nonfinite_keypoints, zero_nonfinite_scores
from ..report import report_splits
from ..splits import annotation_levels, split_masks, split_names

_OWNER = 'DifficultySplitCocoMetric'
#: CocoMetric's choices (the metric reads COCO-style 'keypoints' fields, so
#: of xtcocotools' iou types only these two)
_IOU_TYPES = ('keypoints', 'keypoints_crowd')
_SCORE_MODES = ('bbox', 'bbox_keypoint', 'bbox_rle', 'keypoint')
_NMS_MODES = ('oks_nms', 'soft_oks_nms', 'none')
_COLLECT_DEVICES = ('cpu', 'gpu')


def _check_optional(name: str, value, kind: type, what: str) -> None:
    if value is not None and not isinstance(value, kind):
        raise InvalidArgumentError(
            f'{_OWNER}: {name} must be {what} or None, got {value!r} '
            f'({type(value).__name__})')


def bind_coco_metric_arguments(args: tuple, kwargs: dict) -> dict:
    """``CocoMetric``'s arguments by name, defaults applied.

    Raises:
        InvalidArgumentError: arguments ``CocoMetric`` does not take.
    """
    try:
        bound = inspect.signature(CocoMetric.__init__).bind(None, *args,
                                                            **kwargs)
    except TypeError as err:
        raise InvalidArgumentError(f'{_OWNER}: {err}') from None
    bound.apply_defaults()
    return {k: v for k, v in bound.arguments.items() if k != 'self'}


@functools.lru_cache(maxsize=1)
def _hand_metainfo() -> dict:
    from mmpose.datasets import CocoWholeBodyHandDataset
    from mmpose.datasets.datasets.utils import parse_pose_metainfo
    with warnings.catch_warnings():
        # it warns that it reads the config from MMPose's installed .mim
        warnings.simplefilter('ignore', UserWarning)
        return parse_pose_metainfo(CocoWholeBodyHandDataset.METAINFO)


def hand_metainfo() -> dict:
    """MMPose's COCO-WholeBody-Hand metainfo (``CocoWholeBodyHandDataset``'s
    ``METAINFO``, parsed: ``configs/_base_/datasets/coco_wholebody_hand.py``
    of the installed MMPose), a copy."""
    return copy.deepcopy(_hand_metainfo())


def hand_dataset_meta(dataset_meta: dict) -> dict:
    """The metainfo the metric evaluates COCO-WholeBody-Hand with: the
    dataset's, its missing ``sigmas`` / ``num_keypoints`` taken from
    :func:`hand_metainfo`.

    Raises:
        ValueError: metainfo of another number of keypoints than 21.
    """
    meta = dict(dataset_meta)
    if meta.get('sigmas') is None or meta.get('num_keypoints') is None:
        hand = hand_metainfo()
        for key in ('sigmas', 'num_keypoints'):
            if meta.get(key) is None:
                meta[key] = hand[key]
    sizes = {int(meta['num_keypoints']), len(meta['sigmas'])}
    if sizes != {HAND_NUM_KEYPOINTS}:
        raise ValueError(
            f"{_OWNER}: gt_format='coco_wholebody_hand' evaluates the "
            f'{HAND_NUM_KEYPOINTS} hand keypoints, but the dataset metainfo '
            f"has num_keypoints={meta['num_keypoints']} and "
            f"{len(meta['sigmas'])} sigmas (evaluate a "
            'CocoWholeBodyHandDataset)')
    return meta


def load_hand_coco(ann_file: str, format_only: bool) -> COCO:
    """The COCO-WholeBody file ``ann_file`` as xtcocotools' ``COCO`` of its
    hands (:func:`mmipr.evaluation.gt_formats.wholebody_hand_to_coco`)."""
    with get_local_path(ann_file) as local_path:
        data = load(local_path)
    if not format_only and 'annotations' not in data:
        raise ValueError(f'{_OWNER}: {ann_file} has no annotations to '
                         'evaluate')
    coco = COCO()
    coco.dataset = convert(data, 'coco_wholebody_hand')
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def check_arguments(args: tuple, kwargs: dict, own: dict) -> None:
    """Check every argument of the metric (CocoMetric's and its own) before
    anything is loaded; the error names the argument, the value and what is
    allowed.

    Args:
        args (tuple): positional arguments of ``CocoMetric``.
        kwargs (dict): keyword arguments of ``CocoMetric``.
        own (dict): the metric's own arguments.

    Raises:
        InvalidArgumentError: the first argument out of range.
    """
    a = {**bind_coco_metric_arguments(args, kwargs), **own}
    for name in ('ann_file', 'outfile_prefix', 'prefix',
                 'split_results_file'):
        _check_optional(name, a[name], str, 'a str')
    for name in ('pred_converter', 'gt_converter'):
        _check_optional(name, a[name], dict, 'a dict')
    check_bool(_OWNER, 'use_area', a['use_area'])
    check_bool(_OWNER, 'format_only', a['format_only'])
    if a['format_only'] and a['outfile_prefix'] is None:
        raise InvalidArgumentError(
            f'{_OWNER}: format_only=True needs outfile_prefix (else the '
            'results file is written to a temporary folder and deleted)')
    check_choice(_OWNER, 'iou_type', a['iou_type'], _IOU_TYPES)
    check_choice(_OWNER, 'score_mode', a['score_mode'], _SCORE_MODES)
    check_number(_OWNER, 'keypoint_score_thr', a['keypoint_score_thr'],
                 low=0, high=1, hint='keypoint scores above it rescore an '
                 "instance (score_mode='bbox_keypoint')")
    check_choice(_OWNER, 'nms_mode', a['nms_mode'], _NMS_MODES)
    check_number(_OWNER, 'nms_thr', a['nms_thr'], low=0, high=1,
                 hint='an OKS threshold')
    check_choice(_OWNER, 'collect_device', a['collect_device'],
                 _COLLECT_DEVICES)
    check_number(_OWNER, 'activation_s', a['activation_s'], integer=True,
                 low=0, hint='the half-size of the A(s) window, in heatmap '
                 'pixels')
    check_choice(_OWNER, 'heatmap_normalization', a['heatmap_normalization'],
                 NORMALIZATIONS)
    check_number(_OWNER, 'softmax_beta', a['softmax_beta'], low=0,
                 low_open=True)
    check_choice(_OWNER, 'pairing', a['pairing'], PAIRINGS)
    check_choice(_OWNER, 'eval_engine', a['eval_engine'], ENGINE_NAMES)
    check_choice(_OWNER, 'gt_format', a['gt_format'], GT_FORMATS)
    if a['gt_format'] != 'coco' and a['ann_file'] is None:
        raise InvalidArgumentError(
            f"{_OWNER}: gt_format={a['gt_format']!r} needs ann_file (the "
            'COCO-WholeBody annotation file): the data samples of its '
            'dataset carry no COCO annotations to convert')


@METRICS.register_module()
class DifficultySplitCocoMetric(CocoMetric):
    """:class:`mmpose.evaluation.CocoMetric` plus results per difficulty split.

    A drop-in for ``CocoMetric`` (all its arguments, every key it reports,
    identical values) that also reports, for each split of
    :data:`mmipr.evaluation.splits.SPLIT_NAMES` (with
    ``gt_format='coco_wholebody_hand'``, those of its factors: no
    occlusion splits):

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
    xtcocotools' results (``iou_type='keypoints'`` with ``use_area=True``),
    else xtcocotools' COCOeval as ``CocoMetric`` runs it (e.g. CrowdPose's
    ``'keypoints_crowd'``). The log line names the engine. With
    faster-coco-eval the results file is written without indentation (the
    same JSON values) and read back from memory.

    Non-finite predictions (:mod:`mmipr.evaluation.predictions`): an
    instance with a NaN/inf keypoint coordinate is a miss (OKS 0, paired
    with nothing); a NaN/inf keypoint or box score counts as 0. A warning
    gives their numbers. Both engines give the same numbers.

    Args:
        *args: positional arguments of ``CocoMetric``.
        activation_s (int): half window ``s`` of A(s), >= 0 and smaller than
            the heatmap's larger side - 1. Default: 2.
        heatmap_normalization (str): ``'auto'``, ``'softmax'``, ``'sum'`` or
            ``'none'`` (see
            :func:`mmipr.evaluation.activation.normalize_for_activation`).
            Default: ``'auto'``.
        softmax_beta (float): beta (> 0) of the softmax normalisation.
            Default: 1.0.
        pairing (str): ``'auto'`` (by annotation id when every prediction
            carries one, else OKS), ``'ann_id'`` or ``'oks'``. Default:
            ``'auto'``.
        split_results_file (str, optional): write the per-split table there,
            as CSV if it ends in ``.csv``, else JSON. Default: None.
        eval_engine (str): ``'auto'`` (faster-coco-eval where it gives
            xtcocotools' results, else xtcocotools), ``'faster-coco-eval'``
            or ``'xtcocotools'``. Default: ``'auto'``.
        gt_format (str): the format of ``ann_file``: ``'coco'`` (COCO
            keypoints) or ``'coco_wholebody_hand'`` (a COCO-WholeBody file
            evaluated on its hands, 21 keypoints, as MMPose's
            ``CocoWholeBodyHandDataset`` loads them;
            :mod:`mmipr.evaluation.gt_formats`). With the hand format:
            ``ann_file`` is required; one ground truth per valid hand (ids:
            the dataset's ``id`` + 1), box the hand box, OKS area the
            person's area (as xtcocotools' ``keypoints_lefthand`` /
            ``keypoints_righthand``), sigmas the dataset's (MMPose's hand
            sigmas; missing ones are taken from MMPose's
            ``coco_wholebody_hand`` metainfo); a prediction is paired with
            the hand of its image whose box equals its box within 0.01 px;
            factors joints (bounds 6 and 12) and size, no occlusion.
            Default: ``'coco'``.
        **kwargs: keyword arguments of ``CocoMetric``; also checked here
            (``keypoint_score_thr`` and ``nms_thr`` within [0, 1], the
            choices of ``iou_type``, ``score_mode``, ``nms_mode``, ...).
    """

    def __init__(self,
                 *args,
                 activation_s: int = 2,
                 heatmap_normalization: str = 'auto',
                 softmax_beta: float = 1.0,
                 pairing: str = 'auto',
                 split_results_file: str | None = None,
                 eval_engine: str = 'auto',
                 gt_format: str = 'coco',
                 **kwargs) -> None:
        check_arguments(args, kwargs, dict(
            activation_s=activation_s,
            heatmap_normalization=heatmap_normalization,
            softmax_beta=softmax_beta, pairing=pairing,
            split_results_file=split_results_file, eval_engine=eval_engine,
            gt_format=gt_format))
        self.gt_format = gt_format
        if gt_format == 'coco':
            super().__init__(*args, **kwargs)
        else:  # CocoMetric must not load the file as COCO keypoints
            coco_args = bind_coco_metric_arguments(args, kwargs)
            super().__init__(**{**coco_args, 'ann_file': None})
            self.ann_file = coco_args['ann_file']
            self.coco = load_hand_coco(self.ann_file, self.format_only)
        #: the difficulty factors and splits of the format
        self.factors = FORMAT_FACTORS[gt_format]
        self.split_names = split_names(self.factors)
        self._engine_type = resolve_engine(eval_engine, self.iou_type,
                                           self.use_area)
        self.eval_engine = eval_engine
        self.engine = self._engine_type.name  # the one eval_engine resolved to
        self.activation_s = activation_s
        self.heatmap_normalization = heatmap_normalization
        self.softmax_beta = softmax_beta
        self.pairing = pairing
        self.split_results_file = split_results_file
        self._activations = ActivationCollector(
            activation_s, heatmap_normalization, softmax_beta,
            lambda msg: print_log(msg, 'current'))
        #: the engine of the evaluation in progress
        self._evaluation: EvaluationEngine | None = None
        self._result_samples: list = []  # data sample id of each result

    @property
    def dataset_meta(self) -> dict | None:
        """The dataset's metainfo (with ``gt_format='coco_wholebody_hand'``,
        missing sigmas / number of keypoints filled in from MMPose's hand
        metainfo, and checked to be the 21 hand keypoints)."""
        return CocoMetric.dataset_meta.fget(self)

    @dataset_meta.setter
    def dataset_meta(self, dataset_meta: dict | None) -> None:
        if (getattr(self, 'gt_format', 'coco') != 'coco'
                and dataset_meta is not None):
            dataset_meta = hand_dataset_meta(dataset_meta)
        CocoMetric.dataset_meta.fset(self, dataset_meta)

    def process(self, data_batch: Sequence[dict],
                data_samples: Sequence[dict]) -> None:
        """CocoMetric's ``process`` plus, per data sample, the annotation id
        it was made for and, with heatmaps, its per-joint A(s)
        (:class:`mmipr.evaluation.activation.ActivationCollector`)."""
        start = len(self.results)
        super().process(data_batch, data_samples)
        preds = [pred for pred, _ in self.results[start:]]
        for pred, sample in zip(preds, data_samples):
            if self.gt_format == 'coco':
                raw = sample.get('raw_ann_info')
                pred['ann_id'] = (raw['id'] if isinstance(raw, dict)
                                  and 'id' in raw else None)
            else:
                pred['ann_id'] = self._ann_id_by_box(pred, sample)
        self._activations.add(preds, data_samples, self.coco)

    def _ann_id_by_box(self, pred: dict, sample: dict) -> int | None:
        """The ground truth of the prediction's image whose box is the
        prediction's (top-down with ground-truth boxes), else None; among
        equal boxes the one numbered as the sample (its ``id`` + 1)."""
        if 'bbox' not in pred or len(pred['bbox']) != 1:
            return None
        try:
            prefer = int(np.asarray(sample.get('id')).item()) + 1
        except (TypeError, ValueError):
            prefer = None
        img_id = np.asarray(pred['img_id']).item()
        return match_box(pred['bbox'][0], self.coco.imgToAnns.get(img_id, []),
                         prefer)

    def results2json(self, keypoints: dict[int, list],
                     outfile_prefix: str) -> str:
        """CocoMetric's ``results2json`` (or, for an in-memory engine, the
        same entries kept by the engine), remembering which data sample each
        result came from."""
        # bottom-up samples carry a list of ids: no per-instance sample
        self._result_samples = [
            None if isinstance(inst['id'], (list, tuple)) else inst['id']
            for insts in keypoints.values() for inst in insts]
        self._evaluation = self._engine_type(
            self.coco, self.dataset_meta['sigmas'], self.iou_type,
            self.use_area)
        if not self._evaluation.in_memory:
            return super().results2json(keypoints, outfile_prefix)
        res_file = f'{outfile_prefix}.keypoints.json'
        # written only where kept (else to a temporary folder)
        self._evaluation.keep_results(keypoints, res_file,
                                      write=self.outfile_prefix is not None)
        return res_file

    def _do_python_keypoint_eval(self, outfile_prefix: str) -> list:
        """COCOeval as CocoMetric runs it, by the engine, kept for the split
        evaluation."""
        print_log(f'{type(self).__name__}: evaluating with {self.engine}',
                  'current')
        return self._evaluation.evaluate(f'{outfile_prefix}.keypoints.json')

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
        if self.gt_format != 'coco' and self.dataset_meta is None:
            self.dataset_meta = {}  # MMPose's hand metainfo
        if self.coco is not None:
            known = set(self.coco.getImgIds())
            unknown = sorted({p['img_id'] for p, _ in results} - known)
            if unknown:
                raise ValueError(
                    f'{len(unknown)} predicted image ids are not in the '
                    f'annotation file (e.g. {unknown[:5]}): ann_file must be '
                    'the annotation file of the evaluated dataset.')
        preds = [p for p, _ in results]
        with paused_gc():
            mark_nonfinite_keypoints(preds)
            zero_nonfinite_scores(preds)
            try:
                metrics = super().compute_metrics(results)
                if not self.format_only:
                    metrics.update(self._split_metrics(preds))
            finally:
                self._evaluation = None
        return metrics

    def _split_metrics(self, preds: list[dict]) -> dict[str, float]:
        """Per-split AP/AR (reusing the OKS of the one COCOeval run), EPE
        and A(s)."""
        engine = self._evaluation
        p = engine.params
        pairing = resolve_pairing(self.pairing, preds)
        result_ann = [None] * len(self._result_samples)
        if pairing == 'ann_id':
            sample_ann = {pred['id']: pred['ann_id'] for pred in preds}
            result_ann = [sample_ann[s] for s in self._result_samples]

        gts = self.coco.loadAnns(self.coco.getAnnIds(
            imgIds=p.imgIds, catIds=p.catIds if p.useCats else []))
        levels = annotation_levels(gts, self.dataset_meta['num_keypoints'],
                                   self.factors)
        masks = split_masks(levels)
        ann_ids = levels['ids']
        member = np.stack([masks[s] for s in self.split_names], 1)  # (N, S)
        row_of = {int(a): i for i, a in enumerate(ann_ids)}
        split_rows = engine.split_rows(member, row_of, result_ann)
        rows = {}
        for s, name in enumerate(self.split_names):
            rows[name] = split_rows[s]
            rows[name]['count'] = int(masks[name].sum())
        rows['all'] = {'count': int((levels['combined'] >= 0).sum())}

        if pairing == 'ann_id':
            pairs = pairs_by_ann_id(preds)
        else:
            pairs = pairs_by_matches(engine.first_threshold_matches(), preds,
                                     self._result_samples)
        add_pair_stats(rows, pairs, masks, ann_ids, self.coco.anns,
                       self.dataset_meta['num_keypoints'],
                       f'A({self.activation_s})')
        used = sorted({pr['heatmap_normalization'] for pr in preds
                       if 'heatmap_normalization' in pr})
        report_splits(rows, pairing, used, self.activation_s,
                      self.split_results_file)
        return {f'{name}/{k}': v for name, row in rows.items()
                for k, v in row.items()}
