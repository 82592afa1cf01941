"""Heatmap statistics (mmipr.heatmap.stats) against the paper's definitions
written out independently with numpy loops."""
import math

import numpy as np
import pytest
import torch

from mmipr.heatmap.gaussian import gaussian_heatmaps
from mmipr.heatmap.stats import (
    activation_sum,
    activation_sum_curve,
    best_fit_sigma,
    expected_epe,
    normalize_heatmaps,
    pearson_chi_square,
)

SIGMAS = (0.5, 1, 2, 3, 4, 5)


def _random_maps(b, k, h, w, seed=0):
    gen = torch.Generator().manual_seed(seed)
    maps = torch.rand(b, k, h, w, generator=gen, dtype=torch.float64)**4
    return maps / maps.sum(dim=(-2, -1), keepdim=True)


def _random_centers(b, k, h, w, seed=1, margin=3):
    gen = torch.Generator().manual_seed(seed)
    c = torch.rand(b, k, 2, generator=gen, dtype=torch.float64)
    # some centres near or beyond the border, where windows are clipped
    return c * torch.tensor([w + 2 * margin, h + 2 * margin]) - margin


def _ref_window(hm, cx, cy, s):
    """Pixels (i, j) of the clipped window around the rounded centre."""
    h, w = hm.shape
    rx, ry = int(np.floor(cx + 0.5)), int(np.floor(cy + 0.5))
    return [(i, j) for j in range(ry - s, ry + s + 1)
            for i in range(rx - s, rx + s + 1) if 0 <= i < w and 0 <= j < h]


def _ref_chi(hm, cx, cy, sigma, s):
    pix = _ref_window(hm, cx, cy, s)
    obs = np.array([hm[j, i] for i, j in pix])
    tmpl = np.array([
        math.exp(-((i - cx)**2 + (j - cy)**2) / (2 * sigma**2))
        for i, j in pix
    ])
    obs, tmpl = obs / obs.sum(), tmpl / tmpl.sum()
    return float(((obs - tmpl)**2 / tmpl).sum())


def test_activation_sum_curve_matches_window_sums():
    maps = _random_maps(2, 3, 16, 12)
    centers = _random_centers(2, 3, 16, 12)
    # avoid x.5 centres, where torch (half to even) and floor(x + .5) differ
    centers = centers.round() + 0.3
    curve = activation_sum_curve(maps, centers, max_s=9)
    assert curve.shape == (2, 3, 10)
    for b in range(2):
        for k in range(3):
            hm = maps[b, k].numpy()
            cx, cy = centers[b, k].tolist()
            for s in range(10):
                ref = sum(hm[j, i] for i, j in _ref_window(hm, cx, cy, s))
                assert curve[b, k, s].item() == pytest.approx(ref, abs=1e-12)
    assert torch.equal(curve[..., 2], activation_sum(maps, centers, 2))


def test_activation_sum_of_a_delta():
    maps = torch.zeros(1, 2, 64, 48)
    maps[0, 0, 10, 20] = 1  # at the centre
    maps[0, 1, 13, 20] = 1  # 3 rows below it
    centers = torch.tensor([[[20.2, 9.8], [20., 10.]]])
    curve = activation_sum_curve(maps, centers, max_s=5)
    assert curve[0, 0].tolist() == [1.0] * 6
    assert curve[0, 1].tolist() == [0, 0, 0, 1, 1, 1]


@pytest.mark.parametrize('sigma', SIGMAS)
@pytest.mark.parametrize('s', [4, 8])
def test_best_fit_sigma_recovers_the_gaussian(sigma, s):
    # sub-pixel centres, one of them so close to the border that the window
    # is clipped
    centers = torch.tensor([[[30.3, 40.6], [1.2, 62.4], [24.0, 32.0]]],
                           dtype=torch.float64)
    maps = gaussian_heatmaps(centers, (48, 64), sigma, normalize=True)
    best, chi = best_fit_sigma(maps, centers, SIGMAS, s)
    assert best.tolist() == [[float(sigma)] * 3]
    assert chi.shape == (1, 3, len(SIGMAS))
    assert chi[..., SIGMAS.index(sigma)].abs().max() < 1e-9


