"""Glue between MMPose data samples and the heatmap statistics."""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from mmipr.heatmap.coords import image_to_heatmap


def keypoints_in_heatmap(data_samples: Sequence,
                         heatmap_size: Tuple[int, int]) -> Tensor:
    """Ground-truth keypoints of top-down samples in heatmap pixels.

    The inverse of MMPose's top-down mapping from heatmap to image space
    (exact for the unrotated test-time crop), by
    :func:`mmipr.heatmap.coords.image_to_heatmap`.

    Args:
        data_samples (Sequence[PoseDataSample]): one instance each, with
            ``gt_instances.keypoints`` (1, K, 2) in image pixels and the
            metainfo ``input_center``, ``input_scale``.
        heatmap_size (tuple): (W, H).

    Returns:
        Tensor: (x, y) in heatmap pixels, float32, shape (B, K, 2).
    """
    out = []
    for ds in data_samples:
        kpts = np.asarray(ds.gt_instances.keypoints, dtype=np.float64)
        if kpts.ndim != 3 or kpts.shape[0] != 1:
            raise ValueError(
                'expected one instance per top-down sample, got keypoints of '
                f'shape {kpts.shape}')
        out.append(image_to_heatmap(kpts[0], ds.metainfo['input_center'],
                                    ds.metainfo['input_scale'], heatmap_size))
    return torch.from_numpy(np.stack(out)).float()
