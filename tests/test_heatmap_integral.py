"""mmipr.heatmap integral math against the paper's equations and MMPose."""
import numpy as np
import pytest
import torch
from mmpose.codecs.utils.gaussian_heatmap import generate_unbiased_gaussian_heatmaps
from mmpose.models.heads import IntegralRegressionHead

import mmipr  # noqa: F401  (makes mmpose importable)
from mmipr.heatmap import (
    debias_mmpose,
    expectation,
    flat_log_softmax,
    flat_softmax,
    gaussian_heatmaps,
    gaussian_kl_divergence,
    integral_l1_grad,
    log_gaussian_heatmaps,
)


def _logits(B=2, K=3, H=8, W=6, scale=3.0, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, K, H, W, generator=g, dtype=dtype) * scale


def _eq2(logits, beta):
    """Eq. 2 written out: softmax over all pixels, then sum_p p * h~_p."""
    B, K, H, W = logits.shape
    e = torch.exp(beta * logits - (beta * logits).amax(dim=(2, 3), keepdim=True))
    h = e / e.sum(dim=(2, 3), keepdim=True)
    jj, ii = torch.meshgrid(torch.arange(H, dtype=logits.dtype),
                            torch.arange(W, dtype=logits.dtype), indexing='ij')
    jx = (h * ii).sum(dim=(2, 3))
    jy = (h * jj).sum(dim=(2, 3))
    return h, torch.stack([jx, jy], -1)


@pytest.mark.parametrize('beta', [0.5, 1.0, 10.0])
def test_softmax_and_expectation_match_eq2(beta):
    logits = _logits()
    h_ref, j_ref = _eq2(logits, beta)
    h = flat_softmax(logits, beta)
    torch.testing.assert_close(h, h_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(flat_log_softmax(logits, beta).exp(), h_ref,
                               rtol=0, atol=1e-12)
    torch.testing.assert_close(expectation(h), j_ref, rtol=0, atol=1e-10)


def test_expectation_of_delta_is_its_pixel():
    h = torch.zeros(1, 2, 5, 7, dtype=torch.float64)
    h[0, 0, 3, 6] = 1  # row 3, column 6 -> (x, y) = (6, 3)
    h[0, 1, 0, 2] = 1
    assert expectation(h).tolist() == [[[6.0, 3.0], [2.0, 0.0]]]


@pytest.mark.parametrize('beta', [1.0, 4.0])
def test_eq10_closed_form_equals_autograd(beta):
    logits = _logits(B=3, K=4, H=16, W=12).requires_grad_()
    g = torch.Generator().manual_seed(1)
    target = torch.rand(3, 4, 2, generator=g, dtype=torch.float64) * 11
    h = flat_softmax(logits, beta)
    coords = expectation(h)
    loss = (coords - target).abs().sum()  # Eq. 4 summed over joints
    auto, = torch.autograd.grad(loss, logits)
    closed = integral_l1_grad(h.detach(), coords.detach(), target, beta)
    assert (auto - closed).abs().max() < 1e-8
    assert closed.abs().max() > 1e-3  # not a trivially zero comparison


def test_half_precision_is_computed_in_float32():
    # finite in fp16 (< 65504), but e^(beta * h) overflows any dtype
    logits = _logits(dtype=torch.float32, scale=1.0).clamp(-6, 6) * 1e4
    for dtype in (torch.float16, torch.bfloat16):
        h = flat_softmax(logits.to(dtype), beta=10.0)
        assert h.dtype == torch.float32 and torch.isfinite(h).all()
        torch.testing.assert_close(h.sum(dim=(2, 3)), torch.ones(2, 3))
        assert torch.isfinite(flat_log_softmax(logits.to(dtype), 10.0)).all()


def _mmpose_ipr(W, H, K, debias_, beta):
    head = IntegralRegressionHead(
        in_channels=K, in_featuremap_size=(W, H), num_joints=K,
        debias=debias_, beta=beta, deconv_out_channels=None, final_layer=None)
    return head.double()


@pytest.mark.parametrize('debias_', [False, True])
def test_matches_mmpose_integral_regression_head(debias_):
    B, K, H, W = 2, 5, 16, 12
    logits = _logits(B, K, H, W, scale=2.0)
    ref, _ = _mmpose_ipr(W, H, K, debias_, 1.0)((logits, ))
    coords = expectation(flat_softmax(logits))
    if debias_:
        coords = debias_mmpose(coords, logits)
    ours = coords / torch.tensor([W, H], dtype=coords.dtype)
    # MMPose's grid i / W is computed in float32 before .double()
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-7)
    if debias_:  # the compensation is not a no-op on these logits
        plain = expectation(flat_softmax(logits)) / torch.tensor([W, H])
        assert (ours - plain).abs().max() > 1e-4


