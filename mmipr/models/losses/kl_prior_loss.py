"""KL divergence between a Gaussian prior and the softmax-normalised heatmap."""
from __future__ import annotations

from typing import Optional

import torch
from mmpose.registry import MODELS
from torch import Tensor, nn

from mmipr.heatmap import flat_log_softmax, gaussian_kl_divergence


@MODELS.register_module()
class KLPriorLoss(nn.Module):
    """Spatial prior of the paper (Sec. 4.2, App. A.4): KL(G_sigma || h~).

    .. math::
        L_p = \\frac{1}{|V|} \\sum_{(b, k)} w_{bk} \\sum_{p \\in \\Omega}
        G_p (\\log G_p - \\log \\tilde h_p),
        \\qquad \\tilde h = \\mathrm{softmax}(\\beta h)

    G is a Gaussian of standard deviation ``sigma`` (heatmap pixels) centred
    on the ground truth, normalised to sum 1 over the heatmap; w the target
    weights and V the joints with w > 0 (all joints without
    ``use_target_weight``). A batch without any visible joint gives 0, with
    zero gradients. Everything is computed in log space (log-softmax,
    log-normalised Gaussian), so it is stable for large beta and under
    fp16/bf16 autocast (computed in float32).

    The default ``loss_weight`` makes the weighted prior equal to
    :class:`IntegralHead`'s L1 coordinate loss (:class:`VisibleL1Loss`,
    weight 1, coordinates normalised by the input size) at initialisation
    for the paper's 64x48 heatmaps and sigma 2: the paper's 1:1 ratio
    (App. A.4). At initialisation the heatmap is nearly uniform, so
    L_p = log(H W) - H(G) = 8.030 - 4.224 = 3.806, while the L1 loss is 0.20
    for keypoints spread over the central 80 % of the input (the mean of
    |x - 0.5| for x uniform on [0.1, 0.9]; ``bench_integral_head.py``
    measures 0.20 on SBL-R50). Both are averaged over the same labelled
    joints, so the ratio does not depend on how many are visible (MMPose's
    ``L1Loss`` averages over all joints, which would make it about 1.5:1 at
    COCO's visibility): 0.20 / 3.806 = 0.0525. The weight depends on sigma
    and the heatmap size only through L_p's entropy and log(H W) terms; the
    paper keeps it fixed across sigma, so does this default.

    Args:
        sigma (float): standard deviation of the prior in heatmap pixels.
            Default: 2.0.
        beta (float): softmax scale, as the head's. Default: 1.0.
        use_target_weight (bool): weight each joint by its target weight and
            average over joints with positive weight. Default: True.
        loss_weight (float): weight of the loss. Default: 0.0525.
    """

    def __init__(self,
                 sigma: float = 2.0,
                 beta: float = 1.0,
                 use_target_weight: bool = True,
                 loss_weight: float = 0.0525):
        super().__init__()
        if not sigma > 0:
            raise ValueError(f'KLPriorLoss: sigma must be positive, got {sigma}')
        self.sigma = sigma
        self.beta = beta
        self.use_target_weight = use_target_weight
        self.loss_weight = loss_weight

    def forward(self,
                output: Tensor,
                target: Tensor,
                target_weights: Optional[Tensor] = None,
                log_normalized: bool = False) -> Tensor:
        """Compute the prior loss.

        Args:
            output (Tensor): heatmap logits h, shape (B, K, H, W); with
                ``log_normalized=True``, the log-normalised heatmaps
                log softmax(beta * h) instead (``beta`` is then not applied),
                so a head reuses the softmax it already computed.
            target (Tensor): ground-truth keypoints (x, y) in heatmap pixels,
                shape (B, K, 2).
            target_weights (Tensor, optional): shape (B, K); required with
                ``use_target_weight``.
            log_normalized (bool): whether ``output`` is already
                log-normalised. Default: False.

        Returns:
            Tensor: scalar loss.
        """
        if output.dim() != 4:
            raise ValueError('KLPriorLoss: output must be heatmaps of shape '
                             f'(B, K, H, W), got {tuple(output.shape)}')
        B, K, H, W = output.shape
        if target.shape != (B, K, 2):
            raise ValueError(
                'KLPriorLoss: target must be keypoints (x, y) in heatmap '
                f'pixels of shape {(B, K, 2)}, got {tuple(target.shape)}')
        if self.use_target_weight:
            if target_weights is None:
                raise ValueError(
                    'KLPriorLoss: use_target_weight=True needs target_weights '
                    'of shape (B, K); pass them or set use_target_weight=False')
            if target_weights.shape != (B, K):
                raise ValueError(
                    f'KLPriorLoss: target_weights must have shape {(B, K)}, '
                    f'got {tuple(target_weights.shape)}')
            weights = target_weights.float()
        else:
            weights = output.new_ones((B, K), dtype=torch.float32)

        if not log_normalized:
            log_pred = flat_log_softmax(output, self.beta)
        elif output.dtype in (torch.float16, torch.bfloat16):
            log_pred = output.float()
        else:
            log_pred = output
        # Invisible joints may carry any coordinate (NaN, far outside): centre
        # their Gaussian at 0 so that nothing non-finite reaches the graph.
        visible = weights > 0
        target = torch.where(visible[..., None], target.to(log_pred.dtype),
                             log_pred.new_zeros(()))
        kl = gaussian_kl_divergence(log_pred, target, self.sigma)
        kl = torch.where(visible, kl, kl.new_zeros(())) * weights
        return kl.sum() / visible.sum().clamp(min=1) * self.loss_weight
