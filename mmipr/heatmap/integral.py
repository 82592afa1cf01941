"""Integral regression on heatmaps: softmax, expectation, bias compensation
and the closed-form gradient (the paper's Eq. 2 and Eq. 10).

Conventions shared by every function here:

- heatmaps have shape (B, K, H, W): B instances, K joints, H rows, W columns;
- a pixel p = (i, j) has column i (x) and row j (y), both starting at 0;
- coordinates are (x, y) in heatmap pixels, shape (B, K, 2). MMPose maps
  heatmap pixel i to input coordinate ``i * stride`` (no half-pixel offset),
  so ``coords / (W, H)`` are the normalised coordinates of MMPose's
  ``RegressionLabel`` / ``IntegralRegressionLabel`` codecs.

Half-precision inputs (fp16, bf16) are computed in float32, also under
autocast (which would run the sums as half-precision matmuls): exponentials of
``beta * h`` overflow fp16 for ``beta * h > 11``, and the sums over H * W
pixels lose the small tail mass that the bias compensation relies on.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from mmipr.utils.deprecation import warn_once

from .checks import check_heatmaps


def _as_float(x: Tensor) -> Tensor:
    if x.dtype in (torch.float16, torch.bfloat16):
        return x.float()
    return x


def _full_precision(x: Tensor) -> torch.autocast:
    """Context disabling autocast, which would run matmul/einsum in half."""
    return torch.autocast(x.device.type, enabled=False)


def flat_log_softmax(heatmaps: Tensor, beta: float = 1.0) -> Tensor:
    """Log of the flat softmax of Eq. 2, over all H * W pixels of each joint.

    .. math::
        \\log \\tilde h_p = \\beta h_p - \\log \\sum_{p' \\in \\Omega}
        e^{\\beta h_{p'}}

    computed with log-sum-exp, so it stays finite for any ``beta`` and
    logit range.

    Args:
        heatmaps (Tensor): heatmap logits h, shape (B, K, H, W).
        beta (float): softmax scale (the paper's beta). Default: 1.0.

    Returns:
        Tensor: log-normalised heatmaps, shape (B, K, H, W), float32 for
        half-precision input, else the input dtype.
    """
    check_heatmaps(heatmaps)
    x = _as_float(heatmaps)
    return torch.log_softmax(beta * x.flatten(2), dim=-1).view_as(x)


def flat_softmax(heatmaps: Tensor, beta: float = 1.0) -> Tensor:
    """Flat softmax of Eq. 2: each joint's map sums to 1 over its H * W pixels.

    .. math::
        \\tilde h_p = \\frac{e^{\\beta h_p}}{\\sum_{p' \\in \\Omega}
        e^{\\beta h_{p'}}}

    Args:
        heatmaps (Tensor): heatmap logits h, shape (B, K, H, W).
        beta (float): softmax scale (the paper's beta). Default: 1.0.

    Returns:
        Tensor: normalised heatmaps h~, shape (B, K, H, W), float32 for
        half-precision input, else the input dtype.
    """
    check_heatmaps(heatmaps)
    x = _as_float(heatmaps)
    return torch.softmax(beta * x.flatten(2), dim=-1).view_as(x)


def expectation(heatmaps: Tensor) -> Tensor:
    """Expected pixel under a normalised heatmap (Eq. 2, the integral).

    .. math::
        \\hat J = \\begin{bmatrix} \\hat J_x \\\\ \\hat J_y \\end{bmatrix}
        = \\sum_{p = (i, j) \\in \\Omega} p \\, \\tilde h_p

    computed from the marginals: J_x = sum_i i * sum_j h~_ij, likewise J_y.

    Args:
        heatmaps (Tensor): normalised heatmaps h~ (each map sums to 1),
            shape (B, K, H, W).

    Returns:
        Tensor: (x, y) in heatmap pixels, shape (B, K, 2).
    """
    check_heatmaps(heatmaps)
    H, W = heatmaps.shape[-2:]
    xs = torch.arange(W, device=heatmaps.device, dtype=heatmaps.dtype)
    ys = torch.arange(H, device=heatmaps.device, dtype=heatmaps.dtype)
    with _full_precision(heatmaps):
        jx = heatmaps.sum(dim=-2) @ xs
        jy = heatmaps.sum(dim=-1) @ ys
    return torch.stack((jx, jy), dim=-1)


def debias_mmpose(coords: Tensor, heatmaps: Tensor,
                  beta: float = 1.0) -> Tensor:
    """Bias compensation of Gu et al. (2021), as MMPose implements it.

    Softmax gives every pixel mass, pulling the expectation toward the centre.
    Assuming the logits of background pixels are 0 (e^{beta h} = 1), the
    expectation mixes the true one with the centre of the domain with weight
    1 / C, C the softmax's normaliser; undoing the mixture gives, in
    normalised coordinates u = x / W, v = y / H (MMPose's
    ``IntegralRegressionHead(debias=True)``):

    .. math::
        C = \\sum_{p \\in \\Omega} e^{\\beta h_p}, \\qquad
        u' = \\frac{C}{C - 1} \\left(u - \\frac{1}{2C}\\right)

    i.e. in heatmap pixels ``x' = C / (C - 1) * (x - W / (2C))`` and
    ``y' = C / (C - 1) * (y - H / (2C))``. C is taken from log-sum-exp
    (C / (C - 1) = 1 / (1 - e^{-log C})), so large logits do not overflow.

    MMPose sums ``exp(h)`` without beta; here C is the normaliser of
    ``softmax(beta * h)``, the one the derivation uses. Both agree at beta = 1,
    MMPose's default.

    Note: the formula treats the background as total mass 1 spread over a
    unit-area domain, while C sums e^{beta h} over H * W pixels, each
    background pixel adding 1. On a pixel heatmap with background logits 0
    it therefore corrects far less than the full bias, which would be
    ``x' = (C x - H W (W - 1) / 2) / (C - H W)`` (:func:`debias_gu2021`). It
    is kept as MMPose has it so that results compare with MMPose's debiased
    models; hence its name (``IntegralHead(debias=True)`` or ``'mmpose'``).

    Args:
        coords (Tensor): expectations (x, y) in heatmap pixels, shape
            (B, K, 2).
        heatmaps (Tensor): the heatmap logits h the expectation was taken
            from, shape (B, K, H, W).
        beta (float): softmax scale used for the expectation. Default: 1.0.

    Returns:
        Tensor: compensated (x, y) in heatmap pixels, shape (B, K, 2).
    """
    check_heatmaps(heatmaps)
    H, W = heatmaps.shape[-2:]
    log_c = torch.logsumexp(beta * _as_float(heatmaps).flatten(2), dim=-1)
    inv_c = torch.exp(-log_c)[..., None]  # (B, K, 1)
    half_size = coords.new_tensor([W / 2, H / 2])
    return (coords - half_size * inv_c) / (1 - inv_c)


def debias(coords: Tensor, heatmaps: Tensor, beta: float = 1.0) -> Tensor:
    """Former name of :func:`debias_mmpose` (MMPose's formula); warns once.

    Args and Returns: as :func:`debias_mmpose`.
    """
    warn_once('mmipr.heatmap.debias',
              'mmipr.heatmap.debias is MMPose\'s bias compensation and is now '
              'named debias_mmpose (beside debias_gu2021); the old name will '
              'be removed')
    return debias_mmpose(coords, heatmaps, beta)


def debias_gu2021(coords: Tensor, heatmaps: Tensor,
                  beta: float = 1.0) -> Tensor:
    """Bias compensation of Gu et al. (2021), derived on the pixel grid.

    Model: background pixels have logit 0, so each carries e^{beta * 0} = 1
    before normalisation. Write every pixel's unnormalised mass as that
    background plus an excess, e^{beta h_p} = 1 + a_p (a_p = 0 on the
    background), and let the peak be the excess: A = sum_p a_p and
    J_peak = sum_p p a_p / A. With Z = sum_p e^{beta h_p} = H W + A and
    c = ((W - 1) / 2, (H - 1) / 2) the mean pixel of the H x W grid, the
    softmax expectation is exactly the mixture

    .. math::
        \\hat J = \\sum_p p \\frac{e^{\\beta h_p}}{Z}
        = \\frac{H W}{Z} c + \\frac{Z - H W}{Z} J_{peak},

    i.e. ``J = (1 - w) c + w J_peak`` with ``w = 1 - H W / Z``. Undoing it:

    .. math::
        J_{peak} = c + \\frac{Z}{Z - H W} (\\hat J - c)
        = \\frac{Z \\hat J - H W c}{Z - H W}.

    On logits that are 0 except on a peak region this recovers the peak's
    own expectation (that of its excess mass e^{beta h} - 1) exactly, for any
    beta. :func:`debias_mmpose` (MMPose's) has the same form with H W replaced by 1
    and c by (W / 2, H / 2), so it removes only about 1 / (H W) of the bias.

    Numerics: log Z by log-sum-exp, ``w = -expm1(log(H W) - log Z)``
    (accurate when w is small), so any logit range is finite. Where
    ``w <= eps`` of the dtype (Z <= H W: no mass above the zero background,
    the model does not apply, e.g. all logits negative) J is returned
    unchanged. The gain 1 / w grows without bound as the peak's share of the
    mass vanishes (near-flat heatmaps, e.g. a freshly initialised head), so
    the result is clamped to the pixel domain [0, W - 1] x [0, H - 1], which
    contains the expectation of any non-negative excess; where the clamp is
    active the coordinate has no gradient.

    Args:
        coords (Tensor): expectations (x, y) in heatmap pixels of
            softmax(beta * h), shape (B, K, 2).
        heatmaps (Tensor): the heatmap logits h, shape (B, K, H, W).
        beta (float): softmax scale used for the expectation. Default: 1.0.

    Returns:
        Tensor: compensated (x, y) in heatmap pixels, shape (B, K, 2),
        float32 for half-precision input, else the input dtype.
    """
    check_heatmaps(heatmaps)
    H, W = heatmaps.shape[-2:]
    x = _as_float(heatmaps)
    j = _as_float(coords)
    with _full_precision(x):
        log_z = torch.logsumexp(beta * x.flatten(2), dim=-1)  # (B, K)
        w = -torch.expm1((math.log(H * W) - log_z).clamp(max=0))
        eps = torch.finfo(w.dtype).eps
        applies = (w > eps)[..., None]
        gain = 1 / w.clamp(min=eps)[..., None]
        center = j.new_tensor([(W - 1) / 2, (H - 1) / 2])
        peak = center + (j - center) * gain
        peak = torch.minimum(peak.clamp(min=0), j.new_tensor([W - 1, H - 1]))
        return torch.where(applies, peak, j)


def integral_l1_grad(heatmaps: Tensor, coords: Tensor, target: Tensor,
                     beta: float = 1.0) -> Tensor:
    """Closed-form gradient of the integral L1 loss w.r.t. the logits (Eq. 10).

    For L = |J^_x - J_x| + |J^_y - J_y| per joint (Eq. 4) and J^ the
    expectation of h~ = softmax(beta * h):

    .. math::
        \\frac{\\partial L}{\\partial h_p} = \\beta \\, \\tilde h_p \\,
        \\big( s(\\hat J_x - J_x)(i - \\hat J_x)
        + s(\\hat J_y - J_y)(j - \\hat J_y) \\big)

    with s the sign function; beta * h~_p is the value factor, the bracket
    the location factor.

    Args:
        heatmaps (Tensor): normalised heatmaps h~, shape (B, K, H, W).
        coords (Tensor): their expectations J^ (x, y) in heatmap pixels,
            shape (B, K, 2), e.g. ``expectation(heatmaps)``.
        target (Tensor): ground truth J (x, y) in heatmap pixels, shape
            (B, K, 2).
        beta (float): softmax scale. Default: 1.0.

    Returns:
        Tensor: dL/dh, shape (B, K, H, W).
    """
    check_heatmaps(heatmaps)
    H, W = heatmaps.shape[-2:]
    sign = torch.sign(coords - target)
    xs = torch.arange(W, device=heatmaps.device, dtype=heatmaps.dtype)
    ys = torch.arange(H, device=heatmaps.device, dtype=heatmaps.dtype)
    loc_x = sign[..., 0, None] * (xs - coords[..., 0, None])  # (B, K, W)
    loc_y = sign[..., 1, None] * (ys - coords[..., 1, None])  # (B, K, H)
    location = loc_y[..., :, None] + loc_x[..., None, :]
    return beta * heatmaps * location
