"""Heatmap statistics of a top-down model per difficulty split (Sec. 4).

Runs the model over the config's test set with ground-truth boxes
(``bbox_file=None``), collects the predicted heatmaps
(``test_cfg.output_heatmaps=True``), normalises them, and reports per split
(easy / medium / hard of ``mmipr.evaluation.splits``, plus easy+medium and
all) over the labelled joints whose ground truth lies inside the heatmap:

- activation sums A(s), s = 0..9 (Eq. 6; the paper's Fig. 2b and Fig. I);
- the mean Pearson chi-square against Gaussian templates and the best-fit
  sigma (App. A.3 tables, Fig. 2c; window s = 4 for easy/medium, 8 for hard,
  sigmas 0.5..5: the paper's, for 64x48 heatmaps; ``--windows`` and
  ``--sigmas`` rescale them for other sizes);
- the expected end-point errors E_de (argmax) >= E_re (expectation), Eq. 7, 8.

Joints whose heatmap is not finite (a diverged model) are left out of every
statistic, counted per split as ``dropped_non_finite`` and warned about.

Writes ``heatmap_stats.json``, ``activation_sums.png`` and ``best_sigma.png``
to ``--out-dir`` and prints a table. Only per-joint statistics are kept, never
the heatmaps.

Normalisation (``--normalize``): ``auto`` takes an ``IntegralHead``'s
heatmaps as they are (already softmax(beta * h)) and applies ``softmax`` to
any other head's (the paper's footnote 2); ``sum`` divides the positive part
of a detection heatmap by its sum instead. The JSON records which was used.

Examples::

    python tools/analysis/heatmap_stats.py CONFIG CHECKPOINT --out-dir DIR
    # overlay several models' results in one pair of figures
    python tools/analysis/heatmap_stats.py --plot-only a.json b.json \\
        --labels detection integral --out-dir DIR
"""
from __future__ import annotations

import argparse
import json
import math
import os
import os.path as osp
import sys
import warnings

import numpy as np
import torch
from mmengine.config import DictAction

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))

import mmipr  # noqa: F401  (mmcv-lite support, registration)
from mmipr.analysis.heatmap_stats import SIGMAS, WINDOWS, HeatmapStatsAccumulator
from mmipr.analysis.samples import keypoints_in_heatmap
from mmipr.evaluation.splits import annotation_levels
from mmipr.heatmap.stats import normalize_heatmaps


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Heatmap statistics per difficulty split',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', nargs='?', help='model config file')
    parser.add_argument('checkpoint', nargs='?', help='checkpoint file')
    parser.add_argument('--out-dir', default='work_dirs/heatmap_stats')
    parser.add_argument('--label', help='name of the model in the figures '
                        '(default: the config file name)')
    parser.add_argument('--normalize', default='auto',
                        choices=['auto', 'softmax', 'sum', 'none'])
    parser.add_argument('--beta', type=float, default=1.0,
                        help="softmax scale of --normalize softmax")
    parser.add_argument('--max-s', type=int, default=9)
    parser.add_argument('--sigmas', type=float, nargs='+',
                        default=list(SIGMAS),
                        help='template sigmas in heatmap pixels (the '
                        "paper's grid is for 64x48 heatmaps: halve it for "
                        '32x24)')
    parser.add_argument('--windows', type=int, nargs=2, default=list(WINDOWS),
                        metavar=('EASY_MEDIUM', 'HARD'),
                        help='chi-square window half-sizes (paper: 4 8 on '
                        '64x48 heatmaps)')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--num-workers', type=int, default=2)
    parser.add_argument('--max-instances', type=int,
                        help='only the first N instances (a quick look)')
    parser.add_argument('--no-flip', action='store_true',
                        help='disable the flip test of the config')
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='config overrides, key=value')
    parser.add_argument('--overlay', nargs='+', default=[],
                        help='heatmap_stats.json files of other models to '
                        'draw in the same figures')
    parser.add_argument('--plot-only', nargs='+', metavar='JSON',
                        help='draw these results and exit; no model is run')
    parser.add_argument('--labels', nargs='+',
                        help='names of the --plot-only / --overlay results')
    args = parser.parse_args(argv)
    if not args.plot_only and not (args.config and args.checkpoint):
        parser.error('give CONFIG and CHECKPOINT, or --plot-only JSON...')
    return args


