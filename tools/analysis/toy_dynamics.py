"""The idealised single-heatmap experiment of the paper's Sec. 5.3 (Fig. 3).

Evolves the four toy initialisations by Eq. 11 under the integral loss and the
detection loss (:func:`mmipr.analysis.simulate_toy_dynamics`) and writes

- ``toy_dynamics.png``: one row per case, the heatmap at the chosen steps for
  integral regression (left block) and detection (right block); the red dot is
  the ground truth, the black triangle the prediction (expectation for
  integral, argmax for detection), the line its trajectory so far;
- ``toy_dynamics.json``: per loss, case and step the prediction, its distance
  to the ground truth and A(2);
- a printed table of those numbers at the chosen steps.

Example (the figure of docs/analysis.md)::

    python tools/analysis/toy_dynamics.py --out-dir docs/figures --no-json
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import sys

import torch

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))

from mmipr.analysis import TOY_CASES, simulate_toy_dynamics
from mmipr.analysis.toy_dynamics import DEFAULT_LR

CASE_TITLES = dict(random='(1) random', upper_left='(2) far, upper left',
                   plane='(3) plane, lower right', at_gt='(4) at the GT')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out-dir', default='work_dirs/toy_dynamics',
                        help='where to write the PNG and the JSON')
    parser.add_argument('--steps', type=int, default=400)
    parser.add_argument('--show-steps', type=int, nargs='+',
                        default=[0, 20, 100, 400],
                        help='steps drawn in the figure and printed')
    parser.add_argument('--lr-integral', type=float,
                        default=DEFAULT_LR['integral'])
    parser.add_argument('--lr-detection', type=float,
                        default=DEFAULT_LR['detection'])
    parser.add_argument('--beta', type=float, default=1.0)
    parser.add_argument('--sigma', type=float, default=2.0)
    parser.add_argument('--target', type=float, nargs=2, default=[36., 48.],
                        metavar=('X', 'Y'),
                        help='ground truth in heatmap pixels (64x48 map)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--dpi', type=int, default=60)
    parser.add_argument('--no-json', action='store_true',
                        help='write only the PNG')
    return parser.parse_args(argv)


def run(args) -> dict:
    """Both simulations; the results keyed by loss."""
    show = sorted(s for s in set(args.show_steps) if 0 <= s <= args.steps)
    common = dict(steps=args.steps, beta=args.beta, sigma=args.sigma,
                  target=tuple(args.target), record_steps=show,
                  seed=args.seed)
    return dict(
        integral=simulate_toy_dynamics(
            'integral', lr=args.lr_integral, **common),
        detection=simulate_toy_dynamics(
            'detection', lr=args.lr_detection, **common)), show


def plot(results: dict, show: list, target, path: str, dpi: int) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    n_cols = 2 * len(show)
    fig, axes = plt.subplots(len(TOY_CASES), n_cols,
                             figsize=(1.6 * n_cols + 0.3, 2.1 * len(TOY_CASES)),
                             squeeze=False)
    for block, loss in enumerate(('integral', 'detection')):
        res = results[loss]
        for c, case in enumerate(TOY_CASES):
            for k, step in enumerate(show):
                ax = axes[c, block * len(show) + k]
                ax.imshow(res['heatmaps'][k, c].numpy(), cmap='jet')
                traj = res['predictions'][:step + 1, c].numpy()
                ax.plot(traj[:, 0], traj[:, 1], 'w-', lw=0.8)
                ax.plot(*traj[-1], 'k^', ms=6, mec='w', mew=0.6)
                ax.plot(*target, 'o', color='red', ms=4)
                ax.set_xticks([])
                ax.set_yticks([])
                if c == 0:
                    ax.set_title(f'{loss}\nstep {step}', fontsize=8)
                if block == 0 and k == 0:
                    ax.set_ylabel(CASE_TITLES[case], fontsize=8)
    fig.tight_layout(pad=0.3)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def to_json(results: dict, args) -> dict:
    out = dict(config=vars(args), cases=list(TOY_CASES),
               normalisation=dict(integral='softmax(beta * h)',
                                  detection='max(h, 0) / sum(max(h, 0))'))
    for loss, res in results.items():
        out[loss] = {
            case: dict(
                prediction=res['predictions'][:, c].tolist(),
                distance=res['distance'][:, c].tolist(),
                activation_sum_2=res['activation_sum'][:, c].tolist(),
                loss=res['loss'][:, c].tolist())
            for c, case in enumerate(TOY_CASES)
        }
    return out


def table(results: dict, show: list) -> str:
    lines = ['| loss | case | ' + ' | '.join(f'step {s}' for s in show)
             + ' |', '|' + ' --- |' * (2 + len(show))]
    for loss, res in results.items():
        for c, case in enumerate(TOY_CASES):
            cells = [f"{res['distance'][s, c]:.2f} / "
                     f"{res['activation_sum'][s, c]:.3f}" for s in show]
            lines.append(f'| {loss} | {case} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    # 64 x 48 maps: more threads only add start-up costs
    torch.set_num_threads(1)
    results, show = run(args)
    png = osp.join(args.out_dir, 'toy_dynamics.png')
    plot(results, show, args.target, png, args.dpi)
    if not args.no_json:
        with open(osp.join(args.out_dir, 'toy_dynamics.json'), 'w') as f:
            json.dump(to_json(results, args), f)
    print('distance to the ground truth (heatmap px) / A(2):')
    print(table(results, show))
    print(f'wrote {png}' + ('' if args.no_json else ' and toy_dynamics.json'))


if __name__ == '__main__':
    main()