def test_pearson_chi_square_matches_its_definition():
    maps = _random_maps(2, 2, 20, 16, seed=3)
    centers = _random_centers(2, 2, 20, 16, seed=4).round() + 0.25
    for s in (2, 4):
        chi = pearson_chi_square(maps, centers, (1.0, 2.0, 3.5), s)
        for b in range(2):
            for k in range(2):
                cx, cy = centers[b, k].tolist()
                ref = [_ref_chi(maps[b, k].numpy(), cx, cy, sg, s)
                       for sg in (1.0, 2.0, 3.5)]
                np.testing.assert_allclose(chi[b, k].numpy(), ref,
                                           rtol=1e-9)


def test_best_fit_sigma_prefers_the_closer_width():
    # a mixture of two Gaussians is matched by a width between them
    c = torch.tensor([[[24.0, 32.0]]], dtype=torch.float64)
    maps = 0.5 * (gaussian_heatmaps(c, (48, 64), 1.0, normalize=True)
                  + gaussian_heatmaps(c, (48, 64), 4.0, normalize=True))
    best, _ = best_fit_sigma(maps, c, SIGMAS, 8)
    assert 1.0 < best.item() < 4.0


def test_best_fit_sigma_nan_without_mass():
    maps = torch.zeros(1, 1, 16, 16)
    maps[0, 0, 0, 0] = 1
    best, chi = best_fit_sigma(maps, torch.tensor([[[12., 12.]]]), SIGMAS, 2)
    assert chi.isnan().all() and best.isnan().all()


def _radially_symmetric(seed):
    """A random radially symmetric distribution around an integer centre."""
    rng = np.random.default_rng(seed)
    h, w = 24, 20
    mu = np.array([rng.integers(6, w - 6), rng.integers(6, h - 6)])
    profile = rng.random(8)
    ys, xs = np.mgrid[0:h, 0:w]
    r = np.sqrt((xs - mu[0])**2 + (ys - mu[1])**2)
    wmap = np.where(r < 5.5, np.interp(r, np.arange(8), profile), 0.)
    return wmap / wmap.sum(), mu, rng.random(2) * [w, h]


def test_expected_epe_inequality_on_radially_symmetric_maps():
    maps, mus, gts = zip(*(_radially_symmetric(i) for i in range(20)))
    maps = torch.tensor(np.stack(maps))[None]  # (1, 20, H, W)
    gts = torch.tensor(np.stack(gts))[None]
    e_de, e_re = expected_epe(maps, gts)
    h, w = maps.shape[-2:]
    ys, xs = np.mgrid[0:h, 0:w]
    for k in range(20):
        gx, gy = gts[0, k].tolist()
        ref_de = (maps[0, k].numpy() * np.sqrt((xs - gx)**2 +
                                               (ys - gy)**2)).sum()
        ref_re = np.hypot(gx - mus[k][0], gy - mus[k][1])  # mean = mu
        assert e_de[0, k].item() == pytest.approx(ref_de, rel=1e-9)
        assert e_re[0, k].item() == pytest.approx(ref_re, rel=1e-6, abs=1e-9)
    assert (e_de >= e_re - 1e-9).all()
    assert (e_de > e_re).any()


def test_expected_epe_of_a_delta_is_the_distance():
    maps = torch.zeros(1, 1, 8, 8)
    maps[0, 0, 2, 5] = 1
    e_de, e_re = expected_epe(maps, torch.tensor([[[1., 5.]]]))
    assert e_de.item() == pytest.approx(5.0)
    assert e_re.item() == pytest.approx(5.0)


def test_normalize_heatmaps():
    gen = torch.Generator().manual_seed(0)
    raw = torch.randn(2, 3, 6, 5, generator=gen)
    soft = normalize_heatmaps(raw, 'softmax', beta=2.0)
    ref = np.exp(2 * raw.numpy().reshape(2, 3, -1))
    ref = (ref / ref.sum(-1, keepdims=True)).reshape(raw.shape)
    np.testing.assert_allclose(soft.numpy(), ref, rtol=1e-5)
    summed = normalize_heatmaps(raw, 'sum')
    pos = np.maximum(raw.numpy(), 0)
    np.testing.assert_allclose(summed.numpy(),
                               pos / pos.sum((-2, -1), keepdims=True),
                               rtol=1e-6)
    flat = normalize_heatmaps(-torch.ones(1, 1, 2, 2), 'sum')
    assert torch.allclose(flat, torch.full((1, 1, 2, 2), 0.25))
    with pytest.raises(ValueError, match='softmax'):
        normalize_heatmaps(raw, 'max')


# ---------------------------------------------------------------------------
# per-split accumulation and the heatmap_stats tool


