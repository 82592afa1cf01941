"""Batched argmax / DARK decoding against MMPose's numpy decoding."""
import cv2
import numpy as np
import pytest
import torch
from mmpose.codecs import MSRAHeatmap
from mmpose.codecs.utils import gaussian_blur as mmpose_gaussian_blur

import mmipr  # noqa: F401  (conftest imports it before mmpose)
from mmipr.heatmap.decode import (
    decode_argmax,
    gaussian_blur,
    gaussian_kernel1d,
    get_heatmap_maximum,
    refine_keypoints,
    refine_keypoints_dark,
)


def blob_heatmaps(B, K, H, W, seed=0, noise=0.01):
    """Gaussian blobs (sigma 2, random amplitude) plus noise, a quarter of
    them centred exactly on border or near-border pixels."""
    g = torch.Generator().manual_seed(seed)
    cx = torch.rand(B, K, generator=g) * (W - 1)
    cy = torch.rand(B, K, generator=g) * (H - 1)
    edge_x = torch.tensor([0., 1., 2., W - 3., W - 2., W - 1.])
    edge_y = torch.tensor([0., 1., 2., H - 3., H - 2., H - 1.])
    pick = torch.randint(0, 6, (B, K), generator=g)
    on_edge = torch.rand(B, K, generator=g) < 0.25
    cx = torch.where(on_edge, edge_x[pick], cx)
    cy = torch.where(on_edge.roll(1, -1), edge_y[pick.roll(1, -1)], cy)
    xs = torch.arange(W, dtype=torch.float32)
    ys = torch.arange(H, dtype=torch.float32)[:, None]
    d2 = (xs - cx[..., None, None])**2 + (ys - cy[..., None, None])**2
    amp = 0.1 + torch.rand(B, K, 1, 1, generator=g)
    return amp * torch.exp(-d2 / 8) + noise * torch.randn(
        B, K, H, W, generator=g)


def random_heatmaps(B, K, H, W, seed=0):
    """Noise, plus maps without a positive value and constant maps (ties)."""
    g = torch.Generator().manual_seed(seed)
    hm = torch.randn(B, K, H, W, generator=g)
    hm[0, 0] = -hm[0, 0].abs()  # no positive value: MMPose returns -1
    hm[0, 1] = 0.0
    hm[1, 0] = 0.5  # all tied: the first pixel wins
    hm[1, 1] = torch.randint(0, 3, (H, W), generator=g).float()  # ties
    return hm


def mmpose_decode(heatmaps, unbiased, blur_kernel_size=11):
    """MMPose's path: one codec.decode per instance on numpy."""
    H, W = heatmaps.shape[-2:]
    codec = MSRAHeatmap(
        input_size=(W * 4, H * 4),
        heatmap_size=(W, H),
        sigma=2,
        unbiased=unbiased,
        blur_kernel_size=blur_kernel_size)
    out = [codec.decode(h) for h in heatmaps.numpy()]
    keypoints = np.concatenate([k for k, _ in out]) / codec.scale_factor
    scores = np.concatenate([s for _, s in out])
    return keypoints, scores


def cv2_kernel(k):
    return torch.from_numpy(cv2.getGaussianKernel(k, 0).ravel())


@pytest.mark.parametrize('make', [blob_heatmaps, random_heatmaps])
# (128, 160): 320 chunks of 64, more than a uint8 index holds
@pytest.mark.parametrize('size', [(64, 48), (64, 64), (7, 5), (128, 160)])
def test_plain_decoding_equals_mmpose(make, size):
    hm = make(4, 17, *size)
    keypoints, scores = decode_argmax(hm)
    ref_keypoints, ref_scores = mmpose_decode(hm, unbiased=False)
    np.testing.assert_allclose(keypoints.numpy(), ref_keypoints, atol=1e-4)
    np.testing.assert_array_equal(scores.numpy(), ref_scores)


def test_plain_decoding_covers_every_border_rule():
    """One map per pixel position: the maximum visits every pixel."""
    H, W = 6, 5
    hm = torch.rand(H * W, 1, H, W, generator=torch.Generator().manual_seed(1))
    hm.view(H * W, -1)[torch.arange(H * W), torch.arange(H * W)] = 2.0
    keypoints, _ = decode_argmax(hm)
    ref_keypoints, _ = mmpose_decode(hm, unbiased=False)
    np.testing.assert_allclose(keypoints.numpy(), ref_keypoints, atol=1e-4)
    assert (keypoints.frac() != 0).any()


@pytest.mark.parametrize('size', [(64, 48), (64, 64)])
@pytest.mark.parametrize('blur_kernel_size', [11, 17, 7])
def test_dark_decoding_matches_mmpose_on_blobs(size, blur_kernel_size):
    hm = blob_heatmaps(8, 17, *size, seed=blur_kernel_size)
    keypoints, scores = decode_argmax(
        hm, unbiased=True, blur_kernel=cv2_kernel(blur_kernel_size))
    ref_keypoints, ref_scores = mmpose_decode(hm, True, blur_kernel_size)
    err = np.abs(keypoints.numpy() - ref_keypoints)
    assert err.mean() < 0.01
    assert np.median(err) < 1e-4
    np.testing.assert_array_equal(scores.numpy(), ref_scores)


