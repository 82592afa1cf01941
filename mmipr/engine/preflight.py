"""Checks run by tools/train.py and tools/test.py before the Runner starts.

Each check raises an error that names the file or config key, what is wrong
and what to do. The errors are :class:`PreflightError` subclasses of the
built-in types (``ValueError``, ``FileNotFoundError``, ``RuntimeError``),
which the tools print as a message rather than a traceback.
"""
from __future__ import annotations

import glob
import json
import math
import os.path as osp
import warnings
import zipfile
from typing import List, Optional, Tuple

import numpy as np
from mmengine.config import Config
from mmengine.device import is_cuda_available, is_mlu_available, is_musa_available, is_npu_available
from mmengine.optim import AmpOptimWrapper


class PreflightError(Exception):
    """Base of the errors a preflight check raises: a problem of the config,
    data or checkpoint, explained in its message (no traceback needed)."""


class PreflightValueError(PreflightError, ValueError):
    """A config value, data file or checkpoint content is invalid."""


class PreflightFileNotFoundError(PreflightError, FileNotFoundError):
    """A data file, folder or checkpoint is missing or incomplete."""


class PreflightRuntimeError(PreflightError, RuntimeError):
    """The machine cannot run what the config asks for."""


def _dataset_paths(name: str, dataset: dict) -> List[tuple]:
    root = dataset.get('data_root') or ''
    paths = []
    if dataset.get('ann_file'):
        paths.append((f'{name}.dataset.ann_file',
                      osp.join(root, dataset['ann_file'])))
    img_dir = (dataset.get('data_prefix') or {}).get('img')
    if img_dir:
        paths.append((f'{name}.dataset.data_prefix.img',
                      osp.join(root, img_dir)))
    if dataset.get('bbox_file'):
        # MMPose reads bbox_file as given (it does not join data_root).
        paths.append((f'{name}.dataset.bbox_file', dataset['bbox_file']))
    return paths


def check_data_paths(cfg: Config, phases=('train', 'val', 'test')) -> None:
    """Fail fast, naming every missing data file or folder of ``cfg``.

    MMEngine builds datasets lazily: a wrong ``data_root`` otherwise surfaces
    only after the model is built, or (for image folders) at the first batch
    and deep inside a dataloader worker.

    Args:
        cfg (Config): the merged config.
        phases (tuple): which of train/val/test to check; a phase whose
            dataloader is None (e.g. ``--no-validate``) is skipped.

    Raises:
        FileNotFoundError: listing each missing path and its config key.
    """
    checks = []
    for phase in phases:
        loader = cfg.get(f'{phase}_dataloader')
        if not loader or not loader.get('dataset'):
            continue
        checks += _dataset_paths(f'{phase}_dataloader', loader['dataset'])
        evaluator = cfg.get(f'{phase}_evaluator') if phase != 'train' else None
        for i, metric in enumerate(evaluator if isinstance(evaluator, list)
                                   else [evaluator] if evaluator else []):
            if metric.get('ann_file'):
                checks.append((f'{phase}_evaluator[{i}].ann_file',
                               metric['ann_file']))
    missing = [(key, path) for key, path in checks if not osp.exists(path)]
    if missing:
        lines = '\n'.join(f'  {key}: {path}' for key, path in missing)
        raise PreflightFileNotFoundError(
            f'Data not found (relative paths are from {osp.abspath(".")}):\n'
            f'{lines}\nPrepare the dataset as the README\'s "Data" section '
            'says, or point the config at it with --cfg-options, e.g. '
            'train_dataloader.dataset.data_root=... ; for the synthetic '
            'dataset run tools/dataset/make_synthetic_coco.py.')


#: at most this many problems are listed per file (and the count of the rest)
MAX_LISTED = 10


#: pipeline transforms whose targets are not keypoints: with one of them, the
#: head's ``out_channels`` counts target maps (the study's silhouette
#: pretraining: 1), not keypoints
NON_KEYPOINT_TARGETS = ('GenerateSilhouetteTarget',)


