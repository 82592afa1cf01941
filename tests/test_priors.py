"""Priors beside the paper's KL(G || h~): each formula against an independent
implementation (torch's kl_div, MMPose's JSDiscretLoss, a float64 brute
force), the loss modules' masking and precision, and the head's selection."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmpose.models.losses import JSDiscretLoss
from mmpose.registry import MODELS

import mmipr  # noqa: F401  (registers the losses and IntegralHead)
from mmipr.heatmap import (
    flat_log_softmax,
    gaussian_js_divergence,
    gaussian_kl_divergence,
    heatmap_variance,
    reverse_gaussian_kl_divergence,
    variance_regularization,
)
from mmipr.models.heads.integral_head import IntegralHead

B, K, H, W = 3, 4, 16, 12
WEIGHTS = torch.tensor([[1., 0., 1., 1.], [0., 0., 1., 0.], [1., 1., 1., 1.]])


def _gaussian_ref(kps, sigma):
    """Normalised Gaussian written out in numpy, float64, (B, K, H, W)."""
    xs, ys = np.meshgrid(np.arange(W), np.arange(H))
    k = kps.double().numpy()[..., None, None, :]
    g = np.exp(-((xs - k[..., 0])**2 + (ys - k[..., 1])**2) / (2 * sigma**2))
    return torch.from_numpy(g / g.sum(axis=(-2, -1), keepdims=True))


def _inputs(seed=0, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, K, H, W, generator=g, dtype=torch.float64) * scale
    kps = torch.rand(B, K, 2, generator=g, dtype=torch.float64) \
        * torch.tensor([W - 1., H - 1.])
    return logits, kps


@pytest.mark.parametrize('sigma,beta', [(2.0, 1.0), (0.5, 1.0), (3.0, 5.0)])
def test_reverse_kl_equals_torch_kl_div(sigma, beta):
    logits, kps = _inputs()
    log_h = F.log_softmax(beta * logits.flatten(2), -1).view_as(logits)
    gauss = _gaussian_ref(kps, sigma)
    # F.kl_div(input=log q, target=p) = p (log p - log q): KL(h~ || G)
    ref = F.kl_div(gauss.log(), log_h, reduction='none',
                   log_target=True).sum(dim=(2, 3))
    got = reverse_gaussian_kl_divergence(log_h, kps, sigma)
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-10)
    # and the paper's direction is the other one
    fwd = F.kl_div(log_h, gauss, reduction='none').sum(dim=(2, 3))
    torch.testing.assert_close(gaussian_kl_divergence(log_h, kps, sigma), fwd,
                               rtol=1e-10, atol=1e-10)
    assert (got - fwd).abs().max() > 1e-2


@pytest.mark.parametrize('sigma', [0.5, 2.0, 4.0])
def test_js_equals_mmpose_js_discret_loss(sigma):
    logits, kps = _inputs(seed=1)
    log_h = flat_log_softmax(logits)
    gauss = _gaussian_ref(kps, sigma)
    got = gaussian_js_divergence(log_h, kps, sigma)
    ref_fn = JSDiscretLoss(use_target_weight=False, size_average=False)
    ref = torch.stack([
        torch.stack([ref_fn(log_h[b:b + 1, k:k + 1].exp(),
                            gauss[b:b + 1, k:k + 1]) for k in range(K)])
        for b in range(B)
    ])
    # MMPose adds 1e-24 inside its logarithms
    torch.testing.assert_close(got, ref, rtol=1e-9, atol=1e-12)
    assert (got <= math.log(2)).all() and (got >= 0).all()


def test_js_loss_module_equals_mmpose_with_target_weights():
    # MMPose's JSDiscretLoss zeroes invisible joints and divides the sum by
    # B; JSPriorLoss averages over the visible joints V:
    # ours * |V| = MMPose's * B for 0/1 weights
    logits, kps = _inputs(seed=2)
    loss = MODELS.build(dict(type='JSPriorLoss',
                             loss_weight=1.0))(logits, kps, WEIGHTS)
    ref = JSDiscretLoss(use_target_weight=True)(
        flat_log_softmax(logits).exp(), _gaussian_ref(kps, 2.0),
        WEIGHTS.double())
    torch.testing.assert_close(loss * (WEIGHTS > 0).sum(), ref * B,
                               rtol=1e-9, atol=1e-12)


def _variance_brute_force(hm: np.ndarray):
    h, w = hm.shape
    mx = sum(hm[j, i] * i for j in range(h) for i in range(w))
    my = sum(hm[j, i] * j for j in range(h) for i in range(w))
    vx = sum(hm[j, i] * (i - mx)**2 for j in range(h) for i in range(w))
    vy = sum(hm[j, i] * (j - my)**2 for j in range(h) for i in range(w))
    return vx, vy


@pytest.mark.parametrize('sigma', [1.0, 2.0])
def test_variance_regularization_equals_brute_force(sigma):
    logits, _ = _inputs(seed=3)
    log_h = flat_log_softmax(logits)
    var = heatmap_variance(log_h.exp())
    reg = variance_regularization(log_h, sigma)
    for b in range(B):
        for k in range(K):
            vx, vy = _variance_brute_force(log_h[b, k].exp().numpy())
            assert var[b, k].tolist() == pytest.approx([vx, vy], abs=1e-9)
            ref = (vx - sigma**2)**2 + (vy - sigma**2)**2
            assert reg[b, k].item() == pytest.approx(ref, rel=1e-10)
    # a uniform map: (n^2 - 1) / 12 per axis
    uni = heatmap_variance(torch.full((1, 1, 64, 48), 1 / (64 * 48),
                                      dtype=torch.float64))
    torch.testing.assert_close(uni[0, 0], torch.tensor(
        [(48**2 - 1) / 12, (64**2 - 1) / 12], dtype=torch.float64))


@pytest.mark.parametrize('cfg', [
    dict(type='KLPriorLoss', divergence='kl_h_g'),
    dict(type='JSPriorLoss'),
    dict(type='VarianceRegLoss'),
])
def test_loss_modules_mask_weight_and_reuse_the_softmax(cfg):
    logits, kps = _inputs(seed=4)
    kps[0, 1] = float('nan')  # invisible joints may carry anything
    kps[1, 0] = 1e6
    loss_fn = MODELS.build(dict(cfg, loss_weight=1.0, sigma=1.5, beta=2.0))
    log_h = flat_log_softmax(logits, 2.0)
    if cfg['type'] == 'VarianceRegLoss':
        per_joint = variance_regularization(log_h, 1.5)
    else:
        fn = (gaussian_js_divergence if cfg['type'] == 'JSPriorLoss' else
              reverse_gaussian_kl_divergence)
        per_joint = fn(log_h, torch.nan_to_num(kps, posinf=0.).where(
            kps.abs() < 1e5, 0.), 1.5)
    visible = WEIGHTS > 0
    ref = (per_joint * WEIGHTS)[visible].sum() / visible.sum()
    logits.requires_grad_()
    loss = loss_fn(logits, kps, WEIGHTS)
    torch.testing.assert_close(loss, ref, rtol=1e-10, atol=1e-12)
    loss.backward()
    assert torch.isfinite(logits.grad).all()
    assert (logits.grad[~visible] == 0).all()
    # the head's path: log h~ given
    torch.testing.assert_close(
        loss_fn(log_h, kps, WEIGHTS, log_normalized=True), loss.detach())
    # no visible joint: 0
    assert loss_fn(logits, kps, torch.zeros(B, K)).item() == 0


def test_default_kl_is_unchanged():
    """The default prior is the paper's KL(G || h~), computed as before."""
    logits, kps = _inputs(seed=5)
    logits, kps = logits.float(), kps.float()
    loss = MODELS.build(dict(type='KLPriorLoss', sigma=2.0))(logits, kps,
                                                               WEIGHTS)
    # the previous implementation, step by step
    log_pred = flat_log_softmax(logits, 1.0)
    visible = WEIGHTS > 0
    target = torch.where(visible[..., None], kps, log_pred.new_zeros(()))
    kl = gaussian_kl_divergence(log_pred, target, 2.0)
    kl = torch.where(visible, kl, kl.new_zeros(())) * WEIGHTS
    ref = kl.sum() / visible.sum().clamp(min=1) * 0.0525
    assert torch.equal(loss, ref)
    assert MODELS.build(dict(type='KLPriorLoss')).loss_weight == 0.0525