@pytest.mark.filterwarnings('ignore:invalid value:RuntimeWarning')  # MMPose on a zero map
def test_dark_decoding_matches_mmpose_on_noise():
    """Noise makes MMPose's clamp at 1e-10 bite: the whole-map path."""
    hm = random_heatmaps(8, 17, 64, 48)
    keypoints, scores = decode_argmax(hm, unbiased=True, blur_kernel=11)
    ref_keypoints, ref_scores = mmpose_decode(hm, True, 11)
    err = np.abs(keypoints.numpy() - ref_keypoints)
    assert err.mean() < 0.01
    assert np.median(err) < 1e-4
    np.testing.assert_array_equal(scores.numpy(), ref_scores)


def test_dark_moves_toward_the_true_centre():
    """DARK recovers a sub-pixel Gaussian centre much better than argmax."""
    H, W = 64, 48
    g = torch.Generator().manual_seed(3)
    centre = torch.rand(1, 50, 2, generator=g) * 30 + 9
    xs = torch.arange(W, dtype=torch.float32)
    ys = torch.arange(H, dtype=torch.float32)[:, None]
    hm = torch.exp(-((xs - centre[..., 0, None, None])**2 +
                     (ys - centre[..., 1, None, None])**2) / 8)
    plain, _ = decode_argmax(hm)
    dark, _ = decode_argmax(hm, unbiased=True, blur_kernel=11)
    assert (dark - centre).norm(dim=-1).mean() < 0.05
    assert (plain - centre).norm(dim=-1).mean() > 0.15


@pytest.mark.filterwarnings('ignore:invalid value:RuntimeWarning')  # MMPose on a zero map
def test_gaussian_blur_equals_mmpose():
    hm = random_heatmaps(2, 5, 20, 16)
    ref = np.stack(
        [mmpose_gaussian_blur(h.copy(), kernel=11) for h in hm.numpy()])
    np.testing.assert_allclose(
        gaussian_blur(hm, cv2_kernel(11)).numpy(), ref, atol=1e-5)


@pytest.mark.parametrize('k', [11, 17])
def test_gaussian_kernel1d_is_opencv_rule(k):
    np.testing.assert_allclose(
        gaussian_kernel1d(k, dtype=torch.float64).numpy(),
        cv2.getGaussianKernel(k, 0).ravel(), atol=1e-7)


def test_kernel_size_and_kernel_give_the_same_refinement():
    hm = blob_heatmaps(2, 17, 64, 48)
    locs, _ = get_heatmap_maximum(hm)
    torch.testing.assert_close(
        refine_keypoints_dark(locs, hm, 11),
        refine_keypoints_dark(locs, hm, gaussian_kernel1d(11)))


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r'\(B, K, H, W\)'):
        decode_argmax(torch.rand(17, 64, 48))
    with pytest.raises(ValueError, match='keypoints must have shape'):
        refine_keypoints(torch.zeros(2, 3, 2), torch.rand(2, 4, 8, 8))
    with pytest.raises(ValueError, match='odd'):
        gaussian_kernel1d(10)
    with pytest.raises(ValueError, match='odd length'):
        refine_keypoints_dark(
            torch.zeros(1, 1, 2), torch.rand(1, 1, 8, 8), torch.ones(4))


@pytest.mark.parametrize('unbiased', [False, True])
def test_channels_last_and_sliced_heatmaps_decode_alike(unbiased):
    """The windows are read from the storage: a model's channels-last output
    or a slice of a batch decodes as its contiguous copy."""
    hm = blob_heatmaps(6, 17, 64, 48, seed=5)
    ref = decode_argmax(hm, unbiased=unbiased, blur_kernel=11)
    offset = torch.cat([hm.flip(-1), hm])[6:]  # a storage offset
    for view in (hm.to(memory_format=torch.channels_last), offset,
                 hm.transpose(0, 1).contiguous().transpose(0, 1)):
        assert not view.is_contiguous() or view.data_ptr() != hm.data_ptr()
        out = decode_argmax(view, unbiased=unbiased, blur_kernel=11)
        torch.testing.assert_close(out[0], ref[0], rtol=0, atol=0)
        torch.testing.assert_close(out[1], ref[1], rtol=0, atol=0)


def test_dark_on_tiny_and_empty_batches_and_isolated_nan():
    """A batch smaller than one window row, an empty batch, and a NaN map
    next to finite ones (the windows of its neighbours must not see it)."""
    tiny = blob_heatmaps(1, 1, 3, 3, seed=1)
    keypoints, _ = decode_argmax(tiny, unbiased=True, blur_kernel=11)
    ref, _ = mmpose_decode(tiny, True, 11)
    np.testing.assert_allclose(keypoints.numpy(), ref, atol=1e-4)
    empty = torch.zeros(0, 17, 64, 48)
    keypoints, scores = decode_argmax(empty, unbiased=True, blur_kernel=11)
    assert keypoints.shape == (0, 17, 2) and scores.shape == (0, 17)
    hm = blob_heatmaps(2, 3, 64, 48, seed=2)
    ref, _ = decode_argmax(hm, unbiased=True, blur_kernel=11)
    poisoned = hm.clone()
    poisoned[0, 1] = float('nan')
    keypoints, _ = decode_argmax(poisoned, unbiased=True, blur_kernel=11)
    finite = torch.ones(2, 3, dtype=torch.bool)
    finite[0, 1] = False
    torch.testing.assert_close(keypoints[finite], ref[finite], rtol=0, atol=0)
