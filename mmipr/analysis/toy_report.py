"""The toy experiment of the paper's Sec. 5.3 (Fig. 3), run, written and
drawn (``tools/analysis/toy_dynamics.py``).

:func:`toy_dynamics_experiment` evolves the four toy initialisations by
Eq. 11 under the integral loss and the detection loss
(:func:`~mmipr.analysis.toy_dynamics.simulate_toy_dynamics`) and writes

- ``toy_dynamics.png``: one row per case, the heatmap at the chosen steps for
  integral regression (left block) and detection (right block); the red dot is
  the ground truth, the black triangle the prediction (expectation for
  integral, argmax for detection), the line its trajectory so far;
- ``toy_dynamics.json``: per loss, case and step the prediction, its distance
  to the ground truth and A(2);
- a printed table of those numbers at the chosen steps.
"""
from __future__ import annotations

import json
import os
import os.path as osp
from typing import Sequence

import torch

from .toy_dynamics import DEFAULT_LR, TOY_CASES, simulate_toy_dynamics

CASE_TITLES = dict(random='(1) random', upper_left='(2) far, upper left',
                   plane='(3) plane, lower right', at_gt='(4) at the GT')


def plot(results: dict, show: list, target, path: str, dpi: int) -> None:
    """One row per case: the heatmap at the ``show`` steps, integral
    regression (left block) and detection (right block)."""
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


def table(results: dict, show: list) -> str:
    """Distance to the ground truth / A(2) per loss, case and shown step."""
    lines = ['| loss | case | ' + ' | '.join(f'step {s}' for s in show)
             + ' |', '|' + ' --- |' * (2 + len(show))]
    for loss, res in results.items():
        for c, case in enumerate(TOY_CASES):
            cells = [f"{res['distance'][s, c]:.2f} / "
                     f"{res['activation_sum'][s, c]:.3f}" for s in show]
            lines.append(f'| {loss} | {case} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)



def to_json(results: dict, config: dict) -> dict:
    """The simulations as JSON: per loss and case the prediction, distance,
    A(2) and loss at every step, with the experiment's ``config``."""
    out = dict(config=config, cases=list(TOY_CASES),
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


def toy_dynamics_experiment(out_dir: str, steps: int = 400,
                            show_steps: Sequence[int] = (0, 20, 100, 400),
                            lr_integral: float = DEFAULT_LR['integral'],
                            lr_detection: float = DEFAULT_LR['detection'],
                            beta: float = 1.0, sigma: float = 2.0,
                            target: Sequence[float] = (36., 48.),
                            seed: int = 0, dpi: int = 60,
                            write_json: bool = True) -> dict:
    """Both simulations, drawn to ``out_dir/toy_dynamics.png``, written to
    ``toy_dynamics.json`` (unless ``write_json`` is False) and printed.

    Args:
        out_dir (str): output folder.
        steps (int): steps of Eq. 11.
        show_steps (Sequence[int]): steps drawn and printed.
        lr_integral (float): step size under the integral loss.
        lr_detection (float): step size under the detection loss.
        beta (float): softmax scale.
        sigma (float): the detection target's sigma.
        target (Sequence[float]): ground truth (x, y) in heatmap pixels.
        seed (int): random seed of the random case.
        dpi (int): the figure's resolution.
        write_json (bool): write ``toy_dynamics.json``.

    Returns:
        dict: loss -> :func:`simulate_toy_dynamics`'s result.
    """
    config = dict(out_dir=out_dir, steps=steps, show_steps=list(show_steps),
                  lr_integral=lr_integral, lr_detection=lr_detection,
                  beta=beta, sigma=sigma, target=list(target), seed=seed,
                  dpi=dpi, no_json=not write_json)
    os.makedirs(out_dir, exist_ok=True)
    # 64 x 48 maps: more threads only add start-up costs
    torch.set_num_threads(1)
    show = sorted(s for s in set(show_steps) if 0 <= s <= steps)
    common = dict(steps=steps, beta=beta, sigma=sigma, target=tuple(target),
                  record_steps=show, seed=seed)
    results = dict(
        integral=simulate_toy_dynamics('integral', lr=lr_integral, **common),
        detection=simulate_toy_dynamics('detection', lr=lr_detection,
                                        **common))
    png = osp.join(out_dir, 'toy_dynamics.png')
    plot(results, show, target, png, dpi)
    if write_json:
        with open(osp.join(out_dir, 'toy_dynamics.json'), 'w') as f:
            json.dump(to_json(results, config), f)
    print('distance to the ground truth (heatmap px) / A(2):')
    print(table(results, show))
    print(f'wrote {png}' + (' and toy_dynamics.json' if write_json else ''))
    return results
