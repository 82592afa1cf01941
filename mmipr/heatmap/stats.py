"""Statistics of normalised heatmaps (the paper's Sec. 4 analyses)."""
from __future__ import annotations

import torch
from torch import Tensor


def activation_sum(heatmaps: Tensor, centers: Tensor, s: int = 2) -> Tensor:
    """Activation sum A(s) of the paper's Eq. 6.

    .. math::
        A(s) = \\sum_{i=J_x-s}^{J_x+s} \\sum_{j=J_y-s}^{J_y+s} \\tilde h_{ij}

    The window is centred on ``centers`` rounded to the nearest heatmap pixel
    and clipped at the heatmap border.

    Args:
        heatmaps (Tensor): normalised heatmaps (each (H, W) map sums to 1),
            shape (B, K, H, W).
        centers (Tensor): window centres (x, y) in heatmap pixels, usually the
            ground truth, shape (B, K, 2).
        s (int): half-size of the (2s+1) x (2s+1) window. Default: 2.

    Returns:
        Tensor: A(s), shape (B, K).
    """
    H, W = heatmaps.shape[-2:]
    cx = centers[..., 0].round().long()
    cy = centers[..., 1].round().long()
    xs = torch.arange(W, device=heatmaps.device)
    ys = torch.arange(H, device=heatmaps.device)
    in_x = (xs - cx[..., None]).abs() <= s  # (B, K, W)
    in_y = (ys - cy[..., None]).abs() <= s  # (B, K, H)
    window = in_y[..., :, None] & in_x[..., None, :]
    return (heatmaps * window).sum(dim=(-2, -1))
