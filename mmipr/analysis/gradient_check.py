"""Eq. 10 (closed-form integral gradient) against autograd, and its factors
(``tools/analysis/gradient_check.py``).

For heatmap logits h, h~ = softmax(beta * h), J^ its expectation and the
integral L1 loss L = |J^_x - J_x| + |J^_y - J_y| per joint (Eq. 2, 4),
:func:`check` compares autograd's dL/dh with the closed form of the paper's
Eq. 10 (:func:`mmipr.heatmap.integral.integral_l1_grad`) in float64, on real
heatmaps (:func:`model_inputs`) or random ones (:func:`random_inputs`).
A model's normalised heatmaps p (``IntegralHead``) are used as logits
``log(p) / beta``, whose softmax is p again; a detection head's raw heatmaps
are used as logits directly.
"""
from __future__ import annotations

import json
import os
import os.path as osp

import torch
from torch import Tensor

from mmipr.heatmap.integral import expectation, flat_softmax, integral_l1_grad

from .gt_boxes import build_gt_box_model, returns_normalized_heatmaps
from .heatmap_stats import heatmap_targets


def random_inputs(num_maps: int = 64, heatmap_size: tuple[int, int] = (48, 64),
                  seed: int = 0) -> tuple[Tensor, Tensor]:
    """Smooth random logits (blobs of varying width) and random targets.

    Args:
        num_maps (int): number of heatmaps.
        heatmap_size (tuple): (W, H).
        seed (int): random seed.

    Returns:
        tuple[Tensor, Tensor]: logits (1, N, H, W) and targets (1, N, 2),
        float64.
    """
    gen = torch.Generator().manual_seed(seed)
    W, H = heatmap_size
    n = num_maps
    noise = torch.randn(n, 1, H, W, generator=gen, dtype=torch.float64)
    logits = torch.nn.functional.avg_pool2d(noise, 5, 1, 2) * 20
    target = torch.rand(n, 1, 2, generator=gen, dtype=torch.float64)
    target = target * target.new_tensor([W - 1, H - 1])
    return logits.view(1, n, H, W), target.view(1, n, 2)


@torch.no_grad()
def model_inputs(model, loader, beta: float = 1.0
                 ) -> tuple[Tensor, Tensor, float]:
    """Logits and ground truth of a model's heatmaps on its test set.

    Args:
        model: a top-down model returning heatmaps, e.g.
            :func:`~mmipr.analysis.gt_boxes.build_gt_box_model`'s.
        loader: its loader on ground-truth boxes.
        beta (float): the softmax scale when the head has none.

    Returns:
        tuple: logits (1, N, H, W) and targets (1, N, 2) of the N labelled
        joints inside the heatmaps, float64, and the beta used.
    """
    normalised = returns_normalized_heatmaps(model)
    beta = float(getattr(model.head, 'beta', beta))
    logits, targets = [], []
    for batch in loader:
        samples = model.test_step(batch)
        maps = torch.stack([s.pred_fields.heatmaps for s in samples])
        maps = maps.double()
        target, valid, _ = heatmap_targets(samples, maps)
        if normalised:
            maps = maps.clamp(min=1e-300).log() / beta
        logits.append(maps[valid])
        targets.append(target.double()[valid])
    logits = torch.cat(logits)
    if not len(logits):
        raise ValueError('no labelled joint inside the heatmaps was found')
    return logits[None], torch.cat(targets)[None], beta


def check(logits: Tensor, target: Tensor, beta: float) -> tuple[dict, dict]:
    """Autograd and Eq. 10 gradients, the factors and the errors.

    Args:
        logits (Tensor): heatmap logits, float64, shape (B, K, H, W).
        target (Tensor): ground truth (x, y), shape (B, K, 2).
        beta (float): the softmax scale.

    Returns:
        tuple[dict, dict]: the errors (``maps``, ``beta``,
        ``max_abs_error``, ``max_rel_error``, ``max_abs_gradient``,
        ``factorisation_max_abs_error``) and the maps to draw.
    """
    h = logits.detach().clone().requires_grad_(True)
    probs = flat_softmax(h, beta)
    coords = expectation(probs)
    loss = (coords - target).abs().sum()
    auto, = torch.autograd.grad(loss, h)
    probs, coords = probs.detach(), coords.detach()
    closed = integral_l1_grad(probs, coords, target, beta)
    # Eq. 10 split: beta * h~ (value), and the bracket, which is Eq. 10 of a
    # map of ones with beta = 1 (location)
    value = beta * probs
    location = integral_l1_grad(torch.ones_like(probs), coords, target, 1.0)
    err = (auto - closed).abs()
    scale = auto.abs().amax(dim=(-2, -1)).clamp(min=1e-300)
    stats = dict(
        maps=int(logits.shape[0] * logits.shape[1]),
        beta=beta,
        max_abs_error=err.max().item(),
        max_rel_error=(err.amax(dim=(-2, -1)) / scale).max().item(),
        max_abs_gradient=auto.abs().max().item(),
        factorisation_max_abs_error=(value * location - closed).abs().max()
        .item())
    return stats, dict(probs=probs, value=value, location=location,
                       closed=closed, auto=auto, coords=coords)


