"""Heatmap statistics under non-finite heatmaps (issue 15, item 3): dropped
maps are counted per split and warned about, never averaged over silently."""
import json
import sys
from os import path as osp

import numpy as np
import pytest
import torch

from mmipr.analysis.heatmap_stats import HeatmapStatsAccumulator
from mmipr.heatmap.gaussian import gaussian_heatmaps

sys.path.insert(0, osp.dirname(__file__))
from test_heatmap_stats import tiny_model_files  # noqa: E402,F401


def _batch():
    gen = torch.Generator().manual_seed(0)
    targets = 16 + 20 * torch.rand(4, 3, 2, generator=gen,
                                   dtype=torch.float64)
    maps = gaussian_heatmaps(targets, (48, 64), 2.0, normalize=True)
    valid = torch.ones(4, 3, dtype=torch.bool)
    levels = torch.tensor([0, 0, 1, 2])
    return maps, targets, valid, levels


def test_non_finite_maps_are_dropped_and_counted():
    maps, targets, valid, levels = _batch()
    bad = maps.clone()
    bad[0, 2, 5, 5] = float('nan')   # easy
    bad[2, 2] = float('nan')         # medium: a diverged map
    bad[3, 2, 0, 0] = float('inf')   # hard
    acc = HeatmapStatsAccumulator()
    acc.update(bad, targets, valid, levels)
    clean = HeatmapStatsAccumulator()  # the same joints but the bad three
    kept = valid.clone()
    kept[[0, 2, 3], 2] = False
    clean.update(maps, targets, kept, levels)
    # before: the NaN maps made activation_sum and E_de NaN, and the
    # chi-square means were taken silently over the other joints
    out, ref = acc.summary(), clean.summary()
    assert acc.dropped_non_finite == 3
    assert [out[n]['dropped_non_finite'] for n in
            ('easy', 'medium', 'hard', 'easy_medium', 'all')] == [1, 1, 1, 2, 3]
    for name in out:
        assert out[name]['count'] == ref[name]['count']
        np.testing.assert_allclose(out[name]['activation_sum'],
                                   ref[name]['activation_sum'])
        assert out[name]['E_de'] == pytest.approx(ref[name]['E_de'])
        assert out[name]['E_re'] == pytest.approx(ref[name]['E_re'])
        assert out[name]['best_sigma'] == ref[name]['best_sigma']
        assert ref[name]['dropped_non_finite'] == 0


def test_invalid_joints_are_not_counted_as_dropped():
    maps, targets, valid, levels = _batch()
    maps[1, 0] = float('nan')
    valid[1, 0] = False  # unlabelled: never a statistic, never "dropped"
    targets[2, 1, 0] = float('nan')  # a non-finite target is dropped
    acc = HeatmapStatsAccumulator()
    acc.update(maps, targets, valid, levels)
    out = acc.summary()
    assert out['all']['dropped_non_finite'] == 1
    assert out['medium']['dropped_non_finite'] == 1
    assert out['all']['count'] == 10
    assert np.isfinite(out['all']['activation_sum']).all()


def test_heatmap_stats_report_dropped_maps(tiny_model_files, tmp_path,  # noqa: F811
                                           monkeypatch):
    from mmipr.analysis.heatmap_stats_report import write_heatmap_stats
    config, checkpoint, _ = tiny_model_files
    real = HeatmapStatsAccumulator.update

    def poisoned(self, heatmaps, targets, valid, levels):
        heatmaps = heatmaps.clone()
        heatmaps[0] = float('nan')  # every map of the first instance
        return real(self, heatmaps, targets, valid, levels)

    monkeypatch.setattr(HeatmapStatsAccumulator, 'update', poisoned)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.warns(UserWarning, match='non-finite heatmap'):
            result = write_heatmap_stats(config, checkpoint, str(tmp_path),
                                         num_workers=0, batch_size=8)
    finally:
        torch.set_num_threads(threads)
    saved = json.loads((tmp_path / 'heatmap_stats.json').read_text())
    assert saved['dropped_non_finite'] == result['dropped_non_finite'] > 0
    assert saved['splits']['all']['dropped_non_finite'] == \
        saved['dropped_non_finite']
    assert all('dropped_non_finite' in st for st in saved['splits'].values())
    assert np.isfinite(saved['splits']['all']['activation_sum']).all()
