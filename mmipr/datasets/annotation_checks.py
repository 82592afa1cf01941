"""Checks of a config's annotation files and images before training or testing.

What MMPose would only fail on later, found by reading the files once:
invalid JSON, annotations MMPose cannot use (no ``keypoints``, another
keypoint count, NaN or Infinity), a split left without an instance, a
detection file without a usable box, and images that are missing or do not
decode (a truncated download). Each problem is named with its file, config
key, annotation or image and what to do (:class:`PreflightValueError`,
:class:`PreflightFileNotFoundError`). ``tools/train.py`` and
``tools/test.py`` run :func:`check_annotation_files` before the Runner
starts.

MMPose's instance-drop rules (``BaseCocoStyleDataset.parse_data_info`` and
``_is_valid_instance``) are mirrored in :func:`dropped_by_mmpose`, which a
test compares with MMPose's own dataset.
"""
from __future__ import annotations

import json
import math
import os.path as osp
import warnings
from typing import List, Optional, Tuple

import numpy as np

from mmipr.utils.errors import PreflightFileNotFoundError, PreflightValueError

from .data_files import ANN_FILE, BBOX_FILE, IMAGE_DIR, DataFile, config_data_files
from .synthetic_coco import MARKER_FILE, read_marker

#: at most this many problems are listed per file (and the count of the rest)
MAX_LISTED = 10


#: pipeline transforms whose targets are not keypoints: with one of them, the
#: head's ``out_channels`` counts target maps (the neutral pretrainings:
#: 1 silhouette, or one map per body-part class), not keypoints
NON_KEYPOINT_TARGETS = ('GenerateSilhouetteTarget', 'GeneratePartTarget')


def _config_num_keypoints(cfg, dataset: dict) -> List[Tuple[str, int]]:
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


def _is_wholebody_hand(dataset: dict) -> bool:
    """Whether ``dataset`` (a config's dataset dict) is MMPose's
    ``CocoWholeBodyHandDataset`` (or a subclass), which reads the hands of
    COCO-WholeBody annotations instead of their body ``keypoints``."""
    from mmpose.datasets import CocoWholeBodyHandDataset
    from mmpose.registry import DATASETS
    dataset_type = DATASETS.get(dataset.get('type'))
    return isinstance(dataset_type, type) and issubclass(
        dataset_type, CocoWholeBodyHandDataset)


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


def dropped_by_mmpose(ann: dict, img: dict) -> Optional[str]:
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