def test_default_weights_are_one_to_one_at_initialisation():
    """Each default loss_weight times the prior on a uniform 64x48 heatmap
    (ground truths over the central 80 %) is the L1 loss at init, 0.20."""
    t = torch.linspace(0.1, 0.9, 41, dtype=torch.float64)
    gx, gy = torch.meshgrid(t * 48, t * 64, indexing='ij')
    kps = torch.stack([gx.flatten(), gy.flatten()], -1)[None]
    logits = torch.zeros(1, kps.shape[1], 64, 48, dtype=torch.float64)
    ones = torch.ones(1, kps.shape[1])
    for cfg in (dict(type='KLPriorLoss'),
                dict(type='KLPriorLoss', divergence='kl_h_g'),
                dict(type='JSPriorLoss'),
                dict(type='VarianceRegLoss')):
        loss = MODELS.build(cfg)(logits, kps, ones)
        assert loss.item() == pytest.approx(0.20, rel=0.02), cfg


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
@pytest.mark.parametrize('cfg', [
    dict(type='KLPriorLoss', divergence='kl_h_g'),
    dict(type='JSPriorLoss'),
    dict(type='VarianceRegLoss'),
])
def test_autocast_half_precision_is_float32_and_finite(cfg, dtype):
    conv = torch.nn.Conv2d(4, 3, 1)
    x = torch.randn(2, 4, 64, 48)
    kps = torch.rand(2, 3, 2) * torch.tensor([47., 63.])
    loss_fn = MODELS.build(dict(cfg, beta=10.0))
    with torch.autocast('cpu', dtype=dtype):
        logits = conv(x) * 1e3  # extreme logits in half precision
        assert logits.dtype == dtype
        loss = loss_fn(logits, kps, torch.ones(2, 3))
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in conv.parameters())


