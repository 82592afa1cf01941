"""Statistics of normalised heatmaps (the paper's Sec. 4 analyses).

Activation sums A(s) (Eq. 6), the best-fit Gaussian sigma by Pearson
chi-square (App. A.3) and the expected end-point errors of argmax and
expectation decoding (Eq. 7, 8). Conventions of :mod:`mmipr.heatmap.integral`:
(B, K, H, W) heatmaps, (x, y) coordinates in heatmap pixels, shape (B, K, 2).
"""
from __future__ import annotations

from typing import Sequence, Tuple

import torch
from torch import Tensor

from .checks import check_heatmaps
from .integral import expectation, flat_softmax


def round_half_up(x: Tensor) -> Tensor:
    """Nearest heatmap pixel, halves rounded up: ``floor(x + 0.5)``.

    MMPose's heatmap codecs and the paper's window use ``int(x + 0.5)``
    (``mmpose.codecs.utils.generate_gaussian_heatmaps``:
    ``mu = (keypoints[n, k] + 0.5).astype(np.int64)``; for x >= -0.5 that is
    floor(x + 0.5)). ``torch.round`` rounds halves to
    even instead (2.5 -> 2, 3.5 -> 4), which would move windows centred on
    half-pixel keypoints by one pixel on every other half-integer; here 2.5 ->
    3 and 3.5 -> 4 (and -0.5 -> 0, where ``int`` truncates toward zero but a
    window is clipped at the border either way).

    Args:
        x (Tensor): coordinates in heatmap pixels, any shape.

    Returns:
        Tensor: integer pixel indices (int64), the shape of ``x``.
    """
    return torch.floor(x + 0.5).long()


