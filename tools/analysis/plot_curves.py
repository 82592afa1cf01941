"""Overlay training-loss and validation curves of several work dirs (Fig. 4b).

Reads MMEngine's JSON logs, ``<work_dir>/<timestamp>/vis_data/scalars.json``
(one JSON object per line; training lines carry ``iter`` and ``epoch``,
validation lines the metrics and ``step`` = epoch). Runs resumed in the same
work dir are joined in timestamp order; a later line replaces an earlier one
of the same iteration (or epoch).

Draws one panel per training key (x: epoch, as ``iter`` divided by the
iterations per epoch) and one for the validation metric (x: epoch), and
prints the final value of each key and the best metric per run. The library:
:mod:`mmipr.analysis.curves`.

Examples::

    python tools/analysis/plot_curves.py work_dirs/det work_dirs/int \\
        --labels detection integral --out curves.png
    # the prior/integral gradient ratio of PriorGradientRatioHook (Table IV b)
    python tools/analysis/plot_curves.py work_dirs/int_prior \\
        --train-keys prior_integral_grad_ratio --log-y --no-val
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))

from mmipr.analysis.curves import plot_training_curves  # noqa: E402
from mmipr.utils.validation import positive_int  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Overlay training curves of MMEngine work dirs')
    parser.add_argument('work_dirs', nargs='+')
    parser.add_argument('--labels', nargs='+',
                        help='one per work dir (default: the dir names)')
    parser.add_argument('--train-keys', nargs='+', default=['loss'])
    parser.add_argument('--val-key', default='auto',
                        help="validation metric; 'auto': the first key "
                        "ending in '/AP'")
    parser.add_argument('--no-val', action='store_true')
    parser.add_argument('--relative', action='store_true',
                        help='divide each training curve by its first value '
                        '(compares losses of different units)')
    parser.add_argument('--smooth', type=positive_int, default=1,
                        help='moving average over this many logged points')
    parser.add_argument('--log-y', action='store_true')
    parser.add_argument('--out', default='curves.png')
    args = parser.parse_args(argv)
    if args.labels and len(args.labels) != len(args.work_dirs):
        parser.error('give one label per work dir')
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    return plot_training_curves(
        args.work_dirs, args.labels, args.train_keys, args.val_key,
        args.no_val, args.relative, args.smooth, args.log_y, args.out)


if __name__ == '__main__':
    main()
