"""Every reach of mmipr's evaluation into a library's private or
undocumented internals, in one list, with the version it was checked
against.

The engines reuse one COCOeval run for all difficulty splits, which needs
more than the libraries' public API (``evaluate``, ``accumulate``,
``summarize``, ``stats``, ``evalImgs``, ``eval['precision'/'recall']``).
A library update may remove or rename any of the entries below without
notice; :func:`missing_private_api` checks the installed libraries
(``tests/test_private_api.py`` runs it and fails naming each missing entry),
and the same test checks that the engine modules reach no private name that
is not listed here. Behaviour, not only presence, is covered by the engine
tests (both engines against ``CocoMetric`` and brute-force COCOeval).
"""
from __future__ import annotations

import contextlib
import importlib
import io
from dataclasses import dataclass
from importlib import metadata

import numpy as np


@dataclass(frozen=True)
class PrivateAttribute:
    """One internal a module of :mod:`mmipr.evaluation` relies on.

    Attributes:
        library (str): the distribution, e.g. ``'xtcocotools'``.
        owner (str): ``module:Class`` that has it.
        name (str): the attribute, method or ``eval`` key.
        kind (str): ``'method'`` (on the class), ``'attribute'`` (on an
            evaluated instance), ``'eval key'`` (of ``eval`` after
            ``accumulate``) or ``'dataset method'`` (of its ``gt_dataset``).
        used_by (str): where mmipr uses it and why.
    """

    library: str
    owner: str
    name: str
    kind: str
    used_by: str


#: the versions every entry of :data:`PRIVATE_API` was checked against
CHECKED_VERSIONS = {'xtcocotools': '1.14.3', 'faster-coco-eval': '1.8.0',
                    'mmpose': '1.3.2'}

_XT = 'xtcocotools.cocoeval:COCOeval'
_FAST = 'faster_coco_eval.core.faster_eval_api:COCOeval_faster'
_XT_ENGINE = 'engines.xtcocotools'
_FAST_ENGINE = 'engines.faster_coco_eval'

PRIVATE_API = (
    PrivateAttribute('xtcocotools', _XT, '_gts', 'attribute',
                     f'{_XT_ENGINE}: per (image, category) ground truths '
                     'read for the splits, replaced in a working copy for '
                     'evaluateImg, saved around summarize()'),
    PrivateAttribute('xtcocotools', _XT, '_dts', 'attribute',
                     f'{_XT_ENGINE}: as _gts, the predictions'),
    PrivateAttribute('xtcocotools', _XT, '_paramsEval', 'attribute',
                     f'{_XT_ENGINE}: the params accumulate() reads, set per '
                     'split, saved around summarize()'),
    PrivateAttribute('xtcocotools', _XT, 'ious', 'attribute',
                     f'{_XT_ENGINE}: the OKS of each (image, category), '
                     'reused by the splits (undocumented)'),
    PrivateAttribute('xtcocotools', _XT, 'score_key', 'attribute',
                     f'{_XT_ENGINE}: the score field COCOeval sorts by '
                     '(xtcocotools only)'),
    PrivateAttribute('xtcocotools', _XT, 'computeOks', 'method',
                     f'{_XT_ENGINE}: OKS of images with more than maxDets '
                     'predictions'),
    PrivateAttribute('xtcocotools', _XT, 'evaluateImg', 'method',
                     f'{_XT_ENGINE}: the matching of one image restricted '
                     'to a split'),
    PrivateAttribute('faster-coco-eval', _FAST, '_prepare', 'method',
                     f'{_FAST_ENGINE}: overridden; after its own, all OKS '
                     'in one pair_oks call (FullEval); replaced for the '
                     'splits (SplitsEval)'),
    PrivateAttribute('faster-coco-eval', _FAST, '_nonempty_iou_pairs',
                     'attribute', f'{_FAST_ENGINE}: the (image, category) '
                     'pairs evaluate() computes OKS for, set by SplitsEval'),
    PrivateAttribute('faster-coco-eval', _FAST, 'computeOks', 'method',
                     f'{_FAST_ENGINE}: overridden to return given OKS'),
    PrivateAttribute('faster-coco-eval', _FAST, 'gt_dataset', 'attribute',
                     f'{_FAST_ENGINE}: the ground truths per (image, '
                     'category), read flat and filled per split'),
    PrivateAttribute('faster-coco-eval', _FAST, 'dt_dataset', 'attribute',
                     f'{_FAST_ENGINE}: as gt_dataset, the predictions'),
    PrivateAttribute('faster-coco-eval', _FAST, 'get', 'dataset method',
                     f'{_FAST_ENGINE}: gt_dataset/dt_dataset.get(img, cat)'),
    PrivateAttribute('faster-coco-eval', _FAST, 'append_ref',
                     'dataset method', f'{_FAST_ENGINE}: '
                     'gt_dataset/dt_dataset.append_ref(img, cat, ann)'),
    PrivateAttribute('faster-coco-eval', _FAST, 'matched', 'eval key',
                     f'{_FAST_ENGINE}: COCO\'s matches at OKS 0.5 ('
                     "'dtid_gtid'), for pairing='oks'"),
    PrivateAttribute('mmpose', 'mmpose.evaluation:CocoMetric',
                     '_do_python_keypoint_eval', 'method',
                     'metrics.difficulty_split_coco_metric: overridden to '
                     'run the engine; CocoMetric.compute_metrics calls it'),
)


