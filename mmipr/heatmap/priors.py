"""Spatial priors on the normalised heatmap, beside the paper's KL(G || h~).

Each is one small function of the log-normalised heatmap log h~ (shape
(B, K, H, W), each exp-map summing to 1, e.g. ``flat_log_softmax``) and, for
the divergences, the Gaussian G of standard deviation sigma (heatmap pixels)
centred on the ground truth and normalised to sum 1 over the heatmap
(:func:`mmipr.heatmap.log_gaussian_heatmaps`). Each returns one value per
joint, shape (B, K); weighting and averaging over joints is the loss
module's job (:class:`mmipr.models.losses.KLPriorLoss`).

- :func:`mmipr.heatmap.gaussian_kl_divergence`: KL(G || h~), the paper's
  (Sec. 4.2), in :mod:`mmipr.heatmap.gaussian`;
- :func:`reverse_gaussian_kl_divergence`: KL(h~ || G), the direction of
  dsntnn's ``kl_reg_losses`` (Nibali et al. 2018);
- :func:`gaussian_js_divergence`: Jensen-Shannon, DSNT's regulariser
  (dsntnn's ``js_reg_losses``, MMPose's ``JSDiscretLoss`` in ``DSNTHead``);
- :func:`variance_regularization`: the heatmap's variance toward sigma^2 per
  axis, dsntnn's ``variance_reg_losses`` (in pixels, as dsntnn's current
  version).

Everything is computed in log space and in float32 for half-precision input,
also under autocast (whose half-precision matmuls would lose the small tail
mass of h~).
"""
from __future__ import annotations

import math
from typing import Tuple

import torch
from torch import Tensor

from .checks import check_heatmaps
from .gaussian import _exponents, log_gaussian_heatmaps
from .integral import _as_float, _full_precision


def _finite_log(log_heatmaps: Tensor) -> Tensor:
    """log h~ in float32 (half input) with -inf replaced by the dtype's min.

    A -inf log (a pixel of exactly zero mass, from a -inf logit) would make
    ``0 * (-inf)`` terms NaN; a very negative finite value gives the same
    forward value (exp(min) = 0) and zero gradients.
    """
    check_heatmaps(log_heatmaps, 'log_heatmaps')
    x = _as_float(log_heatmaps)
    return x.clamp(min=torch.finfo(x.dtype).min)


def _log_gaussian_marginals(centers: Tensor, size: Tuple[int, int],
                            sigma: float,
                            dtype: torch.dtype) -> Tuple[Tensor, Tensor]:
    """log g^x (B, K, W) and log g^y (B, K, H): G's normalised 1-D factors."""
    ex, ey = _exponents(centers.to(dtype), size, sigma)
    return torch.log_softmax(ex, dim=-1), torch.log_softmax(ey, dim=-1)


def reverse_gaussian_kl_divergence(log_heatmaps: Tensor, centers: Tensor,
                                   sigma: float = 2.0) -> Tensor:
    """KL(h~ || G): the heatmap's divergence from the Gaussian prior.

    .. math::
        KL(\\tilde h \\,\\|\\, G) = \\sum_{p \\in \\Omega} \\tilde h_p
        (\\log \\tilde h_p - \\log G_p)

    the direction of dsntnn's ``kl_reg_losses`` (mode-seeking: it punishes
    mass where G is small, and does not require h~ to cover all of G, unlike
    the paper's KL(G || h~)). G is separable, log G_ij = log g^x_i +
    log g^y_j, so with the marginals m^x_i = sum_j h~_ij, m^y_j = sum_i
    h~_ij:

    .. math::
        KL = \\sum_p \\tilde h_p \\log \\tilde h_p
        - \\sum_i m^x_i \\log g^x_i - \\sum_j m^y_j \\log g^y_j

    log G is quadratic in the distance (finite everywhere), so pixels far
    from the centre are penalised by their squared distance / (2 sigma^2).

    Args:
        log_heatmaps (Tensor): log h~ (each exp-map sums to 1), shape
            (B, K, H, W).
        centers (Tensor): Gaussian centres (x, y) in heatmap pixels, shape
            (B, K, 2).
        sigma (float): standard deviation in heatmap pixels. Default: 2.0.

    Returns:
        Tensor: the divergence per joint, shape (B, K).
    """
    log_h = _finite_log(log_heatmaps)
    H, W = log_h.shape[-2:]
    lgx, lgy = _log_gaussian_marginals(centers, (W, H), sigma, log_h.dtype)
    with _full_precision(log_h):
        h = log_h.exp()
        neg_entropy = (h * log_h).sum(dim=(-2, -1))
        cross = ((h.sum(dim=-2) * lgx).sum(dim=-1)
                 + (h.sum(dim=-1) * lgy).sum(dim=-1))
    return neg_entropy - cross