def test_accumulator_recovers_per_split_widths():
    from mmipr.analysis.heatmap_stats import HeatmapStatsAccumulator
    gen = torch.Generator().manual_seed(0)
    B, K = 6, 3
    targets = 16 + 20 * torch.rand(B, K, 2, generator=gen,
                                   dtype=torch.float64)
    levels = torch.tensor([0, 0, 1, 1, 2, -1])  # -1: in no split
    widths = torch.tensor([1.0, 1.0, 2.0, 2.0, 4.0, 3.0])
    maps = torch.cat([
        gaussian_heatmaps(targets[b:b + 1], (48, 64), widths[b].item(),
                          normalize=True) for b in range(B)
    ])
    valid = torch.ones(B, K, dtype=torch.bool)
    valid[1, 2] = False  # an unlabelled joint
    maps[1, 2] = 1.0 / (64 * 48)  # ... whose map would fit no template
    acc = HeatmapStatsAccumulator(max_s=9)
    acc.update(maps[:3], targets[:3], valid[:3], levels[:3])
    acc.update(maps[3:], targets[3:], valid[3:], levels[3:])
    out = acc.summary()
    assert [out[n]['count'] for n in ('easy', 'medium', 'hard', 'all')] == \
        [5, 6, 3, 14]
    assert [out[n]['best_sigma'] for n in ('easy', 'medium', 'hard')] == \
        [1.0, 2.0, 4.0]
    assert out['hard']['window'] == 8 and out['easy']['window'] == 4
    curve = activation_sum_curve(maps, targets, 9)
    for name, rows in (('easy', [0, 1]), ('medium', [2, 3]), ('all',
                                                             [0, 1, 2, 3,
                                                              4])):
        ref = curve[rows][valid[rows]].mean(0)
        np.testing.assert_allclose(out[name]['activation_sum'], ref.numpy(),
                                   rtol=1e-9)
    e_de, e_re = expected_epe(maps, targets)
    assert out['all']['E_de'] == pytest.approx(e_de[:5][valid[:5]].mean())
    assert out['all']['E_re'] == pytest.approx(e_re[:5][valid[:5]].mean())
    assert out['all']['E_de'] >= out['all']['E_re']
    assert out['easy']['best_sigma_counts'][4] == [0, 5, 0, 0, 0, 0]


@pytest.fixture(scope='module')
def tiny_model_files(tiny_coco, tmp_path_factory):
    """A tiny IntegralHead config on the synthetic set and a checkpoint."""
    import sys
    from os import path as osp

    from mmpose.registry import MODELS
    from mmpose.utils import register_all_modules
    sys.path.insert(0, osp.dirname(__file__))
    from test_hooks import tiny_cfg

    register_all_modules()
    root = tmp_path_factory.mktemp('heatmap_stats')
    cfg = tiny_cfg(tiny_coco, str(root))
    cfg.val_dataloader.dataset.indices = None
    cfg.test_dataloader = cfg.val_dataloader
    config = str(root / 'tiny.py')
    cfg.dump(config)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    checkpoint = str(root / 'tiny.pth')
    torch.save(dict(state_dict=model.state_dict(), meta={}), checkpoint)
    return config, checkpoint, cfg


def _independent_counts(cfg):
    """Labelled joints inside the heatmap per level, from MMPose's own
    transformed keypoints (pack_transformed=True) and the annotation file."""
    from mmengine.runner import Runner

    from mmipr.evaluation.splits import annotation_levels

    loader = cfg.test_dataloader.copy()
    loader.dataset.pipeline[-1] = dict(type='PackPoseInputs',
                                       pack_transformed=True)
    counts = np.zeros(3, int)
    stride = 4  # 64 x 64 input, 16 x 16 heatmaps
    for batch in Runner.build_dataloader(loader):
        for ds in batch['data_samples']:
            ann = ds.metainfo['raw_ann_info']
            level = annotation_levels([ann], 17)['combined'][0]
            kpt = np.asarray(ds.gt_instances.transformed_keypoints)[0] / stride
            vis = np.reshape(ann['keypoints'], (17, 3))[:, 2] > 0
            r = np.floor(kpt + 0.5)
            inside = (r >= 0).all(-1) & (r[:, 0] < 16) & (r[:, 1] < 16)
            if level >= 0:
                counts[level] += (vis & inside).sum()
    return counts


