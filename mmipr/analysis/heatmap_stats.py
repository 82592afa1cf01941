"""Per-difficulty-split statistics of predicted heatmaps (the paper's Sec. 4).

:class:`HeatmapStatsAccumulator` takes batches of normalised heatmaps with
their ground truths and difficulty levels and keeps running sums only (never
the heatmaps): activation sums A(s) (Eq. 6, Fig. 2b / Fig. I), Pearson
chi-square against Gaussian templates and the best-fit sigma (App. A.3,
Fig. 2c), and the expected end-point errors E_de >= E_re (Eq. 7, 8).
:func:`collect_heatmap_stats` runs a model over a ground-truth-box loader
into one (``tools/analysis/heatmap_stats.py``, the study's statistics).
"""
from __future__ import annotations

import warnings
from typing import Dict, Sequence

import numpy as np
import torch
from torch import Tensor

from mmipr.evaluation.splits import annotation_levels
from mmipr.heatmap.stats import (
    activation_sum_curve,
    expected_epe,
    normalize_heatmaps,
    pearson_chi_square,
    round_half_up,
)

from .gt_boxes import returns_normalized_heatmaps
from .samples import keypoints_in_heatmap

#: difficulty levels, as mmipr.evaluation.splits codes them
LEVELS = ('easy', 'medium', 'hard')
#: reported splits and the levels each one unites
SPLITS = dict(easy=(0, ), medium=(1, ), hard=(2, ), easy_medium=(0, 1),
              all=(0, 1, 2))
#: chi-square window half-sizes (easy/medium, hard) of App. A.3 (where
#: A(s) > 0.8 on 64 x 48 heatmaps)
WINDOWS = (4, 8)
SIGMAS = (0.5, 1.0, 2.0, 3.0, 4.0, 5.0)


