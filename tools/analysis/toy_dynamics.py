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

The library: :mod:`mmipr.analysis.toy_report`.

Example (the figure of docs/analysis.md)::

    python tools/analysis/toy_dynamics.py --out-dir docs/figures --no-json
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))

from mmipr.analysis.toy_dynamics import DEFAULT_LR  # noqa: E402
from mmipr.analysis.toy_report import toy_dynamics_experiment  # noqa: E402
from mmipr.utils.validation import cli_number, positive_int  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out-dir', default='work_dirs/toy_dynamics',
                        help='where to write the PNG and the JSON')
    parser.add_argument('--steps', type=positive_int, default=400)
    parser.add_argument('--show-steps', type=cli_number(integer=True, low=0),
                        nargs='+', default=[0, 20, 100, 400],
                        help='steps drawn in the figure and printed')
    parser.add_argument('--lr-integral', type=cli_number(low=0, low_open=True),
                        default=DEFAULT_LR['integral'])
    parser.add_argument('--lr-detection',
                        type=cli_number(low=0, low_open=True),
                        default=DEFAULT_LR['detection'])
    parser.add_argument('--beta', type=cli_number(low=0, low_open=True),
                        default=1.0)
    parser.add_argument('--sigma', type=cli_number(low=0, low_open=True),
                        default=2.0)
    parser.add_argument('--target', type=cli_number(), nargs=2,
                        default=[36., 48.], metavar=('X', 'Y'),
                        help='ground truth in heatmap pixels (64x48 map)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--dpi', type=positive_int, default=60)
    parser.add_argument('--no-json', action='store_true',
                        help='write only the PNG')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    return toy_dynamics_experiment(
        args.out_dir, args.steps, args.show_steps, args.lr_integral,
        args.lr_detection, args.beta, args.sigma, args.target, args.seed,
        args.dpi, write_json=not args.no_json)


if __name__ == '__main__':
    main()
