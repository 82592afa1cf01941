"""Window centres round halves up, floor(x + 0.5), as MMPose's int(x + 0.5)."""
import numpy as np
import pytest
import torch
from mmpose.codecs.utils.gaussian_heatmap import generate_gaussian_heatmaps

from mmipr.heatmap.stats import activation_sum, pearson_chi_square, round_half_up


def _ref_activation_sum(hm: np.ndarray, cx: float, cy: float, s: int) -> float:
    """Eq. 6 written out: the window around (int(cx + .5), int(cy + .5))."""
    h, w = hm.shape
    rx, ry = int(cx + 0.5), int(cy + 0.5)  # MMPose's rounding (cx, cy >= 0)
    return float(sum(hm[j, i] for j in range(ry - s, ry + s + 1)
                     for i in range(rx - s, rx + s + 1)
                     if 0 <= i < w and 0 <= j < h))


def test_round_half_up_on_half_pixels():
    x = torch.tensor([2.5, 3.5, 0.5, 1.49, 2.51, -0.5, -0.7, 46.5])
    assert round_half_up(x).tolist() == [3, 4, 1, 1, 3, 0, -1, 47]
    # torch.round, the old rule, rounds halves to even
    assert torch.tensor([2.5, 3.5]).round().tolist() == [2.0, 4.0]


def test_round_half_up_matches_mmpose_gaussian_centres():
    # MMPose's generate_gaussian_heatmaps centres its Gaussian on
    # (keypoints + 0.5).astype(int): its peak is the rounded pixel
    kpts = np.array([[[2.5, 3.5], [3.5, 2.5], [10.5, 7.49], [5.51, 0.5]]],
                    dtype=np.float32)
    heatmaps, _ = generate_gaussian_heatmaps(
        (16, 12), kpts, np.ones((1, 4), dtype=np.float32), sigma=1.0)
    for k in range(4):
        row, col = np.unravel_index(heatmaps[k].argmax(), heatmaps[k].shape)
        ours = round_half_up(torch.from_numpy(kpts[0, k])).tolist()
        assert ours == [col, row]


@pytest.mark.parametrize('s', [0, 1, 2])
def test_activation_sum_window_on_half_pixel_centres(s):
    H, W = 10, 9
    gen = torch.Generator().manual_seed(0)
    maps = torch.rand(1, 4, H, W, generator=gen, dtype=torch.float64)
    maps = maps / maps.sum(dim=(-2, -1), keepdim=True)
    centers = torch.tensor([[[2.5, 3.5], [3.5, 2.5], [0.5, 8.5], [7.5, 4.5]]],
                           dtype=torch.float64)
    got = activation_sum(maps, centers, s)
    for k in range(4):
        cx, cy = centers[0, k].tolist()
        ref = _ref_activation_sum(maps[0, k].numpy(), cx, cy, s)
        assert got[0, k].item() == pytest.approx(ref, abs=1e-12)
    # a delta at pixel (3, 4) is inside A(0) around (2.5, 3.5): centre (3, 4)
    delta = torch.zeros(1, 1, H, W)
    delta[0, 0, 4, 3] = 1
    assert activation_sum(delta, torch.tensor([[[2.5, 3.5]]]), 0).item() == 1
    assert activation_sum(delta, torch.tensor([[[3.5, 4.5]]]), 0).item() == 0


def test_pearson_window_uses_the_same_centre():
    # the chi-square window of a delta at (3, 4) around (2.5, 3.5), s = 0, is
    # that one pixel: observed = template = 1 there, chi-square 0
    delta = torch.zeros(1, 1, 10, 9, dtype=torch.float64)
    delta[0, 0, 4, 3] = 1
    chi = pearson_chi_square(delta, torch.tensor([[[2.5, 3.5]]],
                                                 dtype=torch.float64), [1.0], 0)
    assert chi.item() == 0
    # around (1.5, 2.5) the window is pixel (2, 3), which holds no mass: nan
    chi = pearson_chi_square(delta, torch.tensor([[[1.5, 2.5]]],
                                                 dtype=torch.float64), [1.0], 0)
    assert chi.isnan().all()
