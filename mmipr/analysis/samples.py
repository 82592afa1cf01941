"""Glue between MMPose data samples and the heatmap statistics."""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np
import torch
from torch import Tensor


def keypoints_in_heatmap(data_samples: Sequence,
                         heatmap_size: Tuple[int, int]) -> Tensor:
    """Ground-truth keypoints of top-down samples in heatmap pixels.

    Inverts the mapping of MMPose's ``TopdownPoseEstimator`` from input to
    image space (``image = input / input_size * input_scale + input_center
    - input_scale / 2``, exact for the unrotated test-time crop), then scales
    input pixels to heatmap pixels (heatmap pixel i is input pixel
    ``i * stride``).

    Args:
        data_samples (Sequence[PoseDataSample]): one instance each, with
            ``gt_instances.keypoints`` (1, K, 2) in image pixels and the
            metainfo ``input_center``, ``input_scale``, ``input_size``.
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
        center = np.asarray(ds.metainfo['input_center'], dtype=np.float64)
        scale = np.asarray(ds.metainfo['input_scale'], dtype=np.float64)
        input_size = np.asarray(ds.metainfo['input_size'], dtype=np.float64)
        in_input = (kpts[0] - center + 0.5 * scale) / scale * input_size
        out.append(in_input * np.asarray(heatmap_size) / input_size)
    return torch.from_numpy(np.stack(out)).float()