def _config_num_keypoints(cfg: Config, dataset: dict) -> List[Tuple[str, int]]:
    """The keypoint counts K the config expects: ``(source, K)`` pairs from
    the model head's ``out_channels`` (unless the pipeline trains another
    target: :data:`NON_KEYPOINT_TARGETS`) and the dataset's metainfo."""
    found = []
    head = (cfg.get('model') or {}).get('head') or {}
    other_targets = any(
        isinstance(step, dict) and step.get('type') in NON_KEYPOINT_TARGETS
        for step in dataset.get('pipeline') or [])
    if isinstance(head.get('out_channels'), int) and not other_targets:
        found.append(('model.head.out_channels', head['out_channels']))
    try:
        from mmpose.registry import DATASETS
        dataset_type = DATASETS.get(dataset.get('type'))
        metainfo = dataset.get('metainfo')
        if hasattr(metainfo, 'to_dict'):
            metainfo = metainfo.to_dict()
        num = dataset_type._load_metainfo(metainfo).get('num_keypoints')
    except Exception:  # a dataset type without MMPose's pose metainfo
        num = None
    if isinstance(num, int):
        found.append((f"the metainfo of {dataset.get('type')}", num))
    return found


def _listing(problems: List[str]) -> str:
    more = len(problems) - MAX_LISTED
    lines = [f'  {p}' for p in problems[:MAX_LISTED]]
    if more > 0:
        lines.append(f'  ... and {more} more')
    return '\n'.join(lines)


def _all_finite(values) -> bool:
    """Whether every entry of ``values`` is a finite number (JSON accepts
    ``NaN`` and ``Infinity``); non-numbers count as not finite."""
    try:
        return all(map(math.isfinite, values))
    except TypeError:
        return False


def _dropped_by_mmpose(ann: dict, img: dict) -> Optional[str]:
    """Why MMPose's ``BaseCocoStyleDataset`` drops the non-crowd annotation
    ``ann`` in top-down mode (``parse_data_info``, ``_is_valid_instance``),
    or None if it keeps it. ``no labelled keypoint`` is COCO's ordinary case
    (persons too small to label); the others are boxes MMPose discards."""
    if 'bbox' not in ann:
        return 'no bbox'
    keypoints = np.asarray(ann['keypoints'], dtype=np.float64).reshape(-1, 3)
    num = ann.get('num_keypoints')
    if num is None:
        num = np.count_nonzero(keypoints[:, :2].max(axis=1))
    if num == 0:
        return 'no labelled keypoint'
    x, y, w, h = ann['bbox']
    img_w, img_h = img.get('width', 0), img.get('height', 0)
    x1, x2 = np.clip([x, x + w], 0, img_w - 1)
    y1, y2 = np.clip([y, y + h], 0, img_h - 1)
    if x2 - x1 <= 0 or y2 - y1 <= 0:
        return (f'bbox {list(ann["bbox"])} has no area inside the '
                f'{img_w}x{img_h} image')
    if keypoints[:, :2].max() <= 0:
        return 'every keypoint is at x <= 0 and y <= 0'
    return None