def gaussian_js_divergence(log_heatmaps: Tensor, centers: Tensor,
                           sigma: float = 2.0) -> Tensor:
    """Jensen-Shannon divergence between the heatmap and the Gaussian prior.

    .. math::
        JS(\\tilde h, G) = \\tfrac12 KL(\\tilde h \\,\\|\\, M)
        + \\tfrac12 KL(G \\,\\|\\, M), \\qquad M = \\tfrac12 (\\tilde h + G)

    DSNT's regulariser (Nibali et al. 2018; dsntnn's ``js_reg_losses``,
    MMPose's ``JSDiscretLoss``), symmetric and bounded by log 2. In log
    space: log M = logaddexp(log h~, log G) - log 2, so every ratio
    log(h~ / M), log(G / M) is at most log 2 and terms of zero mass are
    exactly 0 (MMPose adds 1e-24 inside its logarithms instead).

    Args:
        log_heatmaps (Tensor): log h~ (each exp-map sums to 1), shape
            (B, K, H, W).
        centers (Tensor): Gaussian centres (x, y) in heatmap pixels, shape
            (B, K, 2).
        sigma (float): standard deviation in heatmap pixels. Default: 2.0.

    Returns:
        Tensor: the divergence per joint, in nats, shape (B, K).
    """
    log_h = _finite_log(log_heatmaps)
    H, W = log_h.shape[-2:]
    log_g = log_gaussian_heatmaps(centers.to(log_h.dtype), (W, H), sigma)
    log_g = log_g.clamp(min=torch.finfo(log_h.dtype).min)
    with _full_precision(log_h):
        log_m = torch.logaddexp(log_h, log_g) - math.log(2)
        kl_h = (log_h.exp() * (log_h - log_m)).sum(dim=(-2, -1))
        kl_g = (log_g.exp() * (log_g - log_m)).sum(dim=(-2, -1))
    return 0.5 * (kl_h + kl_g)


def heatmap_variance(heatmaps: Tensor) -> Tensor:
    """Variance of a normalised heatmap along x and y, in heatmap pixels^2.

    .. math::
        \\mathrm{Var}_x = \\sum_{p = (i, j)} \\tilde h_p (i - \\hat J_x)^2,
        \\qquad
        \\mathrm{Var}_y = \\sum_{p = (i, j)} \\tilde h_p (j - \\hat J_y)^2

    with J^ the expectation (Eq. 2). Computed from the marginals.

    Args:
        heatmaps (Tensor): normalised heatmaps h~, shape (B, K, H, W).

    Returns:
        Tensor: (Var_x, Var_y), shape (B, K, 2), float32 for half-precision
        input, else the input dtype.
    """
    check_heatmaps(heatmaps)
    h = _as_float(heatmaps)
    H, W = h.shape[-2:]
    xs = torch.arange(W, device=h.device, dtype=h.dtype)
    ys = torch.arange(H, device=h.device, dtype=h.dtype)
    with _full_precision(h):
        mx, my = h.sum(dim=-2), h.sum(dim=-1)  # (B, K, W), (B, K, H)
        jx = (mx * xs).sum(-1, keepdim=True)
        jy = (my * ys).sum(-1, keepdim=True)
        var_x = (mx * (xs - jx)**2).sum(-1)
        var_y = (my * (ys - jy)**2).sum(-1)
    return torch.stack((var_x, var_y), dim=-1)


def variance_regularization(log_heatmaps: Tensor,
                            sigma: float = 2.0) -> Tensor:
    """Squared error of the heatmap's variance to sigma^2, summed over x, y.

    .. math::
        L_{var} = (\\mathrm{Var}_x - \\sigma^2)^2
        + (\\mathrm{Var}_y - \\sigma^2)^2

    dsntnn's ``variance_reg_losses`` (Nibali et al. 2018), in heatmap pixels
    as dsntnn's current version (the DSNT paper used normalised units, which
    scales the loss by a constant). It constrains only the spread, not the
    location: the centre is the heatmap's own expectation.

    Args:
        log_heatmaps (Tensor): log h~ (each exp-map sums to 1), shape
            (B, K, H, W).
        sigma (float): target standard deviation in heatmap pixels.
            Default: 2.0.

    Returns:
        Tensor: the loss per joint, in pixels^4, shape (B, K).
    """
    if not (sigma > 0 and math.isfinite(sigma)):
        raise ValueError(f'sigma must be positive and finite, got {sigma}')
    var = heatmap_variance(_finite_log(log_heatmaps).exp())
    return ((var - sigma**2)**2).sum(dim=-1)
