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
The library: :mod:`mmipr.analysis.heatmap_stats_report`.

Examples::

    python tools/analysis/heatmap_stats.py CONFIG CHECKPOINT --out-dir DIR
    # overlay several models' results in one pair of figures
    python tools/analysis/heatmap_stats.py --plot-only a.json b.json \\
        --labels detection integral --out-dir DIR
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

import torch
from mmengine.config import DictAction

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))

import mmipr  # noqa: E402,F401  (mmcv-lite support, registration)
from mmipr.analysis.heatmap_stats import SIGMAS, WINDOWS  # noqa: E402
from mmipr.analysis.heatmap_stats_report import plot_heatmap_stats, write_heatmap_stats  # noqa: E402
from mmipr.utils.validation import cli_number, positive_int  # noqa: E402


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
    parser.add_argument('--beta', type=cli_number(low=0, low_open=True),
                        default=1.0,
                        help="softmax scale of --normalize softmax")
    parser.add_argument('--max-s', type=cli_number(integer=True, low=0),
                        default=9)
    parser.add_argument('--sigmas', type=cli_number(low=0, low_open=True),
                        nargs='+', default=list(SIGMAS),
                        help='template sigmas in heatmap pixels (the '
                        "paper's grid is for 64x48 heatmaps: halve it for "
                        '32x24)')
    parser.add_argument('--windows', type=positive_int, nargs=2,
                        default=list(WINDOWS),
                        metavar=('EASY_MEDIUM', 'HARD'),
                        help='chi-square window half-sizes (paper: 4 8 on '
                        '64x48 heatmaps)')
    parser.add_argument('--batch-size', type=positive_int, default=32)
    parser.add_argument('--num-workers', type=cli_number(integer=True, low=0),
                        default=2)
    parser.add_argument('--max-instances', type=positive_int,
                        help='only the first N instances (a quick look)')
    parser.add_argument('--no-flip', action='store_true',
                        help='disable the flip test of the config')
    parser.add_argument('--device', help='default: cuda if available, else '
                        'cpu')
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


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.plot_only:
        results = plot_heatmap_stats(args.plot_only, args.labels,
                                     args.out_dir)
        return results[0] if len(results) == 1 else {}
    return write_heatmap_stats(
        args.config, args.checkpoint, args.out_dir, overlays=args.overlay,
        labels=args.labels, label=args.label, normalize=args.normalize,
        beta=args.beta, max_s=args.max_s, sigmas=args.sigmas,
        windows=args.windows, batch_size=args.batch_size,
        num_workers=args.num_workers, max_instances=args.max_instances,
        flip_test=False if args.no_flip else None,
        device=args.device or ('cuda' if torch.cuda.is_available()
                               else 'cpu'),
        cfg_options=args.cfg_options)


if __name__ == '__main__':
    main()
