"""L1 coordinate loss averaged over the visible joints (Eq. 4)."""
from __future__ import annotations

from typing import Optional

from mmpose.registry import MODELS
from torch import Tensor, nn

from mmipr.utils.validation import check_bool, check_number


@MODELS.register_module()
class VisibleL1Loss(nn.Module):
    """The paper's Eq. 4, averaged over the joints that carry a label.

    .. math::
        L = \\frac{1}{|V|} \\sum_{(b, k)} w_{bk}
        \\frac{|x_{bk} - \\hat x_{bk}| + |y_{bk} - \\hat y_{bk}|}{2},
        \\qquad V = \\{(b, k) : w_{bk} > 0\\}

    MMPose's ``L1Loss(use_target_weight=True)`` takes the mean over all
    B * K * 2 entries, unlabelled joints included, so its scale shrinks with
    the share of visible joints (about 0.6 on COCO, and it varies by batch)
    while :class:`KLPriorLoss` averages over V. Averaging both over the same
    V keeps their ratio fixed. With every joint visible and weights 1 this
    equals MMPose's ``L1Loss``. A batch without labelled joints gives 0 with
    zero gradients.

    Args:
        use_target_weight (bool): weight each joint by its target weight and
            average over joints with positive weight; otherwise average over
            all B * K joints. Default: True.
        loss_weight (float): weight of the loss, >= 0. Default: 1.0.
    """

    def __init__(self, use_target_weight: bool = True,
                 loss_weight: float = 1.0):
        super().__init__()
        check_bool('VisibleL1Loss', 'use_target_weight', use_target_weight)
        check_number('VisibleL1Loss', 'loss_weight', loss_weight, low=0,
                     hint='a negative weight would push keypoints away '
                     'from the ground truth')
        self.use_target_weight = use_target_weight
        self.loss_weight = loss_weight

    def forward(self, output: Tensor, target: Tensor,
                target_weight: Optional[Tensor] = None) -> Tensor:
        """Compute the loss.

        Args:
            output (Tensor): predicted coordinates, shape (B, K, 2).
            target (Tensor): ground-truth coordinates, shape (B, K, 2).
            target_weight (Tensor, optional): shape (B, K); required with
                ``use_target_weight``.

        Returns:
            Tensor: scalar loss.
        """
        if output.shape != target.shape or output.shape[-1] != 2:
            raise ValueError(
                'VisibleL1Loss: output and target must both have shape '
                f'(B, K, 2), got {tuple(output.shape)} and '
                f'{tuple(target.shape)}')
        per_joint = (output - target).abs().mean(-1)
        if not self.use_target_weight:
            return per_joint.mean() * self.loss_weight
        if target_weight is None or target_weight.shape != per_joint.shape:
            raise ValueError(
                'VisibleL1Loss: use_target_weight=True needs target_weight of '
                f'shape {tuple(per_joint.shape)}, got '
                f'{None if target_weight is None else tuple(target_weight.shape)}')
        visible = target_weight > 0
        # Unlabelled joints may carry any coordinate (NaN included): mask,
        # do not multiply, so nothing non-finite reaches the graph.
        per_joint = per_joint.where(visible, per_joint.new_zeros(()))
        total = (per_joint * target_weight).sum()
        return total / visible.sum().clamp(min=1) * self.loss_weight