class HeatmapStatsAccumulator:
    """Running per-split sums of the heatmap statistics.

    Args:
        max_s (int): activation sums for s = 0..max_s. Default: 9.
        sigmas (Sequence[float]): template sigmas in heatmap pixels.
            Default: (0.5, 1, 2, 3, 4, 5).
        windows (Sequence[int]): chi-square window half-sizes; the best
            sigma of the hard split uses the last, of the others the first.
            Default: (4, 8), the paper's for 64 x 48 heatmaps.
    """

    def __init__(self, max_s: int = 9, sigmas: Sequence[float] = SIGMAS,
                 windows: Sequence[int] = WINDOWS):
        self.max_s = max_s
        self.sigmas = tuple(float(s) for s in sigmas)
        self.windows = tuple(windows)
        n_sig = len(self.sigmas)

        def zeros(*shape):
            return torch.zeros(len(LEVELS), *shape, dtype=torch.float64)

        self.count = zeros()
        self.dropped = zeros()
        self.a_sum = zeros(max_s + 1)
        self.chi_sum = {s: zeros(n_sig) for s in self.windows}
        self.chi_count = {s: zeros(n_sig) for s in self.windows}
        self.best_hist = {s: zeros(n_sig) for s in self.windows}
        self.e_de = zeros()
        self.e_re = zeros()

    def update(self, heatmaps: Tensor, targets: Tensor, valid: Tensor,
               levels: Tensor) -> None:
        """Add a batch.

        Args:
            heatmaps (Tensor): normalised heatmaps, shape (B, K, H, W).
            targets (Tensor): ground truth (x, y) in heatmap pixels, shape
                (B, K, 2).
            valid (Tensor): bool, joints to count (labelled, inside the
                heatmap), shape (B, K).
            levels (Tensor): difficulty level of each instance (0 easy,
                1 medium, 2 hard, anything else: not counted), shape (B, ).

        A valid joint whose heatmap or target holds a non-finite value (NaN,
        inf: a diverged model, a map of zero sum normalised) is left out of
        every statistic and counted in ``dropped_non_finite`` instead.
        """
        heatmaps = heatmaps.double()
        targets = targets.to(heatmaps)
        finite = (heatmaps.isfinite().flatten(2).all(-1)
                  & targets.isfinite().all(-1))
        # zeros in place of the dropped maps keep NaN out of the batch sums
        heatmaps = torch.where(finite[..., None, None], heatmaps, 0.)
        targets = torch.where(finite[..., None], targets, 0.)
        curve = activation_sum_curve(heatmaps, targets, self.max_s)
        e_de, e_re = expected_epe(heatmaps, targets)
        chis = {s: pearson_chi_square(heatmaps, targets, self.sigmas, s)
                for s in self.windows}
        levels = levels.to(valid.device)
        for lv in range(len(LEVELS)):
            mask = valid & (levels == lv)[:, None]
            self.dropped[lv] += (mask & ~finite).sum().item()
            mask &= finite
            if not mask.any():
                continue
            self.count[lv] += mask.sum().item()
            self.a_sum[lv] += curve[mask].sum(0).cpu()
            self.e_de[lv] += e_de[mask].sum().item()
            self.e_re[lv] += e_re[mask].sum().item()
            for s, chi in chis.items():
                chi = chi[mask]  # (N, S)
                known = ~chi.isnan()
                self.chi_sum[s][lv] += torch.where(known, chi,
                                                   0.).sum(0).cpu()
                self.chi_count[s][lv] += known.sum(0).cpu()
                best = chi.nan_to_num(nan=float('inf')).argmin(-1)
                best = best[known.any(-1)]
                self.best_hist[s][lv] += torch.bincount(
                    best, minlength=len(self.sigmas)).cpu()

    @property
    def dropped_non_finite(self) -> int:
        """Valid joints of all levels dropped as non-finite so far."""
        return int(self.dropped.sum())

    def summary(self) -> Dict[str, dict]:
        """Per split: means of the statistics and the best-fit sigma.

        Returns:
            dict: split name (``easy``, ``medium``, ``hard``,
            ``easy_medium``, ``all``) -> dict with ``count`` (joints),
            ``dropped_non_finite`` (valid joints left out of every statistic
            because their heatmap or target was not finite),
            ``activation_sum`` (mean A(s), s = 0..max_s), ``chi_square``
            (window -> mean chi-square per sigma; inf where some template
            underflows), ``best_sigma`` (the sigma of least mean
            chi-square in the split's window, App. A.3), ``window`` (that
            window: the last of ``windows`` for hard, else the first),
            ``best_sigma_counts`` (window -> how many joints each sigma fits
            best), ``E_de`` and ``E_re`` (mean expected EPE in
            heatmap pixels). Statistics of empty splits are None.
        """
        out = {}
        for name, lvs in SPLITS.items():
            idx = list(lvs)
            n = self.count[idx].sum().item()
            chi = {s: (self.chi_sum[s][idx].sum(0) /
                       self.chi_count[s][idx].sum(0)) for s in self.windows}
            window = self.windows[-1 if name == 'hard' else 0]
            entry = dict(count=int(n),
                         dropped_non_finite=int(self.dropped[idx].sum()),
                         window=window, sigmas=self.sigmas)
            if n == 0:
                entry.update(activation_sum=None, chi_square=None,
                             best_sigma=None, best_sigma_counts=None,
                             E_de=None, E_re=None)
            else:
                entry.update(
                    activation_sum=(self.a_sum[idx].sum(0) / n).tolist(),
                    chi_square={s: c.tolist() for s, c in chi.items()},
                    best_sigma=self.sigmas[int(
                        chi[window].nan_to_num(nan=float('inf')).argmin())],
                    best_sigma_counts={
                        s: self.best_hist[s][idx].sum(0).long().tolist()
                        for s in self.windows
                    },
                    E_de=self.e_de[idx].sum().item() / n,
                    E_re=self.e_re[idx].sum().item() / n)
            out[name] = entry
        return out


#: ``normalize`` modes of :func:`collect_heatmap_stats`, as the JSON names them
NORMALIZATIONS = dict(
    none='as returned by the head (IntegralHead: softmax(beta*h))',
    softmax='softmax(beta*h) over H*W, beta={beta} (footnote 2)',
    sum='max(h, 0) / sum(max(h, 0))')


def inside_heatmap(targets: Tensor, heatmap_size: tuple[int, int]) -> Tensor:
    """Whether each target's nearest heatmap pixel (MMPose's half-up
    rounding, :func:`~mmipr.heatmap.stats.round_half_up`) lies in the map.

    Args:
        targets (Tensor): (x, y) in heatmap pixels, shape (..., 2).
        heatmap_size (tuple): (W, H).

    Returns:
        Tensor: bool, shape (...).
    """
    W, H = heatmap_size
    rounded = round_half_up(targets)
    return ((rounded[..., 0] >= 0) & (rounded[..., 0] < W)
            & (rounded[..., 1] >= 0) & (rounded[..., 1] < H))


