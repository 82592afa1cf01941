"""Spatial priors on the softmax-normalised heatmap: the paper's KL(G || h~)
and dsntnn's reverse KL (:class:`KLPriorLoss`), DSNT's Jensen-Shannon
(:class:`JSPriorLoss`), and dsntnn's variance regulariser
(:class:`VarianceRegLoss`)."""
from __future__ import annotations

from typing import Callable, Dict, Optional

import torch
from mmpose.registry import MODELS
from torch import Tensor, nn

from mmipr.heatmap import (
    check_beta,
    flat_log_softmax,
    gaussian_js_divergence,
    gaussian_kl_divergence,
    reverse_gaussian_kl_divergence,
    variance_regularization,
)
from mmipr.utils.deprecation import warn_once
from mmipr.utils.validation import check_bool, check_choice, check_number

#: KLPriorLoss's divergence name -> function(log_heatmaps, centers, sigma)
#: -> (B, K)
DIVERGENCES: Dict[str, Callable[[Tensor, Tensor, float], Tensor]] = {
    'kl_g_h': gaussian_kl_divergence,
    'kl_h_g': reverse_gaussian_kl_divergence,
}

#: 1:1 weights with the L1 term at initialisation (see KLPriorLoss): the L1
#: loss 0.20 divided by the prior's mean value on a uniform 64x48 heatmap,
#: sigma 2, ground truths on a grid over the central 80 % of the heatmap.
DEFAULT_LOSS_WEIGHTS: Dict[str, float] = {
    'kl_g_h': 0.0525,  # 0.20 / 3.808
    'kl_h_g': 0.0019,  # 0.20 / 105.0
    'js': 0.325,  # 0.20 / 0.6158
    'variance': 1.34e-6,  # 0.20 / 149050 (pixels^4)
}


