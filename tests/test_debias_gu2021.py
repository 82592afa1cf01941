"""debias='gu2021' (Gu et al. 2021 on the pixel grid) against a peak of known
expectation on a zero background, beside MMPose's debias=True formula."""
import math

import pytest
import torch
from mmpose.models.heads import IntegralRegressionHead

import mmipr  # noqa: F401  (registers IntegralHead)
from mmipr.heatmap import debias_gu2021, debias_mmpose, expectation, flat_softmax
from mmipr.models.heads.integral_head import IntegralHead

H, W = 64, 48


def _peak_logits(x0, y0, mass, beta, wide=False):
    """Logits 0 except a peak whose excess e^{beta h} - 1 has mean (x0, y0).

    The excess is ``mass`` times a distribution q over a few pixels: the
    bilinear split of (x0, y0) over its 4 neighbours (mean exactly (x0,
    y0)), or, ``wide``, that split convolved with a symmetric 5x5 kernel
    (mean unchanged). Returns float64 logits (1, 1, H, W) and the mean of q
    computed by brute force.
    """
    q = torch.zeros(H, W, dtype=torch.float64)
    ix, iy = math.floor(x0), math.floor(y0)
    fx, fy = x0 - ix, y0 - iy
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            q[iy + dy, ix + dx] += wy * wx
    if wide:
        k = torch.tensor([1., 4., 6., 4., 1.], dtype=torch.float64)
        kernel = (k[:, None] * k[None, :]) / 256
        q = torch.nn.functional.conv2d(q[None, None], kernel[None, None],
                                       padding=2)[0, 0]
    q = q / q.sum()
    jj, ii = torch.meshgrid(torch.arange(H, dtype=torch.float64),
                            torch.arange(W, dtype=torch.float64),
                            indexing='ij')
    mean = torch.stack([(q * ii).sum(), (q * jj).sum()])
    logits = torch.log1p(mass * q) / beta  # exactly 0 where q = 0
    return logits[None, None], mean


def _mmpose_debiased(logits, beta):
    """MMPose's IntegralRegressionHead(debias=True) on the logits, pixels."""
    head = IntegralRegressionHead(
        in_channels=1, in_featuremap_size=(W, H), num_joints=1, debias=True,
        beta=beta, deconv_out_channels=None, final_layer=None).double()
    coords, _ = head((logits, ))
    return coords[0, 0] * torch.tensor([W, H], dtype=torch.float64)


CASES = [(30.37, 12.81, False), (9.2, 51.65, True), (40.5, 40.25, True)]


@pytest.mark.parametrize('beta', [1.0, 10.0])
@pytest.mark.parametrize('mass_per_pixel', [0.1, 1.0, 20.0])
@pytest.mark.parametrize('x0,y0,wide', CASES)
def test_gu2021_recovers_the_peak_expectation(x0, y0, wide, mass_per_pixel,
                                              beta):
    logits, mean = _peak_logits(x0, y0, mass_per_pixel * H * W, beta, wide)
    assert torch.allclose(mean, torch.tensor([x0, y0], dtype=torch.float64),
                          atol=1e-12)
    plain = expectation(flat_softmax(logits, beta))[0, 0]
    assert (plain - mean).abs().max() > 0.1  # the bias is there to remove
    ours = debias_gu2021(expectation(flat_softmax(logits, beta)), logits,
                         beta)[0, 0]
    assert (ours - mean).abs().max() < 1e-6
    # MMPose's formula on the same logits leaves most of the bias
    mmpose = _mmpose_debiased(logits, beta)
    assert (mmpose - mean).abs().max() > 0.5 * (plain - mean).abs().max()
    if beta == 1.0:  # ours equals MMPose's there (MMPose's C omits beta)
        torch.testing.assert_close(
            debias_mmpose(expectation(flat_softmax(logits)), logits)[0, 0], mmpose,
            rtol=0, atol=1e-5)


def test_report_mmpose_formula_on_peak_logits(capsys):
    """Print what each formula gives (for the docs; asserts nothing new)."""
    with capsys.disabled():
        print()
        for beta in (1.0, 10.0):
            for m in (0.1, 1.0, 20.0):
                logits, mean = _peak_logits(30.37, 12.81, m * H * W, beta)
                plain = expectation(flat_softmax(logits, beta))[0, 0]
                gu = debias_gu2021(plain[None, None], logits, beta)[0, 0]
                mm = _mmpose_debiased(logits, beta)
                print(f'beta={beta:4} excess/HW={m:5}: peak {mean.tolist()} '
                      f'plain {plain.tolist()} mmpose {mm.tolist()} '
                      f'gu2021 err {(gu - mean).abs().max().item():.2e}')


