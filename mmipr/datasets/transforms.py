"""``CachedLoadImage``: MMPose's ``LoadImage`` that decodes each file once;
``GenerateSilhouetteTarget``: the neutral pretraining's mask target.

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


@TRANSFORMS.register_module()
class GenerateSilhouetteTarget(BaseTransform):
    """The instance's silhouette mask in heatmap coordinates: the target of
    the study's neutral backbone pretraining (``configs/synthetic/
    pretrain_r18_silhouette.py``), a task neither keypoint head is trained on.

    The mask is rasterised from the instance's COCO polygons in image
    coordinates (their union: each polygon filled on its own), flipped as
    ``RandomFlip`` flipped the image, then warped by the affine transform that
    ``TopdownAffine`` applied to the image, scaled to ``heatmap_size``:

    .. math::
        M_{hm} = \\mathrm{warp}_{A(c, s, r, (w_h, h_h))}(\\mathrm{flip}(M_{img}))

    with ``c, s`` the input centre and scale and ``r`` the box rotation.
    Place it after ``TopdownAffine``.

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
        if not isinstance(heatmap_size, (list, tuple)) or len(
                heatmap_size) != 2:
            raise InvalidArgumentError(
                'GenerateSilhouetteTarget: heatmap_size must be (width, '
                f'height), two whole numbers >= 1, got {heatmap_size!r}')
        for side in heatmap_size:
            check_number('GenerateSilhouetteTarget', 'heatmap_size', side,
                         integer=True, low=1,
                         hint='(width, height) of the target in pixels')
        check_bool('GenerateSilhouetteTarget', 'use_udp', use_udp)
        self.heatmap_size = tuple(int(v) for v in heatmap_size)
        self.use_udp = use_udp

    def transform(self, results: dict) -> dict:
        """Add the silhouette target of ``results``' instance.

        Args:
            results (dict): The result dict (see Required Keys).

        Returns:
            dict: ``results`` with ``heatmaps`` and ``keypoint_weights``.
        """
        polygons = results.get('segmentation')
        if not isinstance(polygons, list):
            raise ValueError(
                'GenerateSilhouetteTarget needs COCO polygons in '
                f'"segmentation" (got {type(polygons).__name__}) for '
                f'{results.get("img_path")}; RLE masks and instances '
                'without segmentation are not supported')
        height, width = results['ori_shape'][:2]
        mask = np.zeros((height, width), np.uint8)
        for polygon in polygons:
            points = np.asarray(polygon, np.float64).reshape(-1, 2)
            cv2.fillPoly(mask, [points.round().astype(np.int32)], 255)
        if results.get('flip'):
            mask = imflip(mask, direction=results['flip_direction'])
        rotation = results['bbox_rotation'][0] if 'bbox_rotation' in results \
            else 0.
        warp_matrix = get_udp_warp_matrix if self.use_udp else get_warp_matrix
        warp = warp_matrix(results['input_center'], results['input_scale'],
                           rotation, output_size=self.heatmap_size)
        target = cv2.warpAffine(mask, warp, self.heatmap_size,
                                flags=cv2.INTER_LINEAR)
        results['heatmaps'] = (target.astype(np.float32) / 255.)[None]
        results['keypoint_weights'] = np.ones((1, 1), np.float32)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(heatmap_size={self.heatmap_size}, '
                f'use_udp={self.use_udp})')
