"""KLPriorLoss against torch's kl_div and its intended effect on heatmaps."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmpose.registry import MODELS

import mmipr  # noqa: F401  (registers KLPriorLoss)
from mmipr.heatmap.stats import activation_sum


def _gaussian_ref(kps, W, H, sigma):
    """Normalised Gaussian written out in numpy, float64."""
    xs, ys = np.meshgrid(np.arange(W), np.arange(H))  # (H, W)
    k = kps.double().numpy()[..., None, None, :]
    g = np.exp(-((xs - k[..., 0])**2 + (ys - k[..., 1])**2) / (2 * sigma**2))
    return torch.from_numpy(g / g.sum(axis=(-2, -1), keepdims=True))


def _build(**kw):
    return MODELS.build(dict(type='KLPriorLoss', **kw))


@pytest.mark.parametrize('sigma,beta', [(2.0, 1.0), (0.5, 1.0), (3.0, 5.0)])
def test_equals_torch_kl_div(sigma, beta):
    B, K, H, W = 3, 4, 16, 12
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(B, K, H, W, generator=g, dtype=torch.float64)
    kps = torch.rand(B, K, 2, generator=g) * torch.tensor([W - 1., H - 1.])
    weights = torch.tensor([[1., 0., 1., 1.], [0., 0., 1., 0.],
                            [1., 1., 1., 1.]])
    loss = _build(sigma=sigma, beta=beta, loss_weight=1.0)(logits, kps,
                                                           weights)
    log_pred = F.log_softmax(beta * logits.flatten(2), -1).view_as(logits)
    per_joint = F.kl_div(log_pred, _gaussian_ref(kps, W, H, sigma),
                         reduction='none').sum(dim=(2, 3))
    ref = (per_joint * weights).sum() / (weights > 0).sum()
    torch.testing.assert_close(loss.double(), ref, rtol=1e-5, atol=1e-7)

    # the head's path: the same, given log softmax(beta * h)
    again = _build(sigma=sigma, beta=beta, loss_weight=1.0)(
        log_pred, kps, weights, log_normalized=True)
    torch.testing.assert_close(again, loss)
    # loss_weight scales, use_target_weight=False averages all joints
    torch.testing.assert_close(
        _build(sigma=sigma, beta=beta, loss_weight=0.3)(logits, kps, weights),
        0.3 * loss)
    torch.testing.assert_close(
        _build(sigma=sigma, beta=beta, loss_weight=1.0,
               use_target_weight=False)(logits, kps).double(),
        per_joint.mean(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize('start', ['at_gt', 'far'])
def test_gradient_moves_a_delta_heatmap_toward_the_gaussian(start):
    H, W = 64, 48
    gt = torch.tensor([[[30.3, 40.6]]])
    logits = torch.zeros(1, 1, H, W)
    peak = (30, 41) if start == 'at_gt' else (5, 8)  # (x, y)
    logits[0, 0, peak[1], peak[0]] = 15.0  # nearly all mass in one pixel
    logits.requires_grad_()
    loss_fn = _build(sigma=2.0, loss_weight=1.0)
    weights = torch.ones(1, 1)
    target_a2 = activation_sum(_gaussian_ref(gt, W, H, 2.0).float(), gt, 2)

    def a2():
        return activation_sum(torch.softmax(logits.detach().flatten(2), -1)
                              .view_as(logits), gt, 2)

    gap0, loss0 = (a2() - target_a2).abs(), loss_fn(logits, gt, weights)
    opt = torch.optim.SGD([logits], lr=20.0)
    for _ in range(20):
        opt.zero_grad()
        loss_fn(logits, gt, weights).backward()
        opt.step()
    gap1, loss1 = (a2() - target_a2).abs(), loss_fn(logits, gt, weights)
    assert loss1 < 0.5 * loss0
    assert gap1 < 0.5 * gap0
    if start == 'far':
        assert a2() > 0.1  # mass moved from ~0 to around the ground truth
    else:
        assert a2() < 0.95  # the delta spread toward sigma = 2


def test_all_invisible_gives_zero_loss_and_zero_grads():
    logits = torch.randn(2, 3, 8, 6, requires_grad=True)
    kps = torch.full((2, 3, 2), float('nan'))  # labels of invisible joints
    kps[0, 0] = 1e6
    loss = _build(loss_weight=1.0)(logits, kps, torch.zeros(2, 3))
    loss.backward()
    assert loss.item() == 0.0
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_invisible_joints_do_not_leak_nan_into_visible_grads():
    logits = torch.randn(1, 2, 8, 6, requires_grad=True)
    kps = torch.tensor([[[2.0, 3.0], [float('nan'), float('inf')]]])
    loss = _build(loss_weight=1.0)(logits, kps, torch.tensor([[1.0, 0.0]]))
    loss.backward()
    assert torch.isfinite(loss) and loss > 0
    assert torch.isfinite(logits.grad).all()
    assert logits.grad[0, 1].abs().max() == 0 and logits.grad[0, 0].abs().max() > 0


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_autocast_half_precision_is_finite(dtype):
    conv = torch.nn.Conv2d(8, 3, 1)
    feats = torch.randn(2, 8, 16, 12) * 30  # large logits
    kps = torch.rand(2, 3, 2) * 10
    loss_fn = _build(sigma=0.5, beta=20.0, loss_weight=1.0)
    try:
        with torch.autocast('cpu', dtype=dtype):
            logits = conv(feats)
            loss = loss_fn(logits, kps, torch.ones(2, 3))
    except RuntimeError as e:  # autocast dtype unsupported on this CPU build
        pytest.skip(str(e))
    assert logits.dtype == dtype
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in conv.parameters())
    ref = loss_fn(logits.detach().float(), kps, torch.ones(2, 3))
    torch.testing.assert_close(loss, ref)


def test_bad_input_raises_clear_errors():
    loss_fn = _build()
    with pytest.raises(ValueError, match=r'\(B, K, H, W\)'):
        loss_fn(torch.zeros(3, 8, 6), torch.zeros(1, 3, 2), torch.ones(1, 3))
    with pytest.raises(ValueError, match='heatmap pixels'):
        loss_fn(torch.zeros(1, 3, 8, 6), torch.zeros(1, 3), torch.ones(1, 3))
    with pytest.raises(ValueError, match='target_weights'):
        loss_fn(torch.zeros(1, 3, 8, 6), torch.zeros(1, 3, 2))
    with pytest.raises(ValueError, match='sigma'):
        _build(sigma=0.0)