def activation_sum(heatmaps: Tensor, centers: Tensor, s: int = 2) -> Tensor:
    """Activation sum A(s) of the paper's Eq. 6.

    .. math::
        A(s) = \\sum_{i=J_x-s}^{J_x+s} \\sum_{j=J_y-s}^{J_y+s} \\tilde h_{ij}

    The window is centred on ``centers`` rounded to the nearest heatmap pixel,
    halves up (``floor(x + 0.5)``, :func:`round_half_up`, as MMPose's
    ``int(x + 0.5)``: x = 2.5 -> 3, 3.5 -> 4), and clipped at the heatmap
    border.

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
    cx = round_half_up(centers[..., 0])
    cy = round_half_up(centers[..., 1])
    xs = torch.arange(W, device=heatmaps.device)
    ys = torch.arange(H, device=heatmaps.device)
    in_x = (xs - cx[..., None]).abs() <= s  # (B, K, W)
    in_y = (ys - cy[..., None]).abs() <= s  # (B, K, H)
    window = in_y[..., :, None] & in_x[..., None, :]
    return (heatmaps * window).sum(dim=(-2, -1))


def activation_sum_curve(heatmaps: Tensor, centers: Tensor,
                         max_s: int = 9) -> Tensor:
    """Activation sums A(0), ..., A(max_s) of Eq. 6 (the paper's Fig. 2b).

    Args:
        heatmaps (Tensor): normalised heatmaps, shape (B, K, H, W).
        centers (Tensor): window centres (x, y) in heatmap pixels, shape
            (B, K, 2).
        max_s (int): largest half-size. Default: 9.

    Returns:
        Tensor: A(s) for s = 0..max_s, shape (B, K, max_s + 1).
    """
    return torch.stack(
        [activation_sum(heatmaps, centers, s) for s in range(max_s + 1)],
        dim=-1)


def normalize_heatmaps(heatmaps: Tensor, mode: str = 'softmax',
                       beta: float = 1.0) -> Tensor:
    """Normalise detection heatmaps to distributions over the H * W pixels.

    ``'softmax'`` is the paper's footnote 2 (Eq. 2 applied to a detection
    heatmap; it keeps the argmax). ``'sum'`` divides the positive part by its
    sum,

    .. math::
        \\tilde h_p = \\frac{\\max(h_p, 0)}{\\sum_{p'} \\max(h_{p'}, 0)},

    and gives a map with no positive value the uniform distribution (it
    carries no location information).

    Args:
        heatmaps (Tensor): raw heatmaps, shape (B, K, H, W).
        mode (str): ``'softmax'`` or ``'sum'``. Default: ``'softmax'``.
        beta (float): softmax scale, ``'softmax'`` only. Default: 1.0.

    Returns:
        Tensor: normalised heatmaps, shape (B, K, H, W).
    """
    if mode == 'softmax':
        return flat_softmax(heatmaps, beta)
    if mode == 'sum':
        check_heatmaps(heatmaps)
        pos = heatmaps.clamp(min=0).flatten(2)
        total = pos.sum(-1, keepdim=True)
        uniform = torch.full_like(pos, 1.0 / pos.shape[-1])
        return torch.where(total > 0, pos / total.clamp(min=1e-30),
                           uniform).view_as(heatmaps)
    raise ValueError(f"mode must be 'softmax' or 'sum', got {mode!r}")


def _window(heatmaps: Tensor, centers: Tensor,
            s: int) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """The (2s+1) x (2s+1) window around the rounded centres, gathered.

    Centres are rounded as in :func:`activation_sum` (:func:`round_half_up`).

    Returns the window values (B, K, n, n) (0 outside the heatmap), the
    validity mask (B, K, n, n) and the pixel coordinates of the window's
    columns (B, K, n) and rows (B, K, n), n = 2s + 1.
    """
    H, W = heatmaps.shape[-2:]
    offsets = torch.arange(-s, s + 1, device=heatmaps.device)
    xi = round_half_up(centers[..., 0])[..., None] + offsets  # (B, K, n)
    yi = round_half_up(centers[..., 1])[..., None] + offsets
    valid = (((yi >= 0) & (yi < H))[..., :, None]
             & ((xi >= 0) & (xi < W))[..., None, :])
    index = (yi.clamp(0, H - 1)[..., :, None] * W
             + xi.clamp(0, W - 1)[..., None, :])
    values = heatmaps.flatten(2).gather(-1, index.flatten(2)).view_as(index)
    return values * valid, valid, xi, yi


def pearson_chi_square(heatmaps: Tensor, centers: Tensor,
                       sigmas: Sequence[float], s: int = 4) -> Tensor:
    """Pearson chi-square between heatmap windows and Gaussian templates.

    The paper's App. A.3: the (2s+1) x (2s+1) window W around the centre
    (rounded to the nearest pixel, halves up as :func:`round_half_up`,
    clipped at the border) is renormalised to
    sum 1, O_p = h_p / sum_W h; the template is a Gaussian of standard
    deviation sigma centred on the (unrounded) centre c, renormalised over
    the same window, E_p = g_p / sum_W g with g_p = exp(-||p - c||^2 /
    (2 sigma^2)); then

    .. math::
        \\chi^2(\\sigma) = \\sum_{p \\in W} \\frac{(O_p - E_p)^2}{E_p}.

    Computed in float64 (the templates of small sigma reach 1e-100 at the
    window's corners); inf where a template value underflows even there,
    nan where the window holds no heatmap mass.

    Args:
        heatmaps (Tensor): normalised (or non-negative) heatmaps, shape
            (B, K, H, W).
        centers (Tensor): (x, y) in heatmap pixels, usually the ground
            truth, shape (B, K, 2).
        sigmas (Sequence[float]): template standard deviations, in heatmap
            pixels.
        s (int): window half-size (4 for easy/medium, 8 for hard in the
            paper). Default: 4.

    Returns:
        Tensor: chi-square values, float64, shape (B, K, len(sigmas)).
    """
    check_heatmaps(heatmaps)
    values, valid, xi, yi = _window(heatmaps.double(), centers, s)
    obs = values / values.sum(dim=(-2, -1), keepdim=True)
    sig = torch.as_tensor(sigmas, dtype=torch.float64,
                          device=heatmaps.device)
    c = centers.double()
    dx2 = (xi - c[..., 0, None])**2  # (B, K, n)
    dy2 = (yi - c[..., 1, None])**2
    sq = dy2[..., :, None] + dx2[..., None, :]  # (B, K, n, n)
    log_g = -sq[..., None] / (2 * sig**2)  # (B, K, n, n, S)
    log_g = log_g.masked_fill(~valid[..., None], float('-inf'))
    log_e = log_g - torch.logsumexp(log_g, dim=(-3, -2), keepdim=True)
    expected = log_e.exp()
    terms = (obs[..., None] - expected)**2 / expected
    # equal terms (both 0 included, e.g. outside the heatmap) add nothing
    keep = valid[..., None] & (obs[..., None] != expected)
    return torch.where(keep, terms, 0.).sum(dim=(-3, -2))


def best_fit_sigma(heatmaps: Tensor, centers: Tensor,
                   sigmas: Sequence[float] = (0.5, 1, 2, 3, 4, 5),
                   s: int = 4) -> Tuple[Tensor, Tensor]:
    """Best-fit Gaussian sigma of each heatmap (App. A.3, Fig. 2c).

    The sigma of the grid minimising :func:`pearson_chi_square`; the first
    on ties; nan where every chi-square is nan.

    Args:
        heatmaps (Tensor): normalised heatmaps, shape (B, K, H, W).
        centers (Tensor): (x, y) in heatmap pixels, shape (B, K, 2).
        sigmas (Sequence[float]): the grid. Default: (0.5, 1, 2, 3, 4, 5).
        s (int): window half-size. Default: 4.

    Returns:
        tuple: best sigma, shape (B, K), float64; chi-square values, shape
        (B, K, len(sigmas)).
    """
    chi = pearson_chi_square(heatmaps, centers, sigmas, s)
    sig = torch.as_tensor(sigmas, dtype=torch.float64, device=chi.device)
    best = sig[chi.nan_to_num(nan=float('inf')).argmin(-1)]
    best = best.masked_fill(chi.isnan().all(-1), float('nan'))
    return best, chi


def expected_epe(heatmaps: Tensor, target: Tensor) -> Tuple[Tensor, Tensor]:
    """Expected end-point errors of argmax and expectation decoding (Sec. 4.2).

    With w the normalised heatmap and mu its expectation:

    .. math::
        E_{de} = \\sum_{p \\in \\Omega} w(p) \\, \\|J_{gt} - p\\|_2
        \\;\\ge\\; E_{re} = \\|J_{gt} - \\mu\\|_2

    (Eq. 7, 8; the inequality is Jensen's for the convex norm, App. A.2).

    **w(p) is a proxy.** In Eq. 7, w(p) is the probability that pixel p is
    the *argmax* of the detection heatmap (over the randomness of the
    prediction), a radially symmetric distribution centred on mu with its
    support inside the window Phi(mu, s). That distribution is not
    observable from one predicted heatmap: the argmax of one map is a single
    pixel. This function uses the normalised heatmap itself as w, i.e. it
    treats the heatmap's mass at p as the chance that p wins the argmax, and
    sums over the whole map instead of Phi. That is exact only if the
    heatmap were the argmax distribution; nothing ties the spread of one
    heatmap's mass to the spread of its argmax across predictions (a wide
    but stable heatmap has a nearly deterministic argmax), so E_de here
    measures the heatmap's spread around J_gt, not the EPE an argmax decoder
    attains, and mu (the heatmap's expectation, not a symmetry centre) is
    what E_re uses. E_de >= E_re still holds for any normalised w: it is
    Jensen's inequality, which needs no symmetry. Use it to compare the spread of
    heatmaps, not as the EPE an argmax decoder attains; that is measured by
    decoding (``mmipr.heatmap.decode_argmax``).

    Args:
        heatmaps (Tensor): normalised heatmaps w, shape (B, K, H, W).
        target (Tensor): ground truth (x, y) in heatmap pixels, shape
            (B, K, 2).

    Returns:
        tuple: E_de and E_re in heatmap pixels, each shape (B, K).
    """
    check_heatmaps(heatmaps)
    H, W = heatmaps.shape[-2:]
    xs = torch.arange(W, device=heatmaps.device, dtype=heatmaps.dtype)
    ys = torch.arange(H, device=heatmaps.device, dtype=heatmaps.dtype)
    t = target.to(heatmaps.dtype)
    dx2 = (xs - t[..., 0, None])**2  # (B, K, W)
    dy2 = (ys - t[..., 1, None])**2  # (B, K, H)
    dist = (dy2[..., :, None] + dx2[..., None, :]).sqrt()
    e_de = (heatmaps * dist).sum(dim=(-2, -1))
    e_re = (expectation(heatmaps) - t).norm(dim=-1)
    return e_de, e_re