def test_debias_at_other_beta_relates_to_mmpose():
    # MMPose's normaliser sums exp(h) whatever beta; ours sums exp(beta * h).
    # Given MMPose's normaliser (beta = 1 in debias) the formulas coincide.
    B, K, H, W = 2, 5, 16, 12
    logits = _logits(B, K, H, W, scale=0.5)
    ref, _ = _mmpose_ipr(W, H, K, True, 10.0)((logits, ))
    coords = debias_mmpose(expectation(flat_softmax(logits, 10.0)), logits,
                           beta=1.0)
    torch.testing.assert_close(coords / torch.tensor([W, H]), ref,
                               rtol=0, atol=1e-7)


def test_debias_is_stable_for_large_logits():
    logits = _logits(dtype=torch.float32) * 100
    coords = expectation(flat_softmax(logits))
    out = debias_mmpose(coords, logits)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, coords)  # C huge: no correction


@pytest.mark.parametrize('sigma', [0.5, 1.0, 2.0, 3.0])
def test_gaussian_matches_mmpose_unbiased_gaussian(sigma):
    W, H = 48, 64
    g = torch.Generator().manual_seed(2)
    kps = torch.rand(1, 4, 2, generator=g) * torch.tensor([W - 1, H - 1.0])
    ref, _ = generate_unbiased_gaussian_heatmaps(
        (W, H), kps.numpy(), np.ones((1, 4), np.float32), sigma)
    ours = gaussian_heatmaps(kps, (W, H), sigma)
    assert ours.shape == (1, 4, H, W)
    np.testing.assert_allclose(ours[0].numpy(), ref, atol=1e-6)

    norm = gaussian_heatmaps(kps, (W, H), sigma, normalize=True)
    np.testing.assert_allclose(
        norm[0].numpy(), ref / ref.sum(axis=(1, 2), keepdims=True), atol=1e-6)
    torch.testing.assert_close(log_gaussian_heatmaps(kps, (W, H), sigma).exp(),
                               norm)


def test_log_gaussian_is_finite_far_outside():
    kps = torch.tensor([[[-500.0, 30.0], [20.0, 1e4]]])
    log_g = log_gaussian_heatmaps(kps, (48, 64), 0.5)
    assert torch.isfinite(log_g).all()
    torch.testing.assert_close(log_g.exp().sum(dim=(2, 3)), torch.ones(1, 2))
    # all mass on the border column / row nearest the centre
    g = log_g.exp()
    assert g[0, 0, :, 0].sum() > 0.99 and g[0, 1, 63, :].sum() > 0.99
    assert g[0, 0, 30, 0] == g[0, 0].max() and g[0, 1, 63, 20] == g[0, 1].max()


def test_bad_shapes_raise_clear_errors():
    with pytest.raises(ValueError, match=r'\(B, K, H, W\)'):
        flat_softmax(torch.zeros(3, 8, 6))
    with pytest.raises(ValueError, match=r'\(B, K, 2\)'):
        gaussian_heatmaps(torch.zeros(3, 2), (6, 8))
    with pytest.raises(ValueError, match='sigma'):
        gaussian_heatmaps(torch.zeros(1, 3, 2), (6, 8), sigma=0)


def test_expectation_under_autocast_stays_float32():
    h = flat_softmax(_logits(dtype=torch.float32))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        j = expectation(h)
    assert j.dtype == torch.float32
    torch.testing.assert_close(j, expectation(h))


def test_gaussian_kl_divergence_matches_full_map_formula():
    B, K, H, W = 2, 3, 16, 12
    g = torch.Generator().manual_seed(3)
    log_h = flat_log_softmax(_logits(B, K, H, W))
    kps = torch.rand(B, K, 2, generator=g, dtype=torch.float64) * 14 - 1
    for sigma in (0.5, 2.0):
        log_g = log_gaussian_heatmaps(kps, (W, H), sigma)
        ref = (log_g.exp() * (log_g - log_h)).sum(dim=(2, 3))
        torch.testing.assert_close(gaussian_kl_divergence(log_h, kps, sigma),
                                   ref, rtol=1e-10, atol=1e-10)