def heatmap_targets(samples, heatmaps: Tensor):
    """Ground truth of top-down samples in heatmap pixels, the joints to
    count and the instances' difficulty levels.

    Args:
        samples (Sequence[PoseDataSample]): one instance each, on
            ground-truth boxes (``raw_ann_info`` in the metainfo).
        heatmaps (Tensor): their heatmaps, shape (B, K, H, W).

    Returns:
        tuple[Tensor, Tensor, Tensor]: targets (x, y), shape (B, K, 2);
        valid (labelled and inside the heatmap), bool, shape (B, K); levels
        (:func:`~mmipr.evaluation.splits.annotation_levels`' combined),
        shape (B, ).
    """
    B, K, H, W = heatmaps.shape
    targets = keypoints_in_heatmap(samples, (W, H)).to(heatmaps.device)
    anns = [s.metainfo['raw_ann_info'] for s in samples]
    levels = torch.from_numpy(
        annotation_levels(anns, num_keypoints=K)['combined'])
    vis = np.array([np.reshape(a['keypoints'], (K, 3))[:, 2] for a in anns])
    valid = torch.from_numpy(vis > 0).to(heatmaps.device) & inside_heatmap(
        targets, (W, H))
    return targets, valid, levels


def resolve_normalization(mode: str, model) -> str:
    """``'auto'``: ``'none'`` for a head that returns normalised heatmaps
    (IntegralHead), else ``'softmax'`` (footnote 2); other modes as given.
    """
    if mode != 'auto':
        return mode
    return 'none' if returns_normalized_heatmaps(model) else 'softmax'


def warn_non_finite(count: int, checkpoint: str) -> None:
    """Warn that ``count`` joints' heatmaps were not finite and left out."""
    warnings.warn(
        f'{count} labelled joint(s) had a non-finite heatmap (NaN or inf) '
        f'and were left out of every statistic (dropped_non_finite in '
        f'heatmap_stats.json, per split): the statistics describe only the '
        f'other joints. Has the model of {checkpoint} diverged? Check its '
        'training loss, or use another checkpoint.', stacklevel=2)


@torch.no_grad()
def collect_heatmap_stats(model, loader, normalize: str = 'auto',
                          beta: float = 1.0, max_s: int = 9,
                          sigmas: Sequence[float] = SIGMAS,
                          windows: Sequence[int] = WINDOWS,
                          checkpoint: str = '', progress: bool = True) -> dict:
    """Run a top-down model over a ground-truth-box loader, per split.

    Args:
        model: an MMPose top-down model returning heatmaps
            (``test_cfg.output_heatmaps=True``), e.g.
            :func:`~mmipr.analysis.gt_boxes.build_gt_box_model`'s.
        loader: its loader on ground-truth boxes.
        normalize (str): ``'auto'``, ``'softmax'``, ``'sum'`` or ``'none'``
            (:func:`resolve_normalization`; :data:`NORMALIZATIONS`).
        beta (float): the softmax scale of ``'softmax'``. Default: 1.
        max_s (int): A(s) for s = 0..max_s. Default: 9.
        sigmas (Sequence[float]): chi-square template sigmas.
        windows (Sequence[int]): chi-square window half-sizes.
        checkpoint (str): the model's checkpoint, for the warning on
            non-finite heatmaps.
        progress (bool): show MMEngine's progress bar. Default: True.

    Returns:
        dict: ``normalization`` (in words), ``flip_test``,
        ``heatmap_size_hw``, ``units``, ``dropped_non_finite`` and
        ``splits`` (:meth:`HeatmapStatsAccumulator.summary`).
    """
    from mmengine.utils import ProgressBar

    mode = resolve_normalization(normalize, model)
    acc = HeatmapStatsAccumulator(max_s, sigmas, windows)
    bar = ProgressBar(len(loader.dataset)) if progress else None
    size = None
    for batch in loader:
        samples = model.test_step(batch)
        heatmaps = torch.stack(
            [s.pred_fields.heatmaps for s in samples]).float()
        size = tuple(heatmaps.shape[-2:])
        if mode != 'none':
            heatmaps = normalize_heatmaps(heatmaps, mode, beta)
        acc.update(heatmaps, *heatmap_targets(samples, heatmaps))
        for _ in samples if bar is not None else ():
            bar.update()
    if bar is not None:
        print()
    if acc.dropped_non_finite:
        warn_non_finite(acc.dropped_non_finite, checkpoint)
    return dict(
        normalization=NORMALIZATIONS[mode].format(beta=beta),
        flip_test=bool(model.test_cfg.get('flip_test', False)),
        heatmap_size_hw=size, units='heatmap pixels',
        dropped_non_finite=acc.dropped_non_finite,
        splits=acc.summary())
