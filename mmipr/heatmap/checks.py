"""Input checks shared by the heatmap functions: one home for the rules
"heatmaps are (B, K, H, W)" and "beta is a positive, finite softmax scale"."""
from __future__ import annotations

from torch import Tensor

from mmipr.utils.validation import check_number


def check_heatmaps(heatmaps: Tensor, name: str = 'heatmaps') -> None:
    """Raise unless ``heatmaps`` has four dimensions (B, K, H, W).

    Args:
        heatmaps (Tensor): the tensor to check.
        name (str): its name in the message. Default: ``'heatmaps'``.

    Raises:
        ValueError: naming the shape and the fix.
    """
    if heatmaps.dim() != 4:
        raise ValueError(
            f'{name} must have shape (B, K, H, W), got '
            f'{tuple(heatmaps.shape)}; add the missing batch or keypoint '
            'axis with `unsqueeze`.')


def check_beta(beta: float, owner: str) -> float:
    """Raise unless ``beta`` is a positive, finite number (a softmax scale).

    beta = 0 makes softmax(beta * h) uniform whatever h: the expectation is
    the heatmap centre and every gradient into the trunk is zero, so the
    model never learns; a negative beta inverts the heatmap.

    Args:
        beta (float): the softmax scale to check.
        owner (str): name used in the message (the module being built).

    Returns:
        float: ``beta``, unchanged.

    Raises:
        InvalidArgumentError: ``beta`` is not a positive, finite number
            (a ``ValueError``; strings and booleans are refused too).
    """
    return check_number(
        owner, 'beta', beta, low=0, low_open=True,
        hint='softmax(beta * h) with beta = 0 is uniform whatever h (zero '
        'gradient into the trunk: the model never learns), and a negative '
        'beta puts the mass on the lowest logits')