class _HeatmapPriorLoss(nn.Module):
    """Shared input checks, normalisation and visible-joint averaging."""

    def __init__(self, beta: float, use_target_weight: bool,
                 loss_weight: float):
        super().__init__()
        owner = type(self).__name__
        check_beta(beta, owner)
        check_bool(owner, 'use_target_weight', use_target_weight)
        check_number(owner, 'loss_weight', loss_weight, low=0,
                     hint='a negative weight would reward leaving the prior')
        self.beta = beta
        self.use_target_weight = use_target_weight
        self.loss_weight = loss_weight

    def per_joint(self, log_pred: Tensor, target: Tensor) -> Tensor:
        """The prior per joint, shape (B, K)."""
        raise NotImplementedError

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
        name = type(self).__name__
        if output.dim() != 4:
            raise ValueError(f'{name}: output must be heatmaps of shape '
                             f'(B, K, H, W), got {tuple(output.shape)}')
        B, K, H, W = output.shape
        if target.shape != (B, K, 2):
            raise ValueError(
                f'{name}: target must be keypoints (x, y) in heatmap '
                f'pixels of shape {(B, K, 2)}, got {tuple(target.shape)}')
        if self.use_target_weight:
            if target_weights is None:
                raise ValueError(
                    f'{name}: use_target_weight=True needs target_weights '
                    'of shape (B, K); pass them or set use_target_weight=False')
            if target_weights.shape != (B, K):
                raise ValueError(
                    f'{name}: target_weights must have shape {(B, K)}, '
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
        loss = self.per_joint(log_pred, target)
        loss = torch.where(visible, loss, loss.new_zeros(())) * weights
        return loss.sum() / visible.sum().clamp(min=1) * self.loss_weight


def _check_sigma(owner: str, sigma: float) -> float:
    """sigma of a Gaussian prior: finite and positive (an infinite sigma
    would make the prior uniform, i.e. no prior at all)."""
    return check_number(
        owner, 'sigma', sigma, low=0, low_open=True,
        hint='the standard deviation of the prior in heatmap pixels (the '
        "paper's 1.5 to 3); an infinite sigma would make the prior uniform")


@MODELS.register_module()
class KLPriorLoss(_HeatmapPriorLoss):
    """Gaussian spatial prior on h~ = softmax(beta h): the paper's KL(G_sigma
    || h~) (Sec. 4.2, App. A.4) by default, or dsntnn's reverse KL.

    .. math::
        L_p = \\frac{1}{|V|} \\sum_{(b, k)} w_{bk} \\, D(G, \\tilde h),
        \\qquad \\tilde h = \\mathrm{softmax}(\\beta h)

    with D chosen by ``divergence`` (functions in :mod:`mmipr.heatmap`):

    - ``'kl_g_h'`` (default): KL(G || h~) = sum_p G_p (log G_p - log h~_p),
      the paper's (:func:`~mmipr.heatmap.gaussian_kl_divergence`);
    - ``'kl_h_g'``: KL(h~ || G), dsntnn's ``kl_reg_losses`` direction
      (:func:`~mmipr.heatmap.reverse_gaussian_kl_divergence`).

    DSNT's Jensen-Shannon prior is :class:`JSPriorLoss`; the former spelling
    ``KLPriorLoss(divergence='js')`` still builds it, with a warning.

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

    The other priors' defaults follow the same rule: their mean value
    on a uniform 64x48 heatmap, sigma 2, ground truths over the central
    80 % (``DEFAULT_LOSS_WEIGHTS``): KL(h~ || G) = 105.0 (it grows with the
    squared distances of the whole map to the centre), so 0.0019; JS
    (:class:`JSPriorLoss`) = 0.616 (bounded by log 2), so 0.325.

    Args:
        sigma (float): standard deviation of the prior in heatmap pixels,
            positive and finite. Default: 2.0.
        beta (float): softmax scale, as the head's; positive and finite.
            Default: 1.0.
        use_target_weight (bool): weight each joint by its target weight and
            average over joints with positive weight. Default: True.
        loss_weight (float, optional): weight of the loss, >= 0. Default:
            None, the divergence's 1:1 weight (0.0525 for ``'kl_g_h'``).
        divergence (str): ``'kl_g_h'`` or ``'kl_h_g'`` (``'js'``: the
            former spelling of :class:`JSPriorLoss`, warns).
            Default: ``'kl_g_h'``.
    """

    def __init__(self,
                 sigma: float = 2.0,
                 beta: float = 1.0,
                 use_target_weight: bool = True,
                 loss_weight: Optional[float] = None,
                 divergence: str = 'kl_g_h'):
        if divergence == 'js':
            warn_once(
                "KLPriorLoss(divergence='js')",
                "KLPriorLoss(divergence='js') computes the Jensen-Shannon "
                "divergence, not a KL: write dict(type='JSPriorLoss', "
                'sigma=...) instead (same loss, same default weight)')
            divergence_fn = gaussian_js_divergence
        else:
            check_choice('KLPriorLoss', 'divergence', divergence,
                         sorted(DIVERGENCES),
                         hint="for DSNT's Jensen-Shannon prior use "
                         "type='JSPriorLoss'")
            divergence_fn = DIVERGENCES[divergence]
        check_number('KLPriorLoss', 'loss_weight', loss_weight, low=0,
                     allow_none=True)
        if loss_weight is None:
            loss_weight = DEFAULT_LOSS_WEIGHTS[divergence]
        super().__init__(beta, use_target_weight, loss_weight)
        self.sigma = _check_sigma('KLPriorLoss', sigma)
        self.divergence = divergence
        self._divergence_fn = divergence_fn

    def per_joint(self, log_pred: Tensor, target: Tensor) -> Tensor:
        """D(G, h~) per joint, shape (B, K)."""
        return self._divergence_fn(log_pred, target, self.sigma)


@MODELS.register_module()
class JSPriorLoss(_HeatmapPriorLoss):
    """Jensen-Shannon divergence of h~ = softmax(beta h) and the Gaussian
    prior: DSNT's regulariser (Nibali et al. 2018; dsntnn's
    ``js_reg_losses``, MMPose's ``JSDiscretLoss``).

    .. math::
        L_p = \\frac{1}{|V|} \\sum_{(b, k)} w_{bk} \\, JS(\\tilde h, G)

    (:func:`~mmipr.heatmap.gaussian_js_divergence`, in nats, bounded by
    log 2). G, the weighting, masking of invisible joints and precision as
    :class:`KLPriorLoss`. Formerly spelt ``KLPriorLoss(divergence='js')``.

    The default ``loss_weight`` is the 1:1 weight at initialisation, as
    :class:`KLPriorLoss`'s: the mean JS on a uniform 64x48 heatmap, sigma 2,
    ground truths over the central 80 %, is 0.616, so 0.20 / 0.616 = 0.325.

    Args:
        sigma (float): standard deviation of the prior in heatmap pixels,
            positive and finite. Default: 2.0.
        beta (float): softmax scale, as the head's; positive and finite.
            Default: 1.0.
        use_target_weight (bool): as :class:`KLPriorLoss`. Default: True.
        loss_weight (float): weight of the loss, >= 0. Default: 0.325.
    """

    def __init__(self,
                 sigma: float = 2.0,
                 beta: float = 1.0,
                 use_target_weight: bool = True,
                 loss_weight: float = DEFAULT_LOSS_WEIGHTS['js']):
        super().__init__(beta, use_target_weight, loss_weight)
        self.sigma = _check_sigma('JSPriorLoss', sigma)

    def per_joint(self, log_pred: Tensor, target: Tensor) -> Tensor:
        """JS(h~, G) per joint, shape (B, K)."""
        return gaussian_js_divergence(log_pred, target, self.sigma)


@MODELS.register_module()
class VarianceRegLoss(_HeatmapPriorLoss):
    """dsntnn's variance regulariser on h~ = softmax(beta h).

    .. math::
        L_{var} = \\frac{1}{|V|} \\sum_{(b, k)} w_{bk}
        \\big( (\\mathrm{Var}_x - \\sigma^2)^2
        + (\\mathrm{Var}_y - \\sigma^2)^2 \\big)

    (:func:`mmipr.heatmap.variance_regularization`; Var in heatmap pixels^2
    around the heatmap's own expectation, as dsntnn's current
    ``variance_reg_losses``). It shapes the spread only; the location comes
    from the coordinate loss. Weighting, masking of invisible joints and
    precision as :class:`KLPriorLoss`; ``target`` is used only for its
    shape, the head's call being the same for every prior.

    The default ``loss_weight`` is the 1:1 weight at initialisation of
    :class:`KLPriorLoss` (uniform 64x48 heatmap, sigma 2):
    Var_x = (48^2 - 1) / 12 = 191.9, Var_y = (64^2 - 1) / 12 = 341.25, so
    L_var = 187.9^2 + 337.25^2 = 149050 and 0.20 / 149050 = 1.34e-6. The
    loss falls by orders of magnitude once the heatmap localises.

    Args:
        sigma (float): target standard deviation in heatmap pixels,
            positive and finite. Default: 2.0.
        beta (float): softmax scale, as the head's; positive and finite.
            Default: 1.0.
        use_target_weight (bool): as :class:`KLPriorLoss`. Default: True.
        loss_weight (float): weight of the loss, >= 0. Default: 1.34e-6.
    """

    def __init__(self,
                 sigma: float = 2.0,
                 beta: float = 1.0,
                 use_target_weight: bool = True,
                 loss_weight: float = DEFAULT_LOSS_WEIGHTS['variance']):
        super().__init__(beta, use_target_weight, loss_weight)
        self.sigma = check_number(
            'VarianceRegLoss', 'sigma', sigma, low=0, low_open=True,
            hint='the target standard deviation in heatmap pixels')

    def per_joint(self, log_pred: Tensor, target: Tensor) -> Tensor:
        """(Var_x - sigma^2)^2 + (Var_y - sigma^2)^2 per joint, (B, K)."""
        return variance_regularization(log_pred, self.sigma)