@pytest.mark.parametrize('fn', [reverse_gaussian_kl_divergence,
                                gaussian_js_divergence])
def test_divergences_finite_for_extreme_and_infinite_logits(fn):
    logits = torch.zeros(1, 2, 64, 48)
    logits[0, 0, 5, 5] = 1e4
    logits[0, 1] = -1e4
    logits[0, 1, 60, 40] = float('-inf')
    logits.requires_grad_()
    kps = torch.tensor([[[40., 60.], [2., 3.]]])
    out = fn(flat_log_softmax(logits, 10.0), kps, 0.5)
    assert torch.isfinite(out).all()
    out.sum().backward()
    assert torch.isfinite(logits.grad).all()


@pytest.mark.parametrize('prior', [
    dict(type='KLPriorLoss', sigma=2.0),
    dict(type='KLPriorLoss', sigma=2.0, divergence='kl_h_g'),
    dict(type='KLPriorLoss', sigma=2.0, divergence='js'),
    dict(type='VarianceRegLoss', sigma=2.0),
])
def test_head_selects_the_prior(prior):
    head = IntegralHead(in_channels=8, out_channels=3, beta=2.0,
                        deconv_out_channels=None, final_layer=None,
                        prior_loss=prior)
    assert type(head.prior_loss_module).__name__ == prior['type']
    assert head.prior_loss_module.beta == 2.0
    logits = torch.randn(2, 3, 16, 12)
    kps = torch.rand(2, 3, 2) * torch.tensor([11., 15.])
    _, _, log_h = head.integrate(logits, with_log=True)
    torch.testing.assert_close(
        head.prior_loss_module(log_h, kps, torch.ones(2, 3),
                               log_normalized=True),
        MODELS.build(dict(prior, beta=2.0))(logits, kps, torch.ones(2, 3)))


def test_bad_prior_arguments_raise():
    with pytest.raises(ValueError, match='divergence'):
        MODELS.build(dict(type='KLPriorLoss', divergence='kl'))
    with pytest.raises(ValueError, match='sigma'):
        MODELS.build(dict(type='VarianceRegLoss', sigma=0.0))
    with pytest.raises(ValueError, match='sigma'):
        variance_regularization(torch.zeros(1, 1, 4, 4), float('inf'))


def test_former_js_spelling_builds_the_js_prior_and_warns_once():
    """KLPriorLoss(divergence='js') computed no KL: JSPriorLoss is its name;
    the old spelling gives the same loss (and weight) with one warning."""
    import warnings

    from mmipr.utils import deprecation
    deprecation._warned.discard("KLPriorLoss(divergence='js')")
    logits, kps = _inputs(seed=6)
    with pytest.warns(FutureWarning, match="type='JSPriorLoss'"):
        old = MODELS.build(dict(type='KLPriorLoss', divergence='js'))
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # the second use is silent
        MODELS.build(dict(type='KLPriorLoss', divergence='js'))
    new = MODELS.build(dict(type='JSPriorLoss'))
    assert old.loss_weight == new.loss_weight == 0.325
    assert torch.equal(old(logits, kps, WEIGHTS), new(logits, kps, WEIGHTS))
