"""Argmax decoding of detection heatmaps, batched: quarter-pixel and DARK.

Every function works on a whole batch of heatmaps (B, K, H, W) at once on
their device. Coordinates are (x, y) in heatmap pixels: pixel (i, j) is
column i, row j, and maps to input coordinate i * stride (MMPose's
convention, no half-pixel offset).

The functions reproduce MMPose's numpy decoding of ``MSRAHeatmap``
(``get_heatmap_maximum``, ``refine_keypoints`` and ``refine_keypoints_dark``
in ``mmpose.codecs.utils``), including its border rules, so that a model
decodes to the same keypoints whichever path is used.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .checks import check_heatmaps


def _check_keypoints(keypoints: Tensor, heatmaps: Tensor) -> None:
    check_heatmaps(heatmaps)
    if keypoints.shape != heatmaps.shape[:2] + (2, ):
        raise ValueError(
            f'keypoints must have shape (B, K, 2) = '
            f'{tuple(heatmaps.shape[:2]) + (2, )} to match heatmaps '
            f'{tuple(heatmaps.shape)}, got {tuple(keypoints.shape)}')


def _values_at(maps: Tensor, x: Tensor, y: Tensor,
               offsets: Tensor) -> Tensor:
    """Values of ``maps`` at (x + dx, y + dy) for each offset (dx, dy).

    Positions are clamped into the map; callers mask the entries whose
    neighbourhood leaves it.

    Args:
        maps (Tensor): shape (B, K, H, W).
        x, y (Tensor): integer pixel positions, shape (B, K).
        offsets (Tensor): integer (dx, dy) offsets, shape (n, 2).

    Returns:
        Tensor: shape (B, K, n).
    """
    H, W = maps.shape[-2:]
    xs = (x[..., None] + offsets[:, 0]).clamp(0, W - 1)
    ys = (y[..., None] + offsets[:, 1]).clamp(0, H - 1)
    return maps.flatten(-2).gather(-1, ys * W + xs)


def _first_index(mask: Tensor) -> Tensor:
    """Index of the first True along the last dimension (n - 1 if none).

    .. math::
        i^* = n - \\max_i \\, m_i (n - i)

    Args:
        mask (Tensor): bool, shape (..., n).

    Returns:
        Tensor: int64, shape (...).
    """
    n = mask.shape[-1]
    # amax of small integers is several times faster on the CPU than
    # torch's max-with-index, which is what argmax runs
    weights = torch.arange(n, 0, -1, device=mask.device,
                           dtype=torch.uint8 if n < 256 else torch.int32)
    first = n - (mask * weights).amax(-1).long()
    return first.clamp(max=n - 1)


def _first_maximum(flat: Tensor) -> tuple[Tensor, Tensor]:
    """Maximum over the last dimension and the first index holding it.

    A two-level search: the maxima of chunks of at most 64 values (one read
    of the data, as fast as the maximum itself), then the first chunk
    holding the maximum and the first position inside it. For a map with
    NaN the index is arbitrary (and the value NaN).

    Args:
        flat (Tensor): shape (..., n).

    Returns:
        tuple: the maxima and their first indices (int64), shapes (...).
    """
    lead, n = flat.shape[:-1], flat.shape[-1]
    size = max(d for d in range(1, 65) if n % d == 0)
    chunks = flat.reshape(-1, size)  # (M * n / size, size)
    chunk_max = chunks.amax(-1).view(-1, n // size)
    vals = chunk_max.amax(-1)
    chunk = _first_index(chunk_max == vals[:, None])
    row = torch.arange(len(chunk), device=flat.device) * (n // size) + chunk
    inner = _first_index(chunks.index_select(0, row) == vals[:, None])
    return vals.view(lead), (chunk * size + inner).view(lead)


def get_heatmap_maximum(heatmaps: Tensor) -> tuple[Tensor, Tensor]:
    """Location and value of each heatmap's maximum.

    .. math::
        J = \\arg\\max_{p} h_p, \\qquad s = \\max_p h_p

    with J = (-1, -1) where s <= 0, as MMPose's ``get_heatmap_maximum``.
    Ties go to the first pixel in row-major order.

    Args:
        heatmaps (Tensor): shape (B, K, H, W).

    Returns:
        tuple:
        - locs (Tensor): (x, y) of the maxima in heatmap pixels (integer
          valued, in the heatmaps' dtype), shape (B, K, 2).
        - vals (Tensor): the maxima, shape (B, K).
    """
    check_heatmaps(heatmaps)
    W = heatmaps.shape[-1]
    vals, idx = _first_maximum(heatmaps.flatten(-2))
    locs = torch.stack((idx % W, idx // W), dim=-1).to(heatmaps.dtype)
    locs = torch.where((vals > 0)[..., None], locs, -1)
    return locs, vals


def refine_keypoints(keypoints: Tensor, heatmaps: Tensor) -> Tensor:
    """Quarter-pixel shift of the argmax toward the higher neighbour.

    .. math::
        J'_x = J_x + \\tfrac14 \\operatorname{sign}(h(J_x+1, J_y) - h(J_x-1,
        J_y)), \\qquad
        J'_y = J_y + \\tfrac14 \\operatorname{sign}(h(J_x, J_y+1) - h(J_x,
        J_y-1))

    With MMPose's border rules: the x shift applies only where
    1 < J_x < W - 1 and 0 < J_y < H, the y shift only where 1 < J_y < H - 1
    and 0 < J_x < W (so J = (-1, -1), an all non-positive map, stays).

    Args:
        keypoints (Tensor): integer-valued (x, y) argmax positions in heatmap
            pixels, shape (B, K, 2).
        heatmaps (Tensor): shape (B, K, H, W).

    Returns:
        Tensor: refined (x, y), shape (B, K, 2).
    """
    _check_keypoints(keypoints, heatmaps)
    H, W = heatmaps.shape[-2:]
    x, y = keypoints.long().unbind(-1)
    offsets = torch.tensor([[1, 0], [-1, 0], [0, 1], [0, -1]],
                           device=heatmaps.device)
    v = _values_at(heatmaps, x, y, offsets)
    in_x = (x > 1) & (x < W - 1) & (y > 0) & (y < H)
    in_y = (y > 1) & (y < H - 1) & (x > 0) & (x < W)
    diff = torch.stack((v[..., 0] - v[..., 1], v[..., 2] - v[..., 3]), -1)
    diff = torch.where(torch.stack((in_x, in_y), -1), diff, 0)
    return keypoints + 0.25 * diff.sign()


def gaussian_kernel1d(kernel_size: int,
                      sigma: float | None = None,
                      dtype: torch.dtype = torch.float32,
                      device: torch.device | str | None = None) -> Tensor:
    """Normalised 1-D Gaussian kernel.

    .. math::
        g_i \\propto \\exp\\left(-\\frac{(i - (k-1)/2)^2}{2\\sigma^2}\\right),
        \\quad i = 0..k-1, \\qquad \\sum_i g_i = 1

    with, by default, DARK's (and OpenCV's) rule
    :math:`\\sigma = 0.3((k-1)/2 - 1) + 0.8` (k = 11 gives sigma 2,
    k = 17 sigma 3). OpenCV's ``getGaussianKernel(k, 0)``, which MMPose's
    decoding uses, departs from the formula for k < 11 (fixed tables), so
    pass OpenCV's kernel to match MMPose exactly at those sizes.

    Args:
        kernel_size (int): k, odd and positive.
        sigma (float, optional): standard deviation in pixels.
        dtype (torch.dtype): dtype of the kernel.
        device (torch.device | str, optional): device of the kernel.

    Returns:
        Tensor: shape (k, ).
    """
    if kernel_size < 1 or kernel_size % 2 != 1:
        raise ValueError(f'kernel_size must be odd and positive, got '
                         f'{kernel_size} (MMPose uses 11 for sigma 2, '
                         '17 for sigma 3)')
    if sigma is None:
        sigma = 0.3 * ((kernel_size - 1) * 0.5 - 1) + 0.8
    i = torch.arange(kernel_size, dtype=torch.float64, device=device)
    g = torch.exp(-(i - (kernel_size - 1) / 2)**2 / (2 * sigma**2))
    return (g / g.sum()).to(dtype)


def _band(kernel: Tensor, n_in: int, n_out: int, shift: int) -> Tensor:
    """Banded matrix A, shape (n_in, n_out), with
    :math:`(vA)_o = \\sum_j g_j v_{o + j - shift}` (v zero outside 0..n_in-1):
    correlation with the kernel g as a matrix product."""
    k = kernel.numel()
    i = torch.arange(n_in, device=kernel.device)[:, None]
    o = torch.arange(n_out, device=kernel.device)
    d = i - o + shift
    return torch.where((d >= 0) & (d < k), kernel[d.clamp(0, k - 1)], 0)


def gaussian_blur(heatmaps: Tensor, kernel: Tensor) -> Tensor:
    """DARK's Gaussian modulation: blur each map, keep its maximum.

    .. math::
        h' = (g \\otimes g) * h \\cdot \\frac{\\max_p h_p}
        {\\max_p ((g \\otimes g) * h)_p}

    with the separable kernel g applied with zero padding, as MMPose's
    ``gaussian_blur`` (which pads by (k-1)/2 zeros before OpenCV's blur).

    Args:
        heatmaps (Tensor): shape (B, K, H, W).
        kernel (Tensor): the 1-D kernel g, shape (k, ), k odd
            (see :func:`gaussian_kernel1d`).

    Returns:
        Tensor: modulated heatmaps, shape (B, K, H, W).
    """
    check_heatmaps(heatmaps)
    k = kernel.numel()
    if kernel.dim() != 1 or k % 2 != 1:
        raise ValueError(f'kernel must be 1-D of odd length, got shape '
                         f'{tuple(kernel.shape)}')
    blurred = _blur(heatmaps, kernel.to(heatmaps))
    scale = heatmaps.amax(dim=(-2, -1)) / blurred.amax(dim=(-2, -1))
    return blurred * scale[..., None, None]


def _blur(heatmaps: Tensor, g: Tensor) -> Tensor:
    """(g x g) * h with zero padding, shape (..., H, W) kept."""
    H, W = heatmaps.shape[-2:]
    k = g.numel()
    # As matrix products with banded (Toeplitz) matrices: on the CPU several
    # times faster than a single-channel conv2d, and exact zero padding.
    return _band(g, H, H, k // 2).T @ heatmaps @ _band(g, W, W, k // 2)


def _modulation_scale(heatmaps: Tensor, which: Tensor, kernel: Tensor,
                      chunk: int = 64) -> Tensor:
    """DARK's scale :math:`c = \\max_p h_p / \\max_p ((g \\otimes g) * h)_p`
    of some maps.

    The maps are blurred a chunk at a time, so that each chunk's blurred
    maps stay in the cache while their maximum is read.

    Args:
        heatmaps (Tensor): shape (B, K, H, W).
        which (Tensor): bool, the maps to scale, shape (B, K).
        kernel (Tensor): the 1-D kernel g, shape (k, ).
        chunk (int): maps blurred at once.

    Returns:
        Tensor: c of the selected maps (row-major order), shape (n, ).
    """
    H, W = heatmaps.shape[-2:]
    maps = heatmaps.reshape(-1, H, W)
    index = which.flatten().nonzero().squeeze(1)
    g = kernel.to(heatmaps)
    scales = []
    for part in index.split(chunk):
        m = maps.index_select(0, part)
        scales.append(m.amax(dim=(-2, -1)) / _blur(m, g).amax(dim=(-2, -1)))
    return torch.cat(scales)


# (dx, dy) of the pixels DARK's finite differences read around the argmax.
_DARK_OFFSETS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1), (2, 0), (-2, 0),
                 (0, 2), (0, -2), (1, 1), (1, -1), (-1, 1), (-1, -1))


def _patches(heatmaps: Tensor, x: Tensor, y: Tensor, r: int) -> Tensor:
    """Zero-padded windows :math:`h[y-r..y+r, x-r..x+r]` of each map.

    Args:
        heatmaps (Tensor): shape (B, K, H, W).
        x, y (Tensor): integer pixel positions, shape (B, K).
        r (int): half size of the windows.

    Returns:
        Tensor: shape (B, K, 2r + 1, 2r + 1).
    """
    H, W = heatmaps.shape[-2:]
    n = 2 * r + 1
    d = torch.arange(-r, r + 1, device=x.device)
    xs, ys = x[..., None] + d, y[..., None] + d
    rows = ys.clamp(0, H - 1)
    flat = heatmaps.contiguous().view(-1)
    # each window row is n consecutive values of the storage: copied as rows
    # of a sliding-window view, several times faster than a gather on the
    # CPU; at the left/right border they run into the neighbouring row,
    # values that the zero padding below replaces
    starts = ((torch.arange(x.numel(), device=x.device).view(x.shape)
               * (H * W))[..., None] + rows * W + (x - r)[..., None])
    if flat.numel() < n:  # a batch smaller than one window row
        off_storage = torch.ones_like(starts, dtype=torch.bool)
        patch = flat.new_zeros((*x.shape, n, n))
    else:
        off_storage = (starts < 0) | (starts > flat.numel() - n)
        windows = flat.as_strided((flat.numel() - n + 1, n), (1, 1))
        patch = windows.index_select(
            0, starts.clamp(0, flat.numel() - n).view(-1)).view(
                *x.shape, n, n)
    if off_storage.any():  # the first or last map's corner: gathered
        cut = off_storage.any(-1)
        idx = ((rows[cut] * W)[:, :, None]
               + xs[cut].clamp(0, W - 1)[:, None, :])
        patch[cut] = heatmaps.flatten(-2)[cut].gather(
            -1, idx.flatten(-2)).view(idx.shape)
    # Zero padding, only where the window leaves the map.
    if ((xs[..., 0] < 0) | (xs[..., -1] >= W) | (ys[..., 0] < 0)
            | (ys[..., -1] >= H)).any():
        # in place, and exact zeros (a neighbour's NaN stays out)
        patch.masked_fill_(((ys < 0) | (ys >= H))[..., :, None], 0)
        patch.masked_fill_(((xs < 0) | (xs >= W))[..., None, :], 0)
    return patch


def _blur_around(heatmaps: Tensor, x: Tensor, y: Tensor, kernel: Tensor,
                 offsets: tuple[tuple[int, int], ...]) -> Tensor:
    """Zero-padded blur (g x g) * h at (x + dx, y + dy) for each offset.

    Computed from the patch around (x, y) that the offsets and the kernel
    reach, instead of the whole map.

    Args:
        heatmaps (Tensor): shape (B, K, H, W).
        x, y (Tensor): integer pixel positions, shape (B, K).
        kernel (Tensor): the 1-D kernel g, shape (k, ).
        offsets (tuple): n integer (dx, dy) offsets.

    Returns:
        Tensor: shape (B, K, n).
    """
    k = kernel.numel()
    reach = max(abs(v) for offset in offsets for v in offset)
    n = 2 * (reach + k // 2) + 1
    patch = _patches(heatmaps, x, y, reach + k // 2)
    # The blur at each offset is one weighted sum over the patch, so all of
    # them are a single (B*K, n_patch) x (n_patch, n) matrix product.
    g = kernel.to(heatmaps)
    weights = torch.zeros(len(offsets), n, n, dtype=g.dtype, device=g.device)
    outer = g[:, None] * g[None]
    for i, (dx, dy) in enumerate(offsets):
        weights[i, reach + dy:reach + dy + k, reach + dx:reach + dx + k] = outer
    return patch.flatten(-2) @ weights.flatten(-2).T


def refine_keypoints_dark(keypoints: Tensor, heatmaps: Tensor,
                          blur_kernel: int | Tensor = 11) -> Tensor:
    """DARK refinement (Zhang et al. 2020): one Newton step on the log map.

    With :math:`L = \\log \\max(h', 10^{-10})` of the modulated heatmap h'
    (:func:`gaussian_blur`) and finite differences at the argmax J

    .. math::
        \\nabla L = \\begin{pmatrix} \\tfrac12 (L_{x+1,y} - L_{x-1,y}) \\\\
        \\tfrac12 (L_{x,y+1} - L_{x,y-1}) \\end{pmatrix}, \\quad
        \\mathcal H = \\begin{pmatrix} L_{xx} & L_{xy} \\\\
        L_{xy} & L_{yy} \\end{pmatrix}

        L_{xx} = \\tfrac14 (L_{x+2,y} - 2L_{x,y} + L_{x-2,y}), \\quad
        L_{yy} = \\tfrac14 (L_{x,y+2} - 2L_{x,y} + L_{x,y-2})

        L_{xy} = \\tfrac14 (L_{x+1,y+1} - L_{x+1,y-1} - L_{x-1,y+1}
        + L_{x-1,y-1})

    the refined position is :math:`J' = J - \\mathcal H^{-1} \\nabla L`,
    applied (as MMPose's ``refine_keypoints_dark``) only where
    1 < J_x < W - 2, 1 < J_y < H - 2 and :math:`\\det \\mathcal H \\ne 0`;
    elsewhere J is returned unchanged.

    h' is only needed at the 13 pixels above. Its rescaling by
    :math:`c = \\max h / \\max ((g \\otimes g) * h) \\ge 1` adds
    :math:`\\log c` to L, which the differences cancel, unless the clamp at
    1e-10 bites; so the blur is computed in the window around J, and over
    the whole map (for c) only for the maps where a blurred value there is
    below the clamp.

    Args:
        keypoints (Tensor): integer-valued (x, y) argmax positions in heatmap
            pixels, shape (B, K, 2).
        heatmaps (Tensor): the raw heatmaps, shape (B, K, H, W).
        blur_kernel (int | Tensor): the modulation kernel: its size k (the
            codec's ``blur_kernel_size``; the kernel is then
            :func:`gaussian_kernel1d` (k)) or the 1-D kernel itself,
            non-negative and summing to 1.

    Returns:
        Tensor: refined (x, y), shape (B, K, 2).
    """
    _check_keypoints(keypoints, heatmaps)
    if isinstance(blur_kernel, int):
        blur_kernel = gaussian_kernel1d(blur_kernel, device=heatmaps.device)
    if blur_kernel.dim() != 1 or blur_kernel.numel() % 2 != 1:
        raise ValueError(f'blur_kernel must be 1-D of odd length, got shape '
                         f'{tuple(blur_kernel.shape)}')
    x, y = keypoints.long().unbind(-1)
    inside = dark_applies(x, y, heatmaps)
    values = _blur_around(heatmaps, x, y, blur_kernel, _DARK_OFFSETS)
    # Twice the clamp: a margin for the rounding of c >= 1.
    full = inside & (values.amin(-1) < 2e-10)
    if full.any():
        # the clamp may bite: scale by c, which needs the blurred map's
        # maximum (the only whole-map work)
        values[full] *= _modulation_scale(heatmaps, full, blur_kernel)[:, None]
    return dark_newton_step(keypoints, values, inside)


def dark_applies(x: Tensor, y: Tensor, heatmaps: Tensor) -> Tensor:
    """Where DARK refines (MMPose's rule): 1 < x < W - 2 and 1 < y < H - 2,
    so that every pixel of the finite differences lies in the map.

    Args:
        x, y (Tensor): integer argmax positions, shape (B, K).
        heatmaps (Tensor): shape (B, K, H, W).

    Returns:
        Tensor: bool, shape (B, K).
    """
    H, W = heatmaps.shape[-2:]
    return (x > 1) & (x < W - 2) & (y > 1) & (y < H - 2)


def dark_newton_step(keypoints: Tensor, values: Tensor,
                     inside: Tensor) -> Tensor:
    """DARK's Newton step from the modulated heatmap around the argmax.

    The step of :func:`refine_keypoints_dark` (its formula), given h' at the
    13 pixels ``_DARK_OFFSETS`` around each argmax; shared with the
    traceable form that ONNX export uses (``mmipr.deploy.decode``).

    Args:
        keypoints (Tensor): integer-valued (x, y) argmax positions in heatmap
            pixels, shape (B, K, 2).
        values (Tensor): h' at J + each of ``_DARK_OFFSETS``, shape
            (B, K, 13).
        inside (Tensor): bool, where the refinement applies (the offsets lie
            in the map), shape (B, K).

    Returns:
        Tensor: refined (x, y), shape (B, K, 2).
    """
    log_values = values.clamp(min=1e-10).log()
    (c, xp, xm, yp, ym, xpp, xmm, ypp, ymm, pp, pm, mp,
     mm) = log_values.unbind(-1)
    dx = 0.5 * (xp - xm)
    dy = 0.5 * (yp - ym)
    dxx = 0.25 * (xpp - 2 * c + xmm)
    dyy = 0.25 * (ypp - 2 * c + ymm)
    dxy = 0.25 * (pp - pm - mp + mm)
    det = dxx * dyy - dxy**2
    # Closed-form inverse of the symmetric 2x2 Hessian.
    offset = torch.stack(
        (dyy * dx - dxy * dy, dxx * dy - dxy * dx), dim=-1) / det[..., None]
    refine = inside & (det != 0)
    return keypoints - torch.where(refine[..., None], offset, 0)


def decode_argmax(heatmaps: Tensor,
                  unbiased: bool = False,
                  blur_kernel: int | Tensor = 11
                  ) -> tuple[Tensor, Tensor]:
    """Decode keypoints from detection heatmaps (the paper's Eq. 1).

    The argmax (:func:`get_heatmap_maximum`) refined by the quarter-pixel
    shift (:func:`refine_keypoints`) or, with ``unbiased=True``, by DARK
    (:func:`refine_keypoints_dark`): MMPose's ``MSRAHeatmap.decode`` for a
    whole batch, before its scaling to input pixels.

    Args:
        heatmaps (Tensor): shape (B, K, H, W).
        unbiased (bool): use DARK instead of the quarter-pixel shift.
        blur_kernel (int | Tensor): DARK's modulation kernel, its size or the
            1-D kernel (see :func:`refine_keypoints_dark`).

    Returns:
        tuple:
        - keypoints (Tensor): (x, y) in heatmap pixels, shape (B, K, 2);
          (-1, -1) where a map has no positive value.
        - scores (Tensor): the heatmap maxima, shape (B, K).
    """
    heatmaps = heatmaps.contiguous()  # once (channels-last outputs)
    locs, scores = get_heatmap_maximum(heatmaps)
    if unbiased:
        keypoints = refine_keypoints_dark(locs, heatmaps, blur_kernel)
    else:
        keypoints = refine_keypoints(locs, heatmaps)
    return keypoints, scores
