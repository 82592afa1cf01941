"""Ratio of the prior and integral gradients on the shared heatmap."""
from __future__ import annotations

from typing import Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpose.registry import HOOKS
from torch import Tensor, nn

from mmipr.utils.validation import InvalidArgumentError, check_number


@HOOKS.register_module()
class PriorGradientRatioHook(Hook):
    """Log ||dL_prior/dh|| / ||dL_integral/dh|| every ``interval`` iterations.

    The paper's Table IV (b): the magnitude of the prior loss's gradient
    relative to the integral loss's, both with respect to the heatmap logits
    h the two losses share. The gradients are taken during the training
    step itself: on the selected iterations, forward hooks catch h (the
    output of ``head.<logits_layer>``) and each loss (the outputs of
    ``head.<integral_loss>`` and ``head.<prior_loss>``, weights included)
    and ``torch.autograd.grad`` each loss w.r.t. h, keeping the graph for the
    optimiser's backward. No extra forward pass, no change to training.

    Logged to the message hub (hence the training log and the visualizer's
    ``scalars.json``) as ``train/prior_integral_grad_ratio``, with the two
    norms as ``train/grad_norm_prior`` and ``train/grad_norm_integral``
    (L2 norms over the whole batch). The log shows MMEngine's running mean
    of the last ``window_size`` (default 10) measurements; add
    ``log_processor = dict(custom_cfg=[dict(data_src=
    'prior_integral_grad_ratio', method_name='current')])`` for the latest
    value.

    Enable with ``custom_hooks = [dict(type='PriorGradientRatioHook',
    interval=50)]``; the head must have a prior loss, e.g. ``IntegralHead(
    prior_loss=dict(type='KLPriorLoss', sigma=2.0))``.

    Args:
        interval (int): measure every ``interval`` training iterations.
            Default: 50.
        logits_layer (str): attribute of the head whose output is the
            heatmap logits. Default: ``'final_layer'`` (MMPose's
            ``HeatmapHead`` trunk).
        integral_loss (str): attribute of the head holding the coordinate
            loss module. Default: ``'loss_module'``.
        prior_loss (str): attribute of the head holding the prior loss
            module. Default: ``'prior_loss_module'``.
    """

    priority = 'NORMAL'

    def __init__(self,
                 interval: int = 50,
                 logits_layer: str = 'final_layer',
                 integral_loss: str = 'loss_module',
                 prior_loss: str = 'prior_loss_module'):
        check_number('PriorGradientRatioHook', 'interval', interval,
                     integer=True, low=1,
                     hint='measure every `interval` training iterations')
        for name, value in (('logits_layer', logits_layer),
                            ('integral_loss', integral_loss),
                            ('prior_loss', prior_loss)):
            if not (isinstance(value, str) and value.isidentifier()):
                raise InvalidArgumentError(
                    f'PriorGradientRatioHook: {name} must be the name of an '
                    f'attribute of the head (a str), got {value!r}')
        self.interval = interval
        self.names = dict(logits=logits_layer, integral=integral_loss,
                          prior=prior_loss)
        self._active = False
        self._logits: Optional[Tensor] = None
        self._norms: dict = {}
        self._handles: list = []

    def _head_modules(self, runner) -> dict:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        head = getattr(model, 'head', None)
        modules = {}
        for key, name in self.names.items():
            module = getattr(head, name, None)
            if not isinstance(module, nn.Module):
                raise ValueError(
                    f'PriorGradientRatioHook needs `model.head.{name}` (the '
                    f'{key} {"layer" if key == "logits" else "loss"}), but '
                    f'{type(head).__name__} has none; use a head with a prior '
                    "loss, e.g. IntegralHead(prior_loss=dict(type="
                    "'KLPriorLoss')), or name the attributes with the hook's "
                    '`logits_layer`, `integral_loss` and `prior_loss`')
            modules[key] = module
        return modules

    def before_run(self, runner) -> None:
        modules = self._head_modules(runner)
        self._handles = [
            modules['logits'].register_forward_hook(self._catch_logits),
            modules['integral'].register_forward_hook(
                self._grad_norm_hook('integral')),
            modules['prior'].register_forward_hook(
                self._grad_norm_hook('prior')),
        ]

    def after_run(self, runner) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _catch_logits(self, module, inputs, output) -> None:
        if self._active:
            self._logits = output

    def _grad_norm_hook(self, key: str):

        def hook(module, inputs, output) -> None:
            if not (self._active and self._logits is not None
                    and torch.is_tensor(output) and output.requires_grad):
                return
            grad, = torch.autograd.grad(
                output.sum(), self._logits, retain_graph=True,
                allow_unused=True)
            self._norms[key] = (0.0 if grad is None else
                                grad.detach().float().norm().item())

        return hook

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        self._active = self.every_n_train_iters(runner, self.interval)
        self._logits = None
        self._norms = {}

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if not self._active:
            return
        self._active = False
        self._logits = None
        norms, self._norms = self._norms, {}
        if set(norms) != {'prior', 'integral'}:
            raise RuntimeError(
                'PriorGradientRatioHook: the training step did not call '
                f'{sorted(set(self.names.values()) - {self.names["logits"]})}'
                ' on the heatmap logits; check the head names given to the '
                'hook')
        hub = runner.message_hub
        hub.update_scalar('train/grad_norm_prior', norms['prior'])
        hub.update_scalar('train/grad_norm_integral', norms['integral'])
        ratio = (norms['prior'] / norms['integral']
                 if norms['integral'] > 0 else float('inf'))
        hub.update_scalar('train/prior_integral_grad_ratio', ratio)