def _tiny_evaluation(owner: str):
    """An instance of ``owner`` evaluated and accumulated on one image with
    one ground truth and one prediction (COCO keypoints, K = 2)."""
    module, name = owner.split(':')
    cls = getattr(importlib.import_module(module), name)
    faster = module.startswith('faster_coco_eval')
    if faster:
        from faster_coco_eval import COCO
    else:
        from xtcocotools.coco import COCO
    kpts = [10.0, 10.0, 2, 20.0, 20.0, 2]
    dataset = {'images': [{'id': 1, 'width': 64, 'height': 64}],
               'categories': [{'id': 1, 'name': 'person'}],
               'annotations': [{'id': 1, 'image_id': 1, 'category_id': 1,
                                'bbox': [5.0, 5.0, 20.0, 20.0],
                                'area': 400.0, 'iscrowd': 0,
                                'num_keypoints': 2, 'keypoints': kpts}]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = dataset
        gt.createIndex()
        dt = gt.loadRes([{'image_id': 1, 'category_id': 1,
                          'keypoints': kpts, 'score': 1.0}])
        sigmas = np.array([0.1, 0.1])
        coco_eval = (cls(gt, dt, 'keypoints', kpt_oks_sigmas=sigmas)
                     if faster else cls(gt, dt, 'keypoints', sigmas))
        coco_eval.evaluate()
        coco_eval.accumulate()
    return coco_eval


def _present(entry: PrivateAttribute, instances: dict) -> bool:
    module, name = entry.owner.split(':')
    cls = getattr(importlib.import_module(module), name, None)
    if cls is None:
        return False
    if entry.kind == 'method':
        return callable(getattr(cls, entry.name, None))
    if entry.owner not in instances:
        instances[entry.owner] = _tiny_evaluation(entry.owner)
    obj = instances[entry.owner]
    if entry.kind == 'attribute':
        return hasattr(obj, entry.name)
    if entry.kind == 'eval key':
        return entry.name in getattr(obj, 'eval', {})
    if entry.kind == 'dataset method':
        return callable(getattr(getattr(obj, 'gt_dataset', None),
                                entry.name, None))
    raise ValueError(f'unknown kind {entry.kind!r} of {entry}')


def missing_private_api() -> list[str]:
    """The entries of :data:`PRIVATE_API` the installed libraries lack.

    Returns:
        list[str]: one message per missing entry, naming the library, its
        installed and checked versions, the attribute and what needs it;
        empty when everything is there.
    """
    missing, instances = [], {}
    for entry in PRIVATE_API:
        try:
            ok = _present(entry, instances)
        except Exception as err:  # noqa: BLE001 - reported, not raised
            ok, found = False, f'could not be probed ({err!r}) for'
        else:
            found = 'has no'
        if not ok:
            try:
                installed = metadata.version(entry.library)
            except metadata.PackageNotFoundError:
                installed = 'not installed'
            missing.append(
                f'{entry.library} {installed} (mmipr checked '
                f'{CHECKED_VERSIONS[entry.library]}): {entry.owner} {found} '
                f'{entry.kind} {entry.name!r}; mmipr.evaluation.'
                f'{entry.used_by}. Install the checked version or update '
                'that engine and this list.')
    return missing
