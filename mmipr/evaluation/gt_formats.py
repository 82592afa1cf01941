"""Ground-truth formats of DifficultySplitCocoMetric (``gt_format``).

``'coco'``: a COCO keypoint annotation file, evaluated as it is.

``'coco_wholebody_hand'``: a COCO-WholeBody annotation file evaluated on its
hands, as MMPose's ``CocoWholeBodyHandDataset`` loads them (21 keypoints per
hand, one data sample per valid hand). CocoMetric cannot evaluate it (its
``keypoints`` are the 17 body keypoints; mmpose#2380):
:func:`wholebody_hand_to_coco` turns it into a COCO keypoint file with one
instance per valid hand. Its decisions (``docs/metric.md``, section
COCO-WholeBody-Hand):

- **Instances and ids** mirror ``CocoWholeBodyHandDataset._load_annotations``
  (MMPose 1.x): images in ``COCO.getImgIds()`` order, each image's non-crowd
  person annotations in file order, the left hand before the right; a hand
  is valid when ``{side}hand_valid`` is true and ``max({side}hand_kpts) > 0``
  (the maximum over the flat ``[x, y, v, ...]`` list). The instance id is the
  dataset's ``id`` + 1: the dataset counts from 0, and COCO's evaluation
  takes an id of 0 as "unmatched" (pycocotools, faster-coco-eval).
- **Keypoints** are ``{side}hand_kpts`` as annotated. Their third value is
  a confidence in [0, 1], not COCO's visibility flag: ``v > 0`` is a
  labelled keypoint (as xtcocotools' ``keypoints_lefthand`` evaluation and
  the joints factor count it), ``num_keypoints`` is their number.
- **Box**: ``{side}hand_box``. **Area** (the OKS scale): the person's
  ``area``, as xtcocotools' ``keypoints_lefthand``/``keypoints_righthand``
  evaluation uses (its ``computeOks`` reads ``gt['area']`` of the person
  annotation).
- **Category** 1 (MMPose's hand data samples carry no ``category_id``, and
  ``CocoMetric`` gives them 1).
- **Difficulty factors** (:data:`FORMAT_FACTORS`): joints present (bounds
  ``round(5 * 21 / 17) = 6`` and ``round(10 * 21 / 17) = 12``) and size
  (``max(w, h)`` of the hand box, the body bounds 64 and 128 px, not
  validated on real hands); no occlusion factor (no visibility flag).

A prediction is paired with the hand it was made for by its image and box
(:func:`match_box`, within :data:`BOX_TOLERANCE` px): the hand data samples
carry no ``raw_ann_info``, but with ground-truth boxes their box is the hand
box (as float32).

Pure Python (numpy only, no MMPose import), like
:mod:`mmipr.evaluation.splits`.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from .splits import FACTORS

#: values of ``gt_format``
GT_FORMATS = ('coco', 'coco_wholebody_hand')
#: the difficulty factors of each format
FORMAT_FACTORS = {
    'coco': FACTORS,
    # the hand's third value is a confidence, not a visibility flag
    'coco_wholebody_hand': ('joints', 'size'),
}
#: keypoints of a COCO-WholeBody hand
HAND_NUM_KEYPOINTS = 21
#: the sides, in the order MMPose's dataset visits them
HAND_SIDES = ('left', 'right')
#: a prediction's box pairs with a hand box when every coordinate (x, y, w,
#: h) is within this many pixels (float32 boxes of up to ~10^4 px round by
#: less than 10^-3)
BOX_TOLERANCE = 0.01


def valid_hand(ann: dict, side: str) -> bool:
    """Whether MMPose's ``CocoWholeBodyHandDataset`` keeps a hand:
    ``ann[f'{side}hand_valid'] and max(ann[f'{side}hand_kpts']) > 0``.

    Args:
        ann (dict): a COCO-WholeBody person annotation.
        side (str): ``'left'`` or ``'right'``.

    Returns:
        bool: kept.
    """
    missing = [k for k in (f'{side}hand_valid', f'{side}hand_kpts')
               if k not in ann]
    if missing:
        raise ValueError(
            f'annotation {ann.get("id")} has no {" or ".join(missing)}: '
            "gt_format='coco_wholebody_hand' needs a COCO-WholeBody "
            'annotation file')
    return bool(ann[f'{side}hand_valid']) and max(
        ann[f'{side}hand_kpts']) > 0


def wholebody_hand_to_coco(wholebody: dict) -> dict:
    """COCO-WholeBody annotations as a COCO keypoint file of hands.

    One instance per valid hand (:func:`valid_hand`) of every non-crowd
    person, in the order and with the ids of MMPose's
    ``CocoWholeBodyHandDataset`` (its ``id`` + 1); see the module doc.

    Args:
        wholebody (dict): the COCO-WholeBody annotation file's content.

    Returns:
        dict: ``images`` (as given), ``annotations`` (each with ``id``,
        ``image_id``, ``category_id`` 1, ``keypoints`` (63 values),
        ``num_keypoints``, ``bbox`` (the hand box), ``area`` (the person's),
        ``iscrowd`` 0, and ``person_id`` and ``hand`` (the side) for
        reference) and ``categories`` (one, ``'hand'``).

    Raises:
        ValueError: a person without the hand fields (not COCO-WholeBody),
            a valid hand without 21 keypoints or without a box.
    """
    # what xtcocotools' COCO index gives MMPose's loop: images by id (first
    # position, last content), each image's annotations in file order,
    # looked up by id (the last annotation of an id)
    images = {img['id']: img for img in wholebody.get('images', [])}
    by_id, of_image = {}, defaultdict(list)
    for ann in wholebody.get('annotations', []):
        of_image[ann['image_id']].append(ann['id'])
        by_id[ann['id']] = ann
    hands = []
    for img_id in images:
        for ann in (by_id[i] for i in of_image.get(img_id, [])):
            if ann.get('iscrowd', 0):
                continue  # getAnnIds(imgIds=img_id, iscrowd=False)
            for side in HAND_SIDES:
                if not valid_hand(ann, side):
                    continue
                kpts = [float(v) for v in ann[f'{side}hand_kpts']]
                box = [float(v) for v in ann.get(f'{side}hand_box') or ()]
                if len(kpts) != 3 * HAND_NUM_KEYPOINTS or len(box) != 4:
                    raise ValueError(
                        f'annotation {ann["id"]}: a valid {side} hand needs '
                        f'{3 * HAND_NUM_KEYPOINTS} keypoint values and a '
                        f'box of 4, got {len(kpts)} and {len(box)}')
                hands.append({
                    'id': len(hands) + 1,
                    'image_id': ann['image_id'],
                    'category_id': 1,
                    'keypoints': kpts,
                    'num_keypoints': int(sum(v > 0 for v in kpts[2::3])),
                    'bbox': box,
                    'area': float(ann['area']),
                    'iscrowd': 0,
                    'person_id': ann['id'],
                    'hand': side,
                })
    return {
        'images': list(images.values()),
        'annotations': hands,
        'categories': [{
            'id': 1, 'name': 'hand', 'supercategory': 'person',
            'keypoints': [str(k) for k in range(HAND_NUM_KEYPOINTS)],
            'skeleton': []}],
    }


def convert(data: dict, gt_format: str) -> dict:
    """An annotation file's content as a COCO keypoint file.

    Args:
        data (dict): the file's content.
        gt_format (str): one of :data:`GT_FORMATS`.

    Returns:
        dict: ``data`` itself for ``'coco'``, else its conversion.
    """
    check_gt_format(gt_format)
    if gt_format == 'coco_wholebody_hand':
        return wholebody_hand_to_coco(data)
    return data


def check_gt_format(gt_format) -> str:
    """``gt_format``, checked.

    Raises:
        ValueError: not one of :data:`GT_FORMATS` (naming them).
    """
    if not isinstance(gt_format, str) or gt_format not in GT_FORMATS:
        raise ValueError(f'gt_format must be one of {list(GT_FORMATS)}, got '
                         f'{gt_format!r}')
    return gt_format


def match_box(box: Sequence[float], anns: Sequence[dict],
              prefer_id: int | None = None,
              tolerance: float = BOX_TOLERANCE) -> int | None:
    """The annotation whose box is ``box``, within ``tolerance`` px.

    Args:
        box (Sequence[float]): a prediction's box (x, y, w, h).
        anns (Sequence[dict]): the candidate annotations (one image's).
        prefer_id (int, optional): among several matches, this id if it is
            one of them (MMPose's sample id + 1), else the first.
        tolerance (float): the largest difference of any coordinate.

    Returns:
        int or None: the annotation id; None when no box matches.
    """
    box = np.asarray(box, np.float64).reshape(-1)
    if box.shape != (4,) or not np.isfinite(box).all():
        return None
    found = [a['id'] for a in anns
             if np.abs(np.asarray(a['bbox'], np.float64) - box).max()
             <= tolerance]
    if prefer_id is not None and prefer_id in found:
        return prefer_id
    return found[0] if found else None