def build(args):
    """The model (eval mode, heatmaps on) and the GT-box test dataloader."""
    from mmengine.config import Config
    from mmengine.runner import Runner
    from mmpose.apis import init_model

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    loader = cfg.test_dataloader
    loader.dataset.bbox_file = None  # ground-truth boxes
    loader.dataset.test_mode = True
    if args.max_instances:
        loader.dataset.indices = args.max_instances
    loader.batch_size = args.batch_size
    loader.num_workers = args.num_workers
    loader.persistent_workers = args.num_workers > 0
    model = init_model(cfg, args.checkpoint, device=args.device)
    model.test_cfg['output_heatmaps'] = True
    if args.no_flip:
        model.test_cfg['flip_test'] = False
    return model, Runner.build_dataloader(loader)


def resolve_normalize(mode: str, model) -> str:
    if mode != 'auto':
        return mode
    # IntegralHead (mmipr) returns softmax(beta * h) already
    return 'none' if hasattr(model.head, 'integrate') else 'softmax'


def batch_inputs(samples, heatmaps: torch.Tensor):
    """Ground truth in heatmap pixels, valid joints and split levels."""
    B, K, H, W = heatmaps.shape
    targets = keypoints_in_heatmap(samples, (W, H)).to(heatmaps.device)
    anns = [s.metainfo['raw_ann_info'] for s in samples]
    levels = torch.from_numpy(
        annotation_levels(anns, num_keypoints=K)['combined'])
    vis = np.array([np.reshape(a['keypoints'], (K, 3))[:, 2] for a in anns])
    rounded = targets.round()
    inside = ((rounded[..., 0] >= 0) & (rounded[..., 0] < W)
              & (rounded[..., 1] >= 0) & (rounded[..., 1] < H))
    valid = torch.from_numpy(vis > 0).to(heatmaps.device) & inside
    return targets, valid, levels


def collect(args) -> dict:
    from mmengine.utils import ProgressBar

    model, loader = build(args)
    mode = resolve_normalize(args.normalize, model)
    acc = HeatmapStatsAccumulator(args.max_s, args.sigmas, args.windows)
    progress = ProgressBar(len(loader.dataset))
    size = None
    with torch.no_grad():
        for batch in loader:
            samples = model.test_step(batch)
            heatmaps = torch.stack(
                [s.pred_fields.heatmaps for s in samples]).float()
            size = tuple(heatmaps.shape[-2:])
            if mode != 'none':
                heatmaps = normalize_heatmaps(heatmaps, mode, args.beta)
            acc.update(heatmaps, *batch_inputs(samples, heatmaps))
            for _ in samples:
                progress.update()
    print()
    if acc.dropped_non_finite:
        warn_non_finite(acc.dropped_non_finite, args.checkpoint)
    return dict(
        label=args.label or osp.splitext(osp.basename(args.config))[0],
        config=args.config, checkpoint=args.checkpoint,
        normalization=dict(
            none='as returned by the head (IntegralHead: softmax(beta*h))',
            softmax=f'softmax(beta*h) over H*W, beta={args.beta} '
            '(footnote 2)',
            sum='max(h, 0) / sum(max(h, 0))')[mode],
        flip_test=bool(model.test_cfg.get('flip_test', False)),
        heatmap_size_hw=size, units='heatmap pixels',
        dropped_non_finite=acc.dropped_non_finite,
        splits=acc.summary())


def warn_non_finite(count: int, checkpoint: str) -> None:
    """Warn that ``count`` joints' heatmaps were not finite and left out."""
    warnings.warn(
        f'{count} labelled joint(s) had a non-finite heatmap (NaN or inf) '
        f'and were left out of every statistic (dropped_non_finite in '
        f'heatmap_stats.json, per split): the statistics describe only the '
        f'other joints. Has the model of {checkpoint} diverged? Check its '
        'training loss, or use another checkpoint.', stacklevel=2)


