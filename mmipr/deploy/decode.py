"""Traceable forms of the decoding steps that ``torch.export`` cannot trace.

``torch.onnx.export(dynamo=True)`` traces through ``torch.export``, which
refuses Python control flow on tensor values. Softmax, expectation, the bias
compensations, A(s) (:mod:`mmipr.heatmap`) and the argmax with its
quarter-pixel shift (:func:`mmipr.heatmap.decode.decode_argmax` with
``unbiased=False``) trace as they are and are exported unchanged. DARK
(:func:`mmipr.heatmap.decode.refine_keypoints_dark`) does not: for speed it
blurs only a window around each argmax, cut from a strided view of the
storage (``as_strided``, which ONNX lacks), and branches on the data
(``if off_storage.any()``: windows at the storage's ends; ``if full.any()``:
maps whose blurred values reach the log's clamp and need the whole-map
modulation scale). :func:`refine_keypoints_dark_traceable` computes the same
refinement on the whole modulated map, without branches, and shares the
Newton step itself (:func:`~mmipr.heatmap.decode.dark_newton_step`); a test
checks the two agree.
"""
from __future__ import annotations

import torch
from torch import Tensor

from mmipr.heatmap.decode import (
    _DARK_OFFSETS,
    _values_at,
    dark_applies,
    dark_newton_step,
    gaussian_blur,
    get_heatmap_maximum,
    refine_keypoints,
)


def refine_keypoints_dark_traceable(keypoints: Tensor, heatmaps: Tensor,
                                    blur_kernel: Tensor) -> Tensor:
    """DARK refinement without data-dependent branches (exportable).

    The modulated heatmap h' (:func:`~mmipr.heatmap.decode.gaussian_blur`,
    whole map, maximum kept) is read at the 13 pixels of the finite
    differences and passed to the shared Newton step. Equal to
    :func:`~mmipr.heatmap.decode.refine_keypoints_dark` up to float
    rounding: that function skips the rescaling by
    c = max h / max blur(h) where the log's clamp does not bite, and the
    rescaling adds log c to every log value, which the differences cancel.

    Args:
        keypoints (Tensor): integer-valued (x, y) argmax positions in heatmap
            pixels, shape (B, K, 2).
        heatmaps (Tensor): the raw heatmaps, shape (B, K, H, W).
        blur_kernel (Tensor): the 1-D modulation kernel, shape (k, ), k odd.

    Returns:
        Tensor: refined (x, y), shape (B, K, 2).
    """
    x, y = keypoints.long().unbind(-1)
    offsets = torch.tensor(_DARK_OFFSETS, device=heatmaps.device)
    values = _values_at(gaussian_blur(heatmaps, blur_kernel), x, y, offsets)
    return dark_newton_step(keypoints, values, dark_applies(x, y, heatmaps))


def decode_argmax_traceable(heatmaps: Tensor, unbiased: bool,
                            blur_kernel: Tensor) -> tuple[Tensor, Tensor]:
    """:func:`mmipr.heatmap.decode.decode_argmax` in an exportable form.

    The argmax and the quarter-pixel shift are the library's own functions;
    DARK is :func:`refine_keypoints_dark_traceable`.

    Args:
        heatmaps (Tensor): shape (B, K, H, W).
        unbiased (bool): DARK instead of the quarter-pixel shift.
        blur_kernel (Tensor): DARK's 1-D kernel, shape (k, ).

    Returns:
        tuple:
        - keypoints (Tensor): (x, y) in heatmap pixels, shape (B, K, 2);
          (-1, -1) where a map has no positive value.
        - scores (Tensor): the heatmap maxima, shape (B, K).
    """
    heatmaps = heatmaps.contiguous()
    locs, scores = get_heatmap_maximum(heatmaps)
    if unbiased:
        keypoints = refine_keypoints_dark_traceable(locs, heatmaps,
                                                    blur_kernel)
    else:
        keypoints = refine_keypoints(locs, heatmaps)
    return keypoints, scores