def plot(parts: dict, target: Tensor, path: str, show: int) -> None:
    """Fig. 3 (left): heatmap, value and location factors, gradient and
    its error, for ``show`` joints."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm, TwoSlopeNorm

    n = min(show, parts['probs'].shape[1])
    titles = ['normalised heatmap h~', 'value factor beta h~',
              'location factor', 'gradient (Eq. 10)', 'autograd - Eq. 10']
    fig, axes = plt.subplots(n, 5, figsize=(11, 2.6 * n), squeeze=False)
    for r in range(n):
        maps = [parts['probs'][0, r], parts['value'][0, r],
                parts['location'][0, r], parts['closed'][0, r],
                parts['auto'][0, r] - parts['closed'][0, r]]
        for c, m in enumerate(maps):
            m = m.cpu().numpy()
            ax = axes[r, c]
            if c == 1:
                im = ax.imshow(m, cmap='viridis', norm=LogNorm(
                    vmin=max(m.min(), m.max() * 1e-12), vmax=m.max()))
            elif c in (2, 3):
                lim = abs(m).max() or 1.0
                im = ax.imshow(m, cmap='coolwarm', norm=TwoSlopeNorm(
                    0.0, -lim, lim))
            else:
                im = ax.imshow(m, cmap='jet' if c == 0 else 'coolwarm')
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
            ax.plot(*target[0, r].cpu().tolist(), 'o', color='red', ms=4)
            ax.plot(*parts['coords'][0, r].cpu().tolist(), 'k^', ms=5,
                    mec='w', mew=0.5)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[c], fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    plt.close(fig)



def gradient_check(out_dir: str, config: str | None = None,
                   checkpoint: str | None = None, *, beta: float = 1.0,
                   max_instances: int = 64, batch_size: int = 16,
                   num_workers: int = 0, num_maps: int = 64,
                   heatmap_size: tuple[int, int] = (48, 64), seed: int = 0,
                   show: int = 3, device: str = 'cpu',
                   cfg_options: dict | None = None) -> dict:
    """Eq. 10 against autograd on a model's heatmaps (``config`` and
    ``checkpoint``) or on random ones; writes ``gradient_check.json`` and
    ``gradient_factors.png`` to ``out_dir`` and prints the errors.

    Args:
        out_dir (str): output folder.
        config (str, optional): a model's config (with ``checkpoint``).
        checkpoint (str, optional): its weights.
        beta (float): softmax scale (a model with a ``beta`` uses its own).
        max_instances, batch_size, num_workers, device, cfg_options: the
            model's test set (:func:`~mmipr.analysis.gt_boxes.
            build_gt_box_model`; no flip test).
        num_maps, heatmap_size, seed: the random heatmaps
            (:func:`random_inputs`).
        show (int): joints drawn in the figure.

    Returns:
        dict: :func:`check`'s errors and the source of the heatmaps.
    """
    os.makedirs(out_dir, exist_ok=True)
    if config:
        model, loader = build_gt_box_model(
            config, checkpoint, device=device, cfg_options=cfg_options,
            batch_size=batch_size, num_workers=num_workers,
            max_instances=max_instances, flip_test=False)
        logits, target, beta = model_inputs(model, loader, beta)
        source = dict(config=config, checkpoint=checkpoint)
    else:
        logits, target = random_inputs(num_maps, heatmap_size, seed)
        source = dict(random=dict(seed=seed, num_maps=num_maps,
                                  heatmap_size=list(heatmap_size)))
    stats, parts = check(logits, target, beta)
    stats.update(source)
    with open(osp.join(out_dir, 'gradient_check.json'), 'w') as f:
        json.dump(stats, f, indent=1)
    png = osp.join(out_dir, 'gradient_factors.png')
    plot(parts, target, png, show)
    print(f"Eq. 10 vs autograd over {stats['maps']} heatmaps (float64, "
          f"beta={beta:g}): max abs error {stats['max_abs_error']:.3g}, "
          f"max relative error {stats['max_rel_error']:.3g} "
          f"(largest gradient {stats['max_abs_gradient']:.3g})")
    print(f'wrote {png} and gradient_check.json')
    return stats
