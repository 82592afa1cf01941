"""``CachedLoadImage``: MMPose's ``LoadImage`` that decodes each file once;
``GenerateSilhouetteTarget`` and ``GeneratePartTarget``: the neutral
pretrainings' targets (the instance's silhouette, its body parts).

A top-down dataset yields one sample per person, so an image with n people is
read and decoded n times per epoch, and again every epoch. On a small dataset
and a CPU, that decoding is a large share of an iteration
(docs/synthetic_data.md, Learnability).

This module imports MMPose; ``import mmipr`` imports it after
:mod:`mmipr.compat` has made MMPose importable. The rest of
:mod:`mmipr.datasets` (the generator) does not import MMPose.
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np
from mmcv.image import imflip
from mmcv.transforms import BaseTransform
from mmpose.datasets.transforms import LoadImage
from mmpose.registry import TRANSFORMS
from mmpose.structures.bbox import get_udp_warp_matrix, get_warp_matrix

from mmipr.utils.validation import InvalidArgumentError, check_bool, check_number

from .synthetic_body import PART_CLASSES, PART_FLIP_INDICES
from .synthetic_coco import part_map_path


@TRANSFORMS.register_module()
class CachedLoadImage(LoadImage):
    """Load an image as :class:`mmpose.datasets.transforms.LoadImage` does,
    keeping decoded images in memory, keyed by ``img_path``.

    Cached arrays are read-only: a later transform that tried to change one in
    place would raise instead of corrupting every later sample of that image
    (MMPose's top-down transforms return new arrays). Each dataloader worker
    process holds its own cache, so with ``num_workers=k`` the memory used is
    up to ``k * max_cache_mb``; give the workers ``persistent_workers=True``
    or the cache is rebuilt every epoch.

    Args:
        max_cache_mb (float): Most megabytes (2**20 bytes) of decoded images
            kept; images read once the cache is full are decoded every time.
            Defaults to 4096.
        **kwargs: :class:`LoadImage`'s arguments (``to_float32``,
            ``color_type``, ``imdecode_backend``, ``backend_args``,
            ``ignore_empty``).
    """

    def __init__(self, max_cache_mb: float = 4096, **kwargs) -> None:
        check_number('CachedLoadImage', 'max_cache_mb', max_cache_mb, low=0,
                     hint='megabytes of decoded images kept; 0 caches '
                     'nothing (the same as LoadImage)')
        super().__init__(**kwargs)
        self.max_cache_bytes = int(max_cache_mb * 2**20)
        self._cache: dict[str, np.ndarray] = {}
        self._cached_bytes = 0

    def transform(self, results: dict) -> Optional[dict]:
        """Put the cached image of ``results['img_path']`` into ``results``
        (decoding and caching it on first use), then run ``LoadImage``.

        Args:
            results (dict): The result dict, with ``img_path``.

        Returns:
            dict | None: The result dict with ``img`` (H, W, C),
            ``img_shape`` and ``ori_shape``; None where ``LoadImage`` gives
            None (``ignore_empty``).
        """
        path = results.get('img_path')
        if 'img' in results or path is None:
            return super().transform(results)
        cached = self._cache.get(path)
        if cached is not None:
            results['img'] = cached
            return super().transform(results)
        results = super().transform(results)
        if results is None:
            return None
        img = results['img']
        if self._cached_bytes + img.nbytes <= self.max_cache_bytes:
            img.setflags(write=False)
            self._cache[path] = img
            self._cached_bytes += img.nbytes
        return results

    def __repr__(self) -> str:
        return (super().__repr__()[:-1] +
                f', max_cache_mb={self.max_cache_bytes / 2**20:g})')


def _check_heatmap_size(owner: str, heatmap_size) -> tuple[int, int]:
    """``heatmap_size`` as (width, height) ints, or a clear error."""
    if not isinstance(heatmap_size, (list, tuple)) or len(heatmap_size) != 2:
        raise InvalidArgumentError(
            f'{owner}: heatmap_size must be (width, height), two whole '
            f'numbers >= 1, got {heatmap_size!r}')
    for side in heatmap_size:
        check_number(owner, 'heatmap_size', side, integer=True, low=1,
                     hint='(width, height) of the target in pixels')
    return tuple(int(v) for v in heatmap_size)


def instance_mask(results: dict, owner: str) -> np.ndarray:
    """The instance's silhouette in image coordinates, from its COCO polygons
    (their union: each polygon filled on its own).

    Args:
        results (dict): with ``segmentation`` and ``ori_shape``.
        owner (str): the transform, for the error message.

    Returns:
        np.ndarray: (H, W) uint8, 255 inside, 0 outside.
    """
    polygons = results.get('segmentation')
    if not isinstance(polygons, list):
        raise ValueError(
            f'{owner} needs COCO polygons in "segmentation" (got '
            f'{type(polygons).__name__}) for {results.get("img_path")}; RLE '
            'masks and instances without segmentation are not supported')
    height, width = results['ori_shape'][:2]
    mask = np.zeros((height, width), np.uint8)
    for polygon in polygons:
        points = np.asarray(polygon, np.float64).reshape(-1, 2)
        cv2.fillPoly(mask, [points.round().astype(np.int32)], 255)
    return mask


def warp_to_heatmap(image_map: np.ndarray, results: dict,
                    heatmap_size: tuple[int, int], use_udp: bool,
                    interpolation: int) -> np.ndarray:
    """Bring a map in image coordinates into the heatmap frame, as
    ``RandomFlip`` and ``TopdownAffine`` brought the image into the input:
    flipped if the sample was, then warped by the affine transform of the
    input centre and scale and the box rotation, scaled to ``heatmap_size``.

    .. math::
        M_{hm} = \\mathrm{warp}_{A(c, s, r, (w_h, h_h))}(\\mathrm{flip}(M_{img}))

    Args:
        image_map (np.ndarray): (H, W) map of the original image.
        results (dict): with ``input_center``, ``input_scale`` and, if
            present, ``bbox_rotation``, ``flip`` and ``flip_direction``.
        heatmap_size (tuple[int, int]): (width, height) of the output.
        use_udp (bool): warp as ``TopdownAffine(use_udp=True)`` does.
        interpolation (int): OpenCV's flag (``cv2.INTER_LINEAR`` for a mask,
            ``cv2.INTER_NEAREST`` for class labels).

    Returns:
        np.ndarray: (h, w) map of ``image_map``'s dtype.
    """
    if results.get('flip'):
        image_map = imflip(image_map, direction=results['flip_direction'])
    rotation = results['bbox_rotation'][0] if 'bbox_rotation' in results \
        else 0.
    warp_matrix = get_udp_warp_matrix if use_udp else get_warp_matrix
    warp = warp_matrix(results['input_center'], results['input_scale'],
                       rotation, output_size=heatmap_size)
    return cv2.warpAffine(image_map, warp, heatmap_size, flags=interpolation)


@TRANSFORMS.register_module()
class GenerateSilhouetteTarget(BaseTransform):
    """The instance's silhouette mask in heatmap coordinates: the target of
    the study's neutral backbone pretraining (``configs/synthetic/
    pretrain_r18_silhouette.py``), a task neither keypoint head is trained on.

    The mask is rasterised from the instance's COCO polygons in image
    coordinates (:func:`instance_mask`), flipped as ``RandomFlip`` flipped
    the image, then warped by the affine transform that ``TopdownAffine``
    applied to the image, scaled to ``heatmap_size`` (:func:`warp_to_heatmap`,
    bilinear). Place it after ``TopdownAffine``.

    Required Keys:

        - segmentation (list of COCO polygons, image coordinates)
        - ori_shape
        - input_center
        - input_scale
        - bbox_rotation (optional)
        - flip, flip_direction (optional)

    Added Keys:

        - heatmaps: (1, h, w) float32 in [0, 1] (bilinear at the edges; all
          zeros for an instance whose polygons are empty)
        - keypoint_weights: (1, 1) ones (MMPose's ``HeatmapHead`` reads them)

    Args:
        heatmap_size (tuple[int, int]): (width, height) of the target.
        use_udp (bool): warp as ``TopdownAffine(use_udp=True)`` does.
            Default: False.
    """

    def __init__(self, heatmap_size: tuple[int, int],
                 use_udp: bool = False) -> None:
        super().__init__()
        self.heatmap_size = _check_heatmap_size(type(self).__name__,
                                                heatmap_size)
        check_bool(type(self).__name__, 'use_udp', use_udp)
        self.use_udp = use_udp

    def transform(self, results: dict) -> dict:
        """Add the silhouette target of ``results``' instance.

        Args:
            results (dict): The result dict (see Required Keys).

        Returns:
            dict: ``results`` with ``heatmaps`` and ``keypoint_weights``.
        """
        mask = instance_mask(results, type(self).__name__)
        target = warp_to_heatmap(mask, results, self.heatmap_size,
                                 self.use_udp, cv2.INTER_LINEAR)
        results['heatmaps'] = (target.astype(np.float32) / 255.)[None]
        results['keypoint_weights'] = np.ones((1, 1), np.float32)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(heatmap_size={self.heatmap_size}, '
                f'use_udp={self.use_udp})')


@TRANSFORMS.register_module()
class GeneratePartTarget(BaseTransform):
    """The instance's body parts in heatmap coordinates, one channel per
    class: the target of the part-segmentation pretraining
    (``configs/synthetic/pretrain_r18_parts.py``), which supervises no
    keypoint, joint heatmap or coordinate.

    The synthetic generator writes, beside each image, its part map
    (:func:`~mmipr.datasets.synthetic_coco.part_map_path`): every person's
    parts painted far to near with the renderer's own shapes, each pixel the
    :data:`~mmipr.datasets.synthetic_body.PART_CLASSES` index of the part on
    top, 0 where no one is or an occluder object covers. The instance's
    target is that map inside its (amodal) silhouette (:func:`instance_mask`)
    and background outside: its own parts where they are visible, and what
    covers them (another person's part, or background under an occluder)
    where they are hidden. It is flipped as ``RandomFlip`` flipped the image,
    its left and right classes then swapped (``flip_indices``, as MMPose
    swaps left and right keypoints), and warped as ``TopdownAffine`` warped
    the image, by nearest neighbour (:func:`warp_to_heatmap`).

    Place it after ``TopdownAffine``.

    Required Keys:

        - img_path (its part map is read from :func:`part_map_path`)
        - segmentation (list of COCO polygons, image coordinates)
        - ori_shape
        - input_center
        - input_scale
        - bbox_rotation (optional)
        - flip, flip_direction (optional)

    Added Keys:

        - heatmaps: (C, h, w) float32 one-hot class map (C = ``num_classes``)
        - keypoint_weights: (1, C) ones (MMPose's ``HeatmapHead`` reads them)

    Args:
        heatmap_size (tuple[int, int]): (width, height) of the target.
        num_classes (int): classes of the part maps, background included.
            Default: ``len(PART_CLASSES)`` (11).
        flip_indices (list[int], optional): the class each class becomes in
            a mirrored image. Default: the generator's
            :data:`~mmipr.datasets.synthetic_body.PART_FLIP_INDICES`.
        use_udp (bool): warp as ``TopdownAffine(use_udp=True)`` does.
            Default: False.
    """

    def __init__(self, heatmap_size: tuple[int, int],
                 num_classes: int = len(PART_CLASSES),
                 flip_indices: Optional[list[int]] = None,
                 use_udp: bool = False) -> None:
        super().__init__()
        owner = type(self).__name__
        self.heatmap_size = _check_heatmap_size(owner, heatmap_size)
        check_number(owner, 'num_classes', num_classes, integer=True, low=2,
                     hint='part classes including the background')
        flip_indices = list(PART_FLIP_INDICES if flip_indices is None
                            else flip_indices)
        if sorted(flip_indices) != list(range(num_classes)):
            raise InvalidArgumentError(
                f'{owner}: flip_indices must be a permutation of '
                f'0..{num_classes - 1} (num_classes={num_classes}), got '
                f'{flip_indices!r}')
        check_bool(owner, 'use_udp', use_udp)
        self.num_classes = int(num_classes)
        self.flip_indices = flip_indices
        self.use_udp = use_udp

    def transform(self, results: dict) -> dict:
        """Add the part target of ``results``' instance.

        Args:
            results (dict): The result dict (see Required Keys).

        Returns:
            dict: ``results`` with ``heatmaps`` and ``keypoint_weights``.
        """
        path = part_map_path(results['img_path'])
        part_map = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if part_map is None:
            raise FileNotFoundError(
                f'no body-part map {path} for {results["img_path"]}: the '
                'dataset was made before the part maps; regenerate it with '
                'tools/dataset/make_synthetic_coco.py (same seed, same '
                'images)')
        if part_map.shape[:2] != tuple(results['ori_shape'][:2]):
            raise ValueError(
                f'the body-part map {path} is {part_map.shape[:2]}, its image '
                f'{tuple(results["ori_shape"][:2])}: regenerate the dataset')
        part_map = np.where(instance_mask(results, type(self).__name__) > 0,
                            part_map, 0).astype(np.uint8)
        labels = warp_to_heatmap(part_map, results, self.heatmap_size,
                                 self.use_udp, cv2.INTER_NEAREST)
        if labels.max(initial=0) >= self.num_classes:
            raise ValueError(
                f'{path} holds class {int(labels.max())}, but num_classes is '
                f'{self.num_classes}')
        if results.get('flip'):
            labels = np.asarray(self.flip_indices, np.uint8)[labels]
        results['heatmaps'] = np.eye(self.num_classes, dtype=np.float32)[
            labels].transpose(2, 0, 1).copy()
        results['keypoint_weights'] = np.ones((1, self.num_classes),
                                              np.float32)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(heatmap_size={self.heatmap_size}, '
                f'num_classes={self.num_classes}, '
                f'flip_indices={self.flip_indices}, use_udp={self.use_udp})')
