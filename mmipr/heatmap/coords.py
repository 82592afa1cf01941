"""Image pixels to heatmap pixels for top-down crops (numpy only, no MMPose
import): the one home of this mapping.

MMPose's ``TopdownAffine`` warps the crop of centre ``c`` and size ``s``
(``input_center``, ``input_scale``; no rotation at test time, the aspect
ratio already fixed to the input's) onto the ``input_size`` input, and the
codecs divide by the stride ``input_size / heatmap_size``. Both are affine
and axis-aligned, so the heatmap coordinate is

.. math::
    x_{hm} = \\frac{x - c + s / 2}{s} \\cdot W_{hm},

exactly the inverse of the decode's ``x = x_hm / W_hm * s + c - s / 2``
(non-UDP codecs). ``tests/test_heatmap_coords.py`` checks it against
``mmpose.structures.bbox.get_warp_matrix`` and ``TopdownAffine``.
"""
from __future__ import annotations

import numpy as np


def image_to_heatmap(keypoints: np.ndarray, input_center: np.ndarray,
                     input_scale: np.ndarray,
                     heatmap_size: tuple) -> np.ndarray:
    """Map image-space points into the heatmap frame of a top-down crop.

    Args:
        keypoints (np.ndarray): (x, y) in image pixels, shape (..., 2).
        input_center (np.ndarray): crop centre, shape (2,) or broadcastable
            to ``keypoints``.
        input_scale (np.ndarray): crop size (w, h), shape (2,) or
            broadcastable to ``keypoints``.
        heatmap_size (tuple): (W, H) of the heatmap.

    Returns:
        np.ndarray: (x, y) in heatmap pixels, float64, shape (..., 2).
    """
    keypoints = np.asarray(keypoints, np.float64)
    center = np.asarray(input_center, np.float64)
    scale = np.asarray(input_scale, np.float64)
    size = np.asarray(heatmap_size, np.float64)
    return (keypoints - center + 0.5 * scale) / scale * size