def _check_coco_annotations(data: dict, key: str, path: str,
                            num_keypoints: List[Tuple[str, int]],
                            needs_instances: bool) -> None:
    """Check each annotation of the parsed COCO file ``data`` (see
    :func:`check_annotation_files`); warn about boxes MMPose drops."""
    errors = []
    dropped = []
    kept = 0
    images = {img.get('id'): img for img in data.get('images') or []
              if isinstance(img, dict)}
    for i, ann in enumerate(data.get('annotations') or []):
        name = f"annotation id {ann.get('id', f'#{i}')} " \
            f"(image {ann.get('image_id')})"
        crowd = bool(ann.get('iscrowd', 0))
        kpts = ann.get('keypoints')
        if kpts is None:
            if not crowd:
                errors.append(f"{name}: no 'keypoints'")
            continue
        if not isinstance(kpts, list) or len(kpts) % 3:
            errors.append(f'{name}: keypoints is not a list of x, y, v '
                          'triples')
            continue
        wrong = [f'{src} says {k}' for src, k in num_keypoints
                 if k != len(kpts) // 3]
        if wrong:
            errors.append(f'{name}: {len(kpts) // 3} keypoints, but '
                          + ' and '.join(wrong))
            continue
        bbox = ann.get('bbox')
        bad = [] if _all_finite(kpts) else ['keypoints']
        if bbox is not None and not (isinstance(bbox, list) and len(bbox) == 4
                                     and _all_finite(bbox)):
            bad.append(f'bbox {bbox}')
        if bad:
            errors.append(f'{name}: non-finite or non-numeric values '
                          f"(NaN, Infinity) in {' and '.join(bad)}")
            continue
        if needs_instances and not crowd and ann.get('image_id') in images:
            why = _dropped_by_mmpose(ann, images[ann['image_id']])
            if why is None:
                kept += 1
            elif why != 'no labelled keypoint':
                dropped.append(f'{name}: {why}')
    if errors:
        what = ', '.join(f'{k} ({src})' for src, k in num_keypoints)
        expected = f' The config expects {what} keypoints.' if what else ''
        raise PreflightValueError(
            f'{key}: {path} has {len(errors)} invalid annotation(s):\n'
            f'{_listing(errors)}\n{expected} MMPose would fail on these '
            'later (or, for NaN, evaluate garbage as matches): fix or remove '
            'these annotations, regenerate the file, or point the config at '
            'the annotation file of the right dataset.')
    if needs_instances and kept == 0:
        reasons = f' MMPose drops:\n{_listing(dropped)}\n' if dropped else ' '
        raise PreflightValueError(
            f'{key}: {path} has no person instance with a box and a '
            f'labelled keypoint (non-crowd) that MMPose keeps, so there is '
            f'nothing to train or evaluate on.{reasons}Is it the right '
            'annotation file? Boxes must overlap their image (x, y, w, h in '
            'pixels) and hold a labelled keypoint.')
    if dropped:
        warnings.warn(
            f'{key}: {path}: MMPose will drop {len(dropped)} annotation(s) '
            f'with labelled keypoints ({kept} kept):\n{_listing(dropped)}\n'
            'Fix their boxes if these persons should be trained or '
            'evaluated on.', stacklevel=3)


def check_annotation_files(cfg: Config,
                           phases=('train', 'val', 'test')) -> None:
    """Fail fast on an unreadable, invalid or empty JSON annotation file.

    A truncated download otherwise surfaces as a bare ``JSONDecodeError``
    (no file name) from the dataset, and an annotation file without any
    labelled person as ``need at least one array to concatenate``. Each JSON
    file (``ann_file``, ``bbox_file``, the evaluators' ``ann_file``) is parsed
    once. In COCO files every annotation is checked for what MMPose would
    only fail on later: a non-crowd annotation without ``keypoints`` (a
    ``KeyError`` in evaluation, after a whole training epoch), a keypoint
    count other than the config's K (``model.head.out_channels``, the
    dataset's metainfo: an ``IndexError`` in ``flip_keypoints``), and
    non-finite numbers (NaN, Infinity) in ``keypoints`` or ``bbox``, which
    the COCO evaluation counts as matches. The datasets' annotation files
    must hold an instance MMPose keeps (non-crowd, a labelled keypoint and a
    box with area inside its image) when the instances come from them
    (training, or evaluation on ground-truth boxes: no ``bbox_file``); boxes
    MMPose drops are listed in a warning. Run after :func:`check_data_paths`.

    Args:
        cfg (Config): the merged config.
        phases (tuple): which of train/val/test to check.

    Raises:
        ValueError: naming the file, its config key, the annotation ids and
            what is wrong and what to do.
    """
    checks = []  # (key, path, must hold instances, expected K)
    for phase in phases:
        loader = cfg.get(f'{phase}_dataloader')
        if not loader or not loader.get('dataset'):
            continue
        dataset = loader['dataset']
        num_keypoints = _config_num_keypoints(cfg, dataset)
        for key, path in _dataset_paths(f'{phase}_dataloader', dataset):
            if not key.endswith('data_prefix.img'):
                needs = (key.endswith('.ann_file')
                         and (phase == 'train' or not dataset.get('bbox_file'))
                         and dataset.get('data_mode', 'topdown') == 'topdown')
                checks.append((key, path, needs, num_keypoints))
        evaluator = cfg.get(f'{phase}_evaluator') if phase != 'train' else None
        for i, metric in enumerate(evaluator if isinstance(evaluator, list)
                                   else [evaluator] if evaluator else []):
            if metric.get('ann_file'):
                checks.append((f'{phase}_evaluator[{i}].ann_file',
                               metric['ann_file'], False, num_keypoints))
    parsed = {}
    checked = set()
    for key, path, needs, num_keypoints in checks:
        if not path.endswith('.json') or not osp.isfile(path):
            continue
        if path not in parsed:
            try:
                with open(path, 'rb') as f:
                    parsed[path] = json.load(f)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise PreflightValueError(
                    f'{key}: {path} is not valid JSON ({e}); the file is '
                    'probably truncated or corrupt: download or generate it '
                    'again.') from None
        data = parsed[path]
        if not (isinstance(data, dict) and 'images' in data):
            continue  # e.g. a bbox_file: a list of detections
        _check_synthetic_marker(data, key, path)
        signature = (path, needs, tuple(num_keypoints))
        if signature not in checked:
            checked.add(signature)
            _check_coco_annotations(data, key, path, num_keypoints, needs)


def _check_synthetic_marker(data: dict, key: str, path: str) -> None:
    """A file of mmipr's synthetic generator must sit in a complete
    generation (its marker lists the settings and every file)."""
    from mmipr.datasets import MARKER_FILE, read_marker
    info = data.get('info') or {}
    if not str(info.get('description', '')).startswith('mmipr synthetic'):
        return
    root = osp.dirname(osp.dirname(osp.abspath(path)))
    if read_marker(root) is None:
        raise PreflightValueError(
            f'{key}: {path} comes from mmipr\'s synthetic generator, but '
            f'{root} holds no complete generation (no valid {MARKER_FILE}: '
            'the generation was killed, or files were removed or made by an '
            'older mmipr). Regenerate it: python '
            f'tools/dataset/make_synthetic_coco.py {root} (with its '
            'settings).')


def check_amp_device(cfg: Config) -> None:
    """Fail fast when ``--amp`` (``AmpOptimWrapper``) is asked for on a CPU.

    MMEngine's ``AmpOptimWrapper`` uses ``torch.cuda.amp``'s gradient scaler
    and asserts a CUDA/NPU/MLU/MUSA device only once the Runner builds it.

    Args:
        cfg (Config): the merged config.

    Raises:
        RuntimeError: if the optimizer wrapper is ``AmpOptimWrapper`` and no
            such device is available.
    """
    optim_wrapper = cfg.get('optim_wrapper') or {}
    if optim_wrapper.get('type') not in ('AmpOptimWrapper', AmpOptimWrapper):
        return
    if not (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available()):
        raise PreflightRuntimeError(
            '--amp (AmpOptimWrapper) needs a CUDA, NPU, MLU or MUSA device; '
            'none is available here. Train in float32 on the CPU (drop '
            '--amp), or in bfloat16 with --cfg-options '
            'optim_wrapper.type=CPUAmpOptimWrapper.')


def check_train_length(cfg: Config) -> None:
    """Fail fast when ``train_cfg`` asks for no training at all.

    MMEngine accepts ``max_epochs=0`` (or ``max_iters=0``): it trains nothing,
    saves no checkpoint and exits 0.

    Args:
        cfg (Config): the merged config.

    Raises:
        ValueError: naming the key, its value and how to set it.
    """
    train_cfg = cfg.get('train_cfg') or {}
    for key in ('max_epochs', 'max_iters'):
        value = train_cfg.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise PreflightValueError(
                f'train_cfg.{key} is {value!r}: it must be a whole number of '
                'at least 1, or the run trains nothing and exits as if it '
                f'had succeeded. Set it with --cfg-options train_cfg.{key}=N.')


def checkpoint_problem(path: str) -> Optional[str]:
    """Why the local checkpoint ``path`` cannot be loaded, or None.

    Only cheap checks: the file exists, is not empty and, if it is a zip
    archive (``torch.save``'s format), has its end record (written last), so
    a file cut short by a kill during saving is caught without loading it.

    Args:
        path (str): a local file path.

    Returns:
        str | None: what is wrong (to follow "the checkpoint ..."), or None.
    """
    if not osp.exists(path):
        return 'does not exist'
    if not osp.isfile(path):
        return 'is not a file'
    if osp.getsize(path) == 0:
        return 'is empty (0 bytes)'
    with open(path, 'rb') as f:
        magic = f.read(4)
    if magic == b'PK\x03\x04' and not zipfile.is_zipfile(path):
        return ('is incomplete (a zip archive without its end record: its '
                'saving was cut short)')
    return None


def _complete_checkpoints(folder: str) -> List[str]:
    """The loadable-looking ``*.pth`` files of ``folder``, newest first."""
    paths = [p for p in glob.glob(osp.join(folder, '*.pth'))
             if checkpoint_problem(p) is None]
    return sorted(paths, key=osp.getmtime, reverse=True)


def check_resume(cfg: Config) -> None:
    """Fail fast, in words, when ``--resume`` has nothing valid to resume.

    With ``--resume`` alone MMEngine reads ``<work_dir>/last_checkpoint``:
    when that is empty it loads the path ``''``, when it names a missing or
    truncated file it fails with a traceback from deep inside the loader.
    (No ``last_checkpoint`` at all is fine: the run starts from scratch, as
    MMEngine does.) ``--resume PATH`` gets the same checks of ``PATH``; URLs
    are not checked.

    Args:
        cfg (Config): the merged config (``resume``, ``load_from``,
            ``work_dir``).

    Raises:
        FileNotFoundError: naming the file, what is wrong with it and the
            newest complete checkpoint in ``work_dir`` to resume from.
    """
    if not cfg.get('resume'):
        return
    work_dir = cfg.get('work_dir') or '.'
    record = osp.join(work_dir, 'last_checkpoint')
    load_from = cfg.get('load_from')
    if load_from is not None:
        if '://' in str(load_from):
            return
        problem = checkpoint_problem(str(load_from))
        if problem is None:
            return
        message = f'the checkpoint {load_from} {problem}'
    else:
        if not osp.isfile(record):
            return
        with open(record) as f:
            target = f.read().strip()
        if not target:
            message = (f'{record} is empty (was the run killed while writing '
                       'it?)')
        else:
            problem = checkpoint_problem(target)
            if problem is None:
                return
            message = f'{record} names {target}, which {problem}'
    found = _complete_checkpoints(work_dir)
    if found:
        hint = (f'The newest complete checkpoint in {work_dir} is '
                f'{found[0]}: resume from it with --resume {found[0]}')
        if load_from is None:
            hint += f', or write that path into {record}'
        hint += '.'
    else:
        hint = (f'No complete checkpoint is left in {work_dir}: train from '
                'scratch (without --resume'
                + (f', or after deleting {record}' if load_from is None
                   else '') + ').')
    raise PreflightFileNotFoundError(f'Cannot resume: {message}. {hint}')