def _keypoints_problem(kpts, field: str,
                       num_keypoints: List[Tuple[str, int]]) -> Optional[str]:
    """What is wrong with the keypoint list ``kpts`` of the annotation field
    ``field`` (not x, y, v triples, another count than the config's K, a
    NaN or Infinity), or None."""
    if not isinstance(kpts, list) or len(kpts) % 3:
        return f'{field} is not a list of x, y, v triples'
    wrong = [f'{src} says {k}' for src, k in num_keypoints
             if k != len(kpts) // 3]
    if wrong:
        return (f'{len(kpts) // 3} keypoints in {field}, but '
                + ' and '.join(wrong))
    if not _all_finite(kpts):
        return (f'non-finite or non-numeric values (NaN, Infinity) in '
                f'{field}')
    return None


def _bbox_problem(bbox, field: str) -> Optional[str]:
    """What is wrong with the box ``bbox`` (x, y, w, h) of the annotation
    field ``field``, or None."""
    if isinstance(bbox, list) and len(bbox) == 4 and _all_finite(bbox):
        return None
    return (f'non-finite or non-numeric values (NaN, Infinity) in {field} '
            f'{bbox}, or not the 4 numbers x, y, w, h')


#: the sides of a COCO-WholeBody annotation's hands: ``{side}hand_kpts``,
#: ``{side}hand_valid``, ``{side}hand_box``
HAND_SIDES = ('left', 'right')


def _wholebody_hands(ann: dict, num_keypoints: List[Tuple[str, int]]
                     ) -> Tuple[int, Optional[str]]:
    """How many hands MMPose's ``CocoWholeBodyHandDataset`` reads from the
    COCO-WholeBody annotation ``ann`` (a side whose ``{side}hand_valid`` is
    true and whose ``{side}hand_kpts`` has a coordinate > 0, each an
    instance with the box ``{side}hand_box``), and what is wrong with it
    (a field MMPose reads missing or invalid), or None."""
    hands = 0
    for side in HAND_SIDES:
        valid, kpts, box = (f'{side}hand_valid', f'{side}hand_kpts',
                            f'{side}hand_box')
        if valid not in ann:
            return 0, (f"no '{valid}' (a COCO-WholeBody hand annotation has "
                       f"{', '.join(f'{s}hand_valid' for s in HAND_SIDES)}, "
                       '*hand_kpts and *hand_box)')
        if not ann[valid]:
            continue
        if kpts not in ann:
            return 0, f"{valid} is true but there is no '{kpts}'"
        problem = _keypoints_problem(ann[kpts], kpts, num_keypoints)
        if problem:
            return 0, problem
        if max(ann[kpts]) <= 0:  # MMPose skips it as unlabelled
            continue
        problem = _bbox_problem(ann.get(box), box)
        if problem:
            return 0, problem
        hands += 1
    return hands, None


def _check_coco_annotations(data: dict, key: str, path: str,
                            num_keypoints: List[Tuple[str, int]],
                            needs_instances: bool,
                            wholebody_hand: bool = False) -> None:
    """Check each annotation of the parsed COCO file ``data`` (see
    :func:`check_annotation_files`); warn about boxes MMPose drops. With
    ``wholebody_hand``, the instances are the hands of COCO-WholeBody
    annotations, read as MMPose's ``CocoWholeBodyHandDataset`` reads them
    (:func:`_wholebody_hands`)."""
    errors = []
    dropped = []
    kept = 0
    images = {img.get('id'): img for img in data.get('images') or []
              if isinstance(img, dict)}
    for i, ann in enumerate(data.get('annotations') or []):
        name = f"annotation id {ann.get('id', f'#{i}')} " \
            f"(image {ann.get('image_id')})"
        crowd = bool(ann.get('iscrowd', 0))
        if wholebody_hand:
            if crowd:  # MMPose reads the non-crowd annotations only
                continue
            hands, problem = _wholebody_hands(ann, num_keypoints)
            if problem:
                errors.append(f'{name}: {problem}')
            elif needs_instances and ann.get('image_id') in images:
                kept += hands
            continue
        kpts = ann.get('keypoints')
        if kpts is None:
            if not crowd:
                errors.append(f"{name}: no 'keypoints'")
            continue
        problem = _keypoints_problem(kpts, 'keypoints', num_keypoints)
        bbox = ann.get('bbox')
        if problem is None and bbox is not None:
            problem = _bbox_problem(bbox, 'bbox')
        if problem:
            errors.append(f'{name}: {problem}')
            continue
        if needs_instances and not crowd and ann.get('image_id') in images:
            why = dropped_by_mmpose(ann, images[ann['image_id']])
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
    if needs_instances and kept == 0 and wholebody_hand:
        raise PreflightValueError(
            f'{key}: {path} has no hand that CocoWholeBodyHandDataset reads '
            '(a non-crowd annotation with lefthand_valid or righthand_valid '
            'true, a labelled keypoint in its lefthand_kpts or righthand_kpts '
            'and an image the file lists), so there is nothing to train or '
            'evaluate on. Is it the COCO-WholeBody annotation file '
            '(coco_wholebody_{train,val}_v1.0.json)?')
    if needs_instances and kept == 0:
        reasons = f' MMPose drops:\n{_listing(dropped)}\n' if dropped else ' '
        raise PreflightValueError(
            f'{key}: {path} has no person instance with a box and a '
            f'labelled keypoint (non-crowd) that MMPose keeps, so there is '
            f'nothing to train or evaluate on.{reasons}Is it the right '
            'annotation file? Boxes must overlap their image (x, y, w, h in '
            'pixels) and hold a labelled keypoint. An empty split of '
            "mmipr's synthetic data: generate it again with images "
            '(make_synthetic_coco.py --num-train N --num-val N, N >= 1).')
    if dropped:
        warnings.warn(
            f'{key}: {path}: MMPose will drop {len(dropped)} annotation(s) '
            f'with labelled keypoints ({kept} kept):\n{_listing(dropped)}\n'
            'Fix their boxes if these persons should be trained or '
            'evaluated on.', stacklevel=3)


#: images of each annotation file decoded at preflight: all of them up to
#: this many, else this many spread evenly over the file (COCO's 118k
#: training images would take minutes; a sample finds a damaged download)
DECODED_IMAGES = 500


def check_annotation_files(cfg, phases=('train', 'val', 'test'),
                           decoded_images: int = DECODED_IMAGES) -> None:
    """Fail fast on an unreadable, invalid or empty annotation file, a
    detection file without a usable box, and missing or corrupt images.

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
    MMPose drops are listed in a warning. A ``bbox_file`` must hold a person
    detection (category 1, score at least ``filter_cfg.bbox_score_thr``) on
    an image of its ``ann_file``, and every detection's image must be one of
    the file's. Every image a dataset's ``ann_file`` lists must exist in its
    image folder, and ``decoded_images`` of them (all, if there are no more)
    must decode as MMPose's ``LoadImage`` decodes them (``mmcv.imfrombytes``);
    otherwise training stops at the first bad one with "Please check whether
    the file exists" for a file that exists. Run after
    :func:`mmipr.engine.preflight.check_data_paths`.

    Args:
        cfg (Config): the merged config.
        phases (tuple): which of train/val/test to check.
        decoded_images (int): images decoded per annotation file (0: none).

    Raises:
        PreflightValueError: (a ``ValueError``) naming the file, its config
            key, the annotation ids or images, what is wrong and what to do.
        PreflightFileNotFoundError: (a ``FileNotFoundError``) naming the
            images missing from an image folder.
    """
    files = config_data_files(cfg, phases)
    parsed = {}
    checked = set()
    for data_file in files:
        path = data_file.path
        if data_file.kind == IMAGE_DIR or not path.endswith('.json') \
                or not osp.isfile(path):
            continue
        data = _parse_json(data_file, parsed)
        if data_file.kind == BBOX_FILE:
            ann_file = _sibling(files, data_file, ANN_FILE)
            if ann_file is not None and osp.isfile(ann_file.path):
                _check_detections(data, data_file,
                                  _parse_json(ann_file, parsed), ann_file)
            continue
        if not (isinstance(data, dict) and 'images' in data):
            continue
        _check_synthetic_marker(data, data_file.key, path)
        dataset = data_file.dataset
        num_keypoints = _config_num_keypoints(cfg, dataset)
        needs = (data_file.kind == ANN_FILE
                 and (data_file.phase == 'train'
                      or not dataset.get('bbox_file'))
                 and dataset.get('data_mode', 'topdown') == 'topdown')
        signature = (path, needs, tuple(num_keypoints))
        if signature not in checked:
            checked.add(signature)
            _check_coco_annotations(data, data_file.key, path, num_keypoints,
                                    needs, _is_wholebody_hand(dataset))
        image_dir = _sibling(files, data_file, IMAGE_DIR)
        if data_file.kind == ANN_FILE and image_dir is not None \
                and osp.isdir(image_dir.path) \
                and (path, image_dir.path) not in checked:
            checked.add((path, image_dir.path))
            _check_images(data, data_file, image_dir, decoded_images)


def _parse_json(data_file: DataFile, parsed: dict):
    """The parsed JSON of ``data_file`` (parsed once per call)."""
    path = data_file.path
    if path not in parsed:
        try:
            with open(path, 'rb') as f:
                parsed[path] = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise PreflightValueError(
                f'{data_file.key}: {path} is not valid JSON ({e}); the file '
                'is probably truncated or corrupt: download or generate it '
                'again.') from None
    return parsed[path]


def _sibling(files: List[DataFile], data_file: DataFile,
             kind: str) -> Optional[DataFile]:
    """The file of ``kind`` of the same phase's dataset."""
    return next((f for f in files
                 if f.phase == data_file.phase and f.kind == kind), None)


def _check_detections(detections, data_file: DataFile, ann_data,
                      ann_file: DataFile) -> None:
    """A ``bbox_file`` must be a list of detections with a usable person box
    on an image of the annotation file (what MMPose's
    ``_load_detection_results`` and ``filter_data`` keep)."""
    key, path = data_file.key, data_file.path
    if not isinstance(detections, list) or not all(
            isinstance(d, dict) for d in detections):
        raise PreflightValueError(
            f'{key}: {path} is not a list of detections (dicts with '
            'image_id, category_id, bbox and score), as a COCO detection '
            'result file is: point bbox_file at the detection results, or '
            'set it to None to evaluate on ground-truth boxes.')
    images = {img.get('id') for img in (ann_data or {}).get('images') or []
              if isinstance(img, dict)}
    unknown = [f"detection #{i} (image_id {d.get('image_id')})"
               for i, d in enumerate(detections)
               if d.get('category_id') == 1 and d.get('image_id') not in images]
    if unknown:
        raise PreflightValueError(
            f'{key}: {path} has {len(unknown)} person detection(s) on images '
            f'that {ann_file.key} ({ann_file.path}) does not list:\n'
            f'{_listing(unknown)}\nThe detections belong to another dataset '
            'or split: use the detection file of this annotation file.')
    threshold = (data_file.dataset.get('filter_cfg') or {}).get(
        'bbox_score_thr', -math.inf)
    usable = sum(1 for d in detections if d.get('category_id') == 1
                 and isinstance(d.get('score'), (int, float))
                 and d['score'] >= threshold)
    if usable == 0:
        raise PreflightValueError(
            f'{key}: {path} holds no person detection (category_id 1'
            + ('' if threshold == -math.inf
               else f', score >= filter_cfg.bbox_score_thr={threshold}')
            + f') on the {len(images)} image(s) of {ann_file.path}, so there '
            'is nothing to evaluate (MMPose would stop with "need at least '
            'one array to concatenate"). Is the split empty? Regenerate it '
            'with images (a synthetic dataset: make_synthetic_coco.py '
            '--num-val N with N >= 1), point bbox_file at this split\'s '
            'detections, or set it to None to evaluate on ground-truth '
            'boxes.')


def _check_images(data: dict, ann_file: DataFile, image_dir: DataFile,
                  decoded_images: int) -> None:
    """Every image ``data`` lists exists in ``image_dir``; a sample of them
    (all, up to ``decoded_images``) decodes."""
    import mmcv
    names = [img.get('file_name') for img in data.get('images') or []
             if isinstance(img, dict) and img.get('file_name')]
    paths = [osp.join(image_dir.path, name) for name in names]
    missing = [p for p in paths if not osp.isfile(p)]
    if missing:
        raise PreflightFileNotFoundError(
            f'{image_dir.key}: {len(missing)} of the {len(paths)} images '
            f'{ann_file.path} lists are missing from {image_dir.path}:\n'
            f'{_listing(missing)}\nDownload or generate the images again, or '
            'point data_prefix.img at the folder that holds them.')
    if decoded_images <= 0 or not paths:
        return
    if len(paths) > decoded_images:
        picks = np.linspace(0, len(paths) - 1, decoded_images).round()
        paths = [paths[int(i)] for i in np.unique(picks)]
    corrupt = []
    for path in paths:
        with open(path, 'rb') as f:
            content = f.read()
        try:
            image = mmcv.imfrombytes(content)
        except Exception as e:  # a decoder that raises instead of None
            corrupt.append(f'{path} ({e})')
            continue
        if image is None:
            corrupt.append(f'{path} ({len(content)} bytes)')
    if corrupt:
        raise PreflightValueError(
            f'{image_dir.key}: {len(corrupt)} of the {len(paths)} images '
            f'decoded in {image_dir.path} are corrupt (they exist but do not '
            f'decode as an image: truncated or damaged):\n{_listing(corrupt)}'
            '\nDownload or generate these images again (a synthetic dataset: '
            'make_synthetic_coco.py with its settings).')


def _check_synthetic_marker(data: dict, key: str, path: str) -> None:
    """A file of mmipr's synthetic generator must sit in a complete
    generation (its marker lists the settings and every file)."""
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