def _finite(x):
    """Strict JSON has no inf/nan: inf becomes 'inf', nan None."""
    if isinstance(x, dict):
        return {str(k): _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return 'inf' if x > 0 else None
    return x


def _fmt(x, digits=2):
    if x is None:
        return '-'
    return '>1000' if x == 'inf' or x > 1000 else f'{x:.{digits}f}'


def table(result: dict) -> str:
    splits = result['splits']
    sigmas = next(iter(splits.values()))['sigmas']
    head = (['split', 'joints', 'non-finite', 'A(1)', 'A(2)', 'A(4)', 'A(9)', 'E_de',
             'E_re', 'window', 'best sigma']
            + [f'chi2 s={s:g}' for s in sigmas])
    lines = ['| ' + ' | '.join(head) + ' |', '|' + ' --- |' * len(head)]
    for name, st in splits.items():
        a = st['activation_sum'] or [None] * 10
        # JSON keys are strings
        chi = (st['chi_square'] or {}).get(str(st['window']),
                                           [None] * len(sigmas))
        cells = [name, str(st['count']),
                 str(st.get('dropped_non_finite', '-'))] + [
            _fmt(a[s], 3) if s < len(a) else '-' for s in (1, 2, 4, 9)
        ] + [_fmt(st['E_de']), _fmt(st['E_re']), str(st['window']),
             '-' if st['best_sigma'] is None else f"{st['best_sigma']:g}"
             ] + [_fmt(c) for c in chi]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def plot(results: list, out_dir: str) -> list:
    """Fig. 2b / Fig. I (A(s) vs s) and Fig. 2c (best sigma vs difficulty)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    colors = dict(easy='tab:green', medium='tab:orange', hard='tab:red',
                  all='tab:blue')
    styles = ['-', '--', ':', '-.']
    markers = ['o', 's', '^', 'D']
    paths = []
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for i, res in enumerate(results):
        for name, color in colors.items():
            a = res['splits'][name]['activation_sum']
            if a is None:
                continue
            ax.plot(range(len(a)), a, styles[i % 4], marker=markers[i % 4],
                    color=color, ms=4, label=f"{res['label']} {name}")
    ax.set_xlabel('s')
    ax.set_ylabel('activation sum A(s)')
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(osp.join(out_dir, 'activation_sums.png'))
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(4, 3.2))
    order = ['hard', 'medium', 'easy']
    for i, res in enumerate(results):
        best = [res['splits'][n]['best_sigma'] for n in order]
        best = [np.nan if b is None else b for b in best]
        ax.plot(order, best, styles[i % 4], marker=markers[i % 4],
                label=res['label'])
    ax.set_ylabel('best-fit sigma (heatmap px)')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(osp.join(out_dir, 'best_sigma.png'))
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    return paths


def _load(paths, labels):
    results = []
    for i, path in enumerate(paths):
        with open(path) as f:
            res = json.load(f)
        if labels and i < len(labels):
            res['label'] = labels[i]
        results.append(res)
    return results


def main(argv=None) -> dict:
    args = parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    if args.plot_only:
        results = _load(args.plot_only, args.labels)
        for res in results:
            print(f"{res['label']} ({res['normalization']}):")
            print(table(res))
        for path in plot(results, args.out_dir):
            print(f'wrote {path}')
        return results[0] if len(results) == 1 else {}
    result = _finite(collect(args))
    json_path = osp.join(args.out_dir, 'heatmap_stats.json')
    with open(json_path, 'w') as f:
        json.dump(result, f, indent=1)
    print(f"{result['label']}: normalisation {result['normalization']}; "
          'A(s) means over labelled joints, E in heatmap pixels, chi-square '
          "in the split's window "
          f'(s = {args.windows[0]} easy/medium, {args.windows[1]} hard)')
    print(table(result))
    results = [result] + _load(args.overlay, args.labels)
    for path in [json_path] + plot(results, args.out_dir):
        print(f'wrote {path}')
    return result


if __name__ == '__main__':
    main()
