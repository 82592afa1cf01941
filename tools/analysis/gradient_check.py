"""Eq. 10 (closed-form integral gradient) against autograd, and its factors.

For heatmap logits h, h~ = softmax(beta * h), J^ its expectation and the
integral L1 loss L = |J^_x - J_x| + |J^_y - J_y| per joint (Eq. 2, 4), compares
autograd's dL/dh with the closed form of the paper's Eq. 10
(:func:`mmipr.heatmap.integral.integral_l1_grad`)

    dL/dh_p = beta * h~_p * ( s(J^_x - J_x)(i - J^_x) + s(J^_y - J_y)(j - J^_y) )

on real heatmaps (a model's, on its test set with ground-truth boxes) or, with
no CONFIG/CHECKPOINT, on random ones, in float64. Writes
``gradient_check.json`` (the errors) and ``gradient_factors.png``: for a few
joints the normalised heatmap, the value factor beta * h~ (log scale), the
location factor (a plane through J^, steepest toward the far corners) and the
gradient, as the paper's Fig. 3 (left).

A model's normalised heatmaps p (``IntegralHead``) are used as logits
``log(p) / beta``, whose softmax is p again; a detection head's raw heatmaps
are used as logits directly.

Examples::

    python tools/analysis/gradient_check.py --out-dir DIR          # random
    python tools/analysis/gradient_check.py CONFIG CHECKPOINT --out-dir DIR
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import sys

import torch
from mmengine.config import DictAction

# the repository root (for mmipr) and this folder (for heatmap_stats)
sys.path[:0] = [osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'),
                osp.dirname(osp.abspath(__file__))]

import mmipr  # noqa: E402,F401  (mmcv-lite support, registration)
from mmipr.heatmap.integral import expectation, flat_softmax, integral_l1_grad  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Eq. 10 against autograd, with its factors')
    parser.add_argument('config', nargs='?')
    parser.add_argument('checkpoint', nargs='?')
    parser.add_argument('--out-dir', default='work_dirs/gradient_check')
    parser.add_argument('--beta', type=float, default=1.0,
                        help='softmax scale (a model with a `beta` uses its '
                        'own)')
    parser.add_argument('--max-instances', type=int, default=64,
                        help='model mode: instances of the test set to use')
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--num-workers', type=int, default=0)
    parser.add_argument('--num-maps', type=int, default=64,
                        help='random mode: number of random heatmaps')
    parser.add_argument('--heatmap-size', type=int, nargs=2, default=[48, 64],
                        metavar=('W', 'H'), help='random mode')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--show', type=int, default=3,
                        help='joints drawn in the figure')
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='config overrides, key=value')
    args = parser.parse_args(argv)
    if bool(args.config) != bool(args.checkpoint):
        parser.error('give both CONFIG and CHECKPOINT, or neither')
    return args


def random_inputs(args):
    """Smooth random logits (blobs of varying width) and random targets."""
    gen = torch.Generator().manual_seed(args.seed)
    W, H = args.heatmap_size
    n = args.num_maps
    noise = torch.randn(n, 1, H, W, generator=gen, dtype=torch.float64)
    logits = torch.nn.functional.avg_pool2d(noise, 5, 1, 2) * 20
    target = torch.rand(n, 1, 2, generator=gen, dtype=torch.float64)
    target = target * target.new_tensor([W - 1, H - 1])
    return logits.view(1, n, H, W), target.view(1, n, 2), args.beta


def model_inputs(args):
    """Logits and ground truth of a model's heatmaps on its test set."""
    from heatmap_stats import batch_inputs, build

    args.normalize, args.no_flip = 'none', True
    model, loader = build(args)
    normalised = hasattr(model.head, 'integrate')
    beta = float(getattr(model.head, 'beta', args.beta))
    logits, targets = [], []
    with torch.no_grad():
        for batch in loader:
            samples = model.test_step(batch)
            maps = torch.stack([s.pred_fields.heatmaps for s in samples])
            maps = maps.double()
            target, valid, _ = batch_inputs(samples, maps)
            if normalised:
                maps = maps.clamp(min=1e-300).log() / beta
            logits.append(maps[valid])
            targets.append(target.double()[valid])
    logits = torch.cat(logits)
    if not len(logits):
        raise ValueError('no labelled joint inside the heatmaps was found')
    return logits[None], torch.cat(targets)[None], beta


def check(logits, target, beta):
    """Autograd and Eq. 10 gradients, the factors and the errors."""
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


def plot(parts, target, path, show):
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


def main(argv=None) -> dict:
    args = parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    if args.config:
        logits, target, beta = model_inputs(args)
        source = dict(config=args.config, checkpoint=args.checkpoint)
    else:
        logits, target, beta = random_inputs(args)
        source = dict(random=dict(seed=args.seed, num_maps=args.num_maps,
                                  heatmap_size=args.heatmap_size))
    stats, parts = check(logits, target, beta)
    stats.update(source)
    with open(osp.join(args.out_dir, 'gradient_check.json'), 'w') as f:
        json.dump(stats, f, indent=1)
    png = osp.join(args.out_dir, 'gradient_factors.png')
    plot(parts, target, png, args.show)
    print(f"Eq. 10 vs autograd over {stats['maps']} heatmaps (float64, "
          f"beta={beta:g}): max abs error {stats['max_abs_error']:.3g}, "
          f"max relative error {stats['max_rel_error']:.3g} "
          f"(largest gradient {stats['max_abs_gradient']:.3g})")
    print(f'wrote {png} and gradient_check.json')
    return stats


if __name__ == '__main__':
    main()