def test_heatmap_stats_of_a_model(tiny_model_files, tmp_path):
    from mmipr.analysis.heatmap_stats_report import plot_heatmap_stats, write_heatmap_stats
    config, checkpoint, cfg = tiny_model_files
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = write_heatmap_stats(config, checkpoint, str(tmp_path),
                                     num_workers=0, batch_size=8)
    finally:
        torch.set_num_threads(threads)
    splits = result['splits']
    assert result['normalization'].startswith('as returned')
    counts = _independent_counts(cfg)
    assert [splits[n]['count'] for n in ('easy', 'medium', 'hard')] == \
        counts.tolist()
    assert splits['all']['count'] == counts.sum() > 0
    for st in splits.values():
        if st['count']:
            a = np.array(st['activation_sum'])
            assert (np.diff(a) >= -1e-9).all() and a[-1] <= 1 + 1e-6
            assert st['E_de'] >= st['E_re'] - 1e-9
            assert st['best_sigma'] in SIGMAS
    for name in ('heatmap_stats.json', 'activation_sums.png',
                 'best_sigma.png'):
        assert (tmp_path / name).stat().st_size > 0
    # the figures can be redrawn from the JSON, with other results overlaid
    again, = plot_heatmap_stats([str(tmp_path / 'heatmap_stats.json')],
                                ['tiny'], str(tmp_path / 'p'))
    assert again['label'] == 'tiny'
    assert (tmp_path / 'p' / 'best_sigma.png').exists()


def test_keypoints_in_heatmap_match_mmpose_transform(tiny_model_files):
    from mmengine.runner import Runner

    from mmipr.analysis.samples import keypoints_in_heatmap
    cfg = tiny_model_files[2]
    loader = cfg.test_dataloader.copy()
    loader.dataset.pipeline[-1] = dict(type='PackPoseInputs',
                                       pack_transformed=True)
    batch = next(iter(Runner.build_dataloader(loader)))
    samples = batch['data_samples']
    ours = keypoints_in_heatmap(samples, (16, 16))
    ref = np.stack([np.asarray(s.gt_instances.transformed_keypoints)[0]
                    for s in samples]) / 4  # stride 4
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-3)


def test_gradient_check(tiny_model_files, tmp_path):
    from mmipr.analysis.gradient_check import gradient_check
    stats = gradient_check(str(tmp_path / 'random'), beta=2.0, num_maps=16,
                           show=1)
    assert stats['maps'] == 16 and stats['max_abs_gradient'] > 0.1
    assert stats['max_rel_error'] < 1e-9
    assert stats['factorisation_max_abs_error'] < 1e-12
    assert (tmp_path / 'random' / 'gradient_factors.png').stat().st_size > 0
    config, checkpoint, _ = tiny_model_files
    stats = gradient_check(str(tmp_path / 'm'), config, checkpoint,
                           max_instances=8, show=1)
    assert stats['maps'] > 8  # several labelled joints per instance
    assert stats['max_rel_error'] < 1e-9


def test_inside_heatmap_rounds_half_up_at_every_border():
    """The heatmap statistics and the per-instance statistics count a joint
    when its nearest pixel, MMPose's int(x + 0.5), lies in the map; the tool
    used torch.round (half to even): at x = 46.5 on an odd width of 47 that
    gave pixel 46 (inside) where MMPose's window is centred on 47 (outside).
    On even sizes (the study's 64 x 48) both rules agree at every border."""
    from mmipr.analysis.heatmap_stats import inside_heatmap
    xs = torch.tensor([-0.5, -0.51, 45.5, 46.49, 46.5, 47.5])
    pts = torch.stack([xs, torch.full_like(xs, 3.0)], -1)
    reference = [int(np.floor(x + 0.5)) in range(47) for x in xs.tolist()]
    assert inside_heatmap(pts, (47, 10)).tolist() == reference == \
        [True, False, True, True, False, False]
    even = torch.stack([torch.full_like(xs, 3.0), xs + 17.0], -1)  # y
    for size in ((48, 64), (48, 63)):
        ref = [int(np.floor(y + 0.5)) in range(size[1])
               for y in (xs + 17.0).tolist()]
        assert inside_heatmap(even, size).tolist() == ref
    # half to even and half up agree on even sizes: the study's numbers stay
    grid = torch.arange(-1.5, 66, 0.5)
    pts = torch.stack([grid, torch.zeros_like(grid)], -1)
    half_even = (grid.round() >= 0) & (grid.round() < 48)
    assert torch.equal(inside_heatmap(pts, (48, 64)), half_even)
