"""Gaussian heatmaps centred on keypoint coordinates, and the KL divergence
of such a Gaussian to a heatmap.

Coordinates are (x, y) in heatmap pixels, shape (B, K, 2); pixel (i, j) is
column i, row j. The centre is used as is, without rounding to a pixel, over
the whole map without truncation (as MMPose's
``generate_unbiased_gaussian_heatmaps``), so any sigma works, 0.5 included.
The Gaussian is separable, so everything is computed from (B, K, W) and
(B, K, H) factors.
"""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor

from .integral import _full_precision


def _exponents(centers: Tensor, heatmap_size: Tuple[int, int],
               sigma: float) -> Tuple[Tensor, Tensor]:
    """-(i - x)^2 / (2 sigma^2) of shape (B, K, W), same for rows (B, K, H)."""
    if centers.dim() != 3 or centers.shape[-1] != 2:
        raise ValueError('centers must have shape (B, K, 2) holding (x, y) in '
                         f'heatmap pixels, got {tuple(centers.shape)}')
    if not sigma > 0:
        raise ValueError(f'sigma must be positive, got {sigma}')
    W, H = heatmap_size
    # integer or half-precision centres are computed in float32
    dtype = (centers.dtype if centers.dtype in (torch.float32, torch.float64)
             else torch.float32)
    centers = centers.to(dtype)
    xs = torch.arange(W, device=centers.device, dtype=dtype)
    ys = torch.arange(H, device=centers.device, dtype=dtype)
    ex = -(xs - centers[..., 0, None])**2 / (2 * sigma**2)
    ey = -(ys - centers[..., 1, None])**2 / (2 * sigma**2)
    return ex, ey


def gaussian_heatmaps(centers: Tensor,
                      heatmap_size: Tuple[int, int],
                      sigma: float = 2.0,
                      normalize: bool = False) -> Tensor:
    """Gaussian heatmaps, peak value 1 or normalised to sum 1.

    .. math::
        G_{ij} = \\exp\\left(-\\frac{(i - x)^2 + (j - y)^2}{2\\sigma^2}\\right)
        \\quad\\text{or, if normalize,}\\quad
        \\frac{G_{ij}}{\\sum_{i', j'} G_{i'j'}}

    The normalised map is computed as ``exp(log_gaussian_heatmaps(...))``, so
    it is well defined even for a centre far outside the map.

    Args:
        centers (Tensor): (x, y) in heatmap pixels, shape (B, K, 2).
        heatmap_size (tuple): (W, H), MMPose's order.
        sigma (float): standard deviation in heatmap pixels. Default: 2.0.
        normalize (bool): divide each map by its sum. Default: False.

    Returns:
        Tensor: heatmaps, shape (B, K, H, W).
    """
    if normalize:
        return log_gaussian_heatmaps(centers, heatmap_size, sigma).exp()
    ex, ey = _exponents(centers, heatmap_size, sigma)
    return ey.exp()[..., :, None] * ex.exp()[..., None, :]


def log_gaussian_heatmaps(centers: Tensor,
                          heatmap_size: Tuple[int, int],
                          sigma: float = 2.0) -> Tensor:
    """Log of the Gaussian normalised to sum 1 over the heatmap.

    .. math::
        \\log G_{ij} = e^x_i - \\log\\sum_{i'} e^{e^x_{i'}}
        + e^y_j - \\log\\sum_{j'} e^{e^y_{j'}},
        \\qquad e^x_i = -\\frac{(i - x)^2}{2\\sigma^2},\\;
        e^y_j = -\\frac{(j - y)^2}{2\\sigma^2}

    (separable log-sum-exp: finite for any centre and sigma).

    Args:
        centers (Tensor): (x, y) in heatmap pixels, shape (B, K, 2).
        heatmap_size (tuple): (W, H), MMPose's order.
        sigma (float): standard deviation in heatmap pixels. Default: 2.0.

    Returns:
        Tensor: log G, shape (B, K, H, W); ``exp`` of it sums to 1 per map.
    """
    ex, ey = _exponents(centers, heatmap_size, sigma)
    ex = torch.log_softmax(ex, dim=-1)
    ey = torch.log_softmax(ey, dim=-1)
    return ey[..., :, None] + ex[..., None, :]


def gaussian_kl_divergence(log_heatmaps: Tensor, centers: Tensor,
                           sigma: float = 2.0) -> Tensor:
    """KL divergence KL(G || h~) of the normalised Gaussian to a heatmap.

    .. math::
        KL(G \\,\\|\\, \\tilde h) = \\sum_{p \\in \\Omega} G_p
        (\\log G_p - \\log \\tilde h_p)

    with G = ``gaussian_heatmaps(centers, (W, H), sigma, normalize=True)``.
    G is separable, G_ij = g^x_i g^y_j with normalised 1-D factors, so
    without forming G:

    .. math::
        KL = \\sum_i g^x_i \\log g^x_i + \\sum_j g^y_j \\log g^y_j
        - \\sum_{j, i} g^y_j \\, \\log \\tilde h_{ij} \\, g^x_i

    Pixels where G underflows to 0 contribute exactly 0.

    Args:
        log_heatmaps (Tensor): log h~ (each exp-map sums to 1), shape
            (B, K, H, W).
        centers (Tensor): Gaussian centres (x, y) in heatmap pixels, shape
            (B, K, 2).
        sigma (float): standard deviation in heatmap pixels. Default: 2.0.

    Returns:
        Tensor: the divergence per joint, shape (B, K).
    """
    if log_heatmaps.dim() != 4:
        raise ValueError('log_heatmaps must have shape (B, K, H, W), got '
                         f'{tuple(log_heatmaps.shape)}')
    H, W = log_heatmaps.shape[-2:]
    ex, ey = _exponents(centers.to(log_heatmaps.dtype), (W, H), sigma)
    ex = torch.log_softmax(ex, dim=-1)
    ey = torch.log_softmax(ey, dim=-1)
    gx, gy = ex.exp(), ey.exp()
    neg_entropy = (gx * ex).sum(dim=-1) + (gy * ey).sum(dim=-1)
    with _full_precision(log_heatmaps):
        cross = torch.einsum('bkh,bkhw,bkw->bk', gy, log_heatmaps, gx)
    return neg_entropy - cross