def test_gu2021_leaves_maps_without_excess_mass():
    # all logits <= 0: Z <= H W, the zero-background model does not apply
    g = torch.Generator().manual_seed(0)
    logits = -torch.rand(2, 3, H, W, generator=g, dtype=torch.float64)
    logits[0, 0] = 0  # uniform: the expectation is the centre, kept
    coords = expectation(flat_softmax(logits))
    torch.testing.assert_close(debias_gu2021(coords, logits), coords,
                               rtol=0, atol=0)


def test_gu2021_stays_in_the_domain_when_ill_conditioned():
    # a tiny excess: the gain Z / (Z - H W) is huge, the result is clamped
    logits = torch.zeros(1, 2, H, W, dtype=torch.float64)
    logits[0, 0, 0, 0] = 1e-9  # excess at the top-left corner
    logits[0, 1, 10, 40] = 1e-7
    logits[0, 1, 50, 5] = -2e-7  # signed excess: no peak to recover
    out = debias_gu2021(expectation(flat_softmax(logits)), logits)
    assert torch.isfinite(out).all()
    assert (out >= 0).all() and (out[..., 0] <= W - 1).all() \
        and (out[..., 1] <= H - 1).all()
    torch.testing.assert_close(out[0, 0], torch.zeros(2, dtype=out.dtype),
                               rtol=0, atol=1e-6)


@pytest.mark.parametrize('value', [1e4, -1e4])
@pytest.mark.parametrize('beta', [1.0, 10.0])
def test_gu2021_is_finite_for_extreme_logits(value, beta):
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 3, H, W, generator=g)
    logits[:, :, 20, 30] = value
    logits[1, 2] = value  # a constant map
    logits.requires_grad_()
    coords = expectation(flat_softmax(logits, beta))
    out = debias_gu2021(coords, logits, beta)
    assert torch.isfinite(out).all()
    out.sum().backward()
    assert torch.isfinite(logits.grad).all()
    if value > 0:  # one pixel holds all the mass: nothing to correct
        torch.testing.assert_close(out[0, 0], torch.tensor([30., 20.]))


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_gu2021_under_autocast_is_finite_float32(dtype):
    head = IntegralHead(in_channels=8, out_channels=3, debias='gu2021',
                        beta=10.0, deconv_out_channels=None, final_layer=None)
    logits, _ = _peak_logits(30.37, 12.81, 1.0 * H * W, 10.0)
    logits = logits.float().expand(2, 3, H, W).contiguous()
    logits[1] = 3e4 if dtype == torch.float16 else 1e4
    with torch.autocast('cpu', dtype=dtype):
        coords, heatmaps, _ = head.integrate(logits.to(dtype))
    assert coords.dtype == torch.float32 and heatmaps.dtype == torch.float32
    assert torch.isfinite(coords).all()
    # bfloat16 logits keep ~3 digits: the peak is recovered to that precision
    assert (coords[0] - torch.tensor([30.37, 12.81])).abs().max() < 0.2


def test_head_debias_modes():
    logits, mean = _peak_logits(30.37, 12.81, 1.0 * H * W, 1.0)
    logits = logits.float()
    common = dict(in_channels=1, out_channels=1, deconv_out_channels=None,
                  final_layer=None)
    plain = IntegralHead(debias=False, **common).integrate(logits)[0]
    mm = IntegralHead(debias=True, **common).integrate(logits)[0]
    alias = IntegralHead(debias='mmpose', **common).integrate(logits)[0]
    gu = IntegralHead(debias='gu2021', **common).integrate(logits)[0]
    torch.testing.assert_close(mm, debias_mmpose(plain, logits))
    torch.testing.assert_close(alias, mm, rtol=0, atol=0)
    torch.testing.assert_close(gu, debias_gu2021(plain, logits))
    assert (gu[0, 0].double() - mean).abs().max() < 1e-3  # float32
    for bad in ('gu2020', 1, 'true', None):
        with pytest.raises(ValueError, match='debias'):
            IntegralHead(debias=bad, **common)


def test_former_debias_name_is_mmposes_formula_and_warns_once():
    """mmipr.heatmap.debias is MMPose's formula, now named debias_mmpose;
    the old name gives the same values with one warning."""
    import warnings

    from mmipr.heatmap import debias
    from mmipr.utils import deprecation
    deprecation._warned.discard('mmipr.heatmap.debias')
    logits = torch.randn(2, 3, 16, 12, dtype=torch.float64)
    plain = expectation(flat_softmax(logits))
    with pytest.warns(FutureWarning, match='debias_mmpose'):
        old = debias(plain, logits)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        debias(plain, logits)
    assert torch.equal(old, debias_mmpose(plain, logits))
