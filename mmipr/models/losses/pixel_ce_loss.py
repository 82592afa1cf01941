"""Per-pixel cross-entropy over the channels of a heatmap head's output."""
from __future__ import annotations

from typing import Optional

import torch.nn.functional as F
from mmpose.registry import MODELS
from torch import Tensor, nn

from mmipr.utils.validation import check_number


@MODELS.register_module()
class PixelCrossEntropyLoss(nn.Module):
    """Softmax cross-entropy over the C channels at every pixel, averaged
    over the pixels: a segmentation loss for MMPose's ``HeatmapHead`` (one
    output channel per class), which calls its loss as
    ``loss(output, target, target_weight)``.

    .. math::
        L = -\\frac{1}{B h w} \\sum_{b, y, x} \\sum_c t_{bcyx}
        \\log \\mathrm{softmax}_c(z_{b \\cdot yx})

    It is PyTorch's ``F.cross_entropy`` with class-probability targets (the
    one-hot maps of :class:`~mmipr.datasets.transforms.GeneratePartTarget`).
    MMPose's classification losses do not fit: ``KLDiscretLoss`` and
    ``JSDiscretLoss`` normalise over positions (SimCC), ``BCELoss`` treats
    the channels as independent.

    Args:
        loss_weight (float): weight of the loss, >= 0. Default: 1.0.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        check_number('PixelCrossEntropyLoss', 'loss_weight', loss_weight,
                     low=0)
        self.loss_weight = float(loss_weight)

    def forward(self, output: Tensor, target: Tensor,
                target_weight: Optional[Tensor] = None) -> Tensor:
        """The loss.

        Args:
            output (Tensor): (B, C, h, w) logits.
            target (Tensor): (B, C, h, w) class probabilities per pixel
                (each pixel's C values sum to 1).
            target_weight (Tensor, optional): unused (every pixel counts);
                accepted because ``HeatmapHead`` passes its
                ``keypoint_weights``.

        Returns:
            Tensor: the scalar loss.
        """
        if output.shape != target.shape:
            raise ValueError(
                f'PixelCrossEntropyLoss: output {tuple(output.shape)} and '
                f'target {tuple(target.shape)} must both be (B, C, h, w): '
                'give the head one output channel per class of the target')
        return F.cross_entropy(output.float(), target.float()) * \
            self.loss_weight
