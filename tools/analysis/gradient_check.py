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
gradient, as the paper's Fig. 3 (left). The library:
:mod:`mmipr.analysis.gradient_check`.

Examples::

    python tools/analysis/gradient_check.py --out-dir DIR          # random
    python tools/analysis/gradient_check.py CONFIG CHECKPOINT --out-dir DIR
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys

import torch
from mmengine.config import DictAction

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))

import mmipr  # noqa: E402,F401  (mmcv-lite support, registration)
from mmipr.analysis.gradient_check import gradient_check  # noqa: E402
from mmipr.utils.validation import cli_number, positive_int  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Eq. 10 against autograd, with its factors')
    parser.add_argument('config', nargs='?')
    parser.add_argument('checkpoint', nargs='?')
    parser.add_argument('--out-dir', default='work_dirs/gradient_check')
    parser.add_argument('--beta', type=cli_number(low=0, low_open=True),
                        default=1.0,
                        help='softmax scale (a model with a `beta` uses its '
                        'own)')
    parser.add_argument('--max-instances', type=positive_int, default=64,
                        help='model mode: instances of the test set to use')
    parser.add_argument('--batch-size', type=positive_int, default=16)
    parser.add_argument('--num-workers', type=cli_number(integer=True, low=0),
                        default=0)
    parser.add_argument('--num-maps', type=positive_int, default=64,
                        help='random mode: number of random heatmaps')
    parser.add_argument('--heatmap-size', type=positive_int, nargs=2,
                        default=[48, 64], metavar=('W', 'H'),
                        help='random mode')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--show', type=positive_int, default=3,
                        help='joints drawn in the figure')
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='config overrides, key=value')
    args = parser.parse_args(argv)
    if bool(args.config) != bool(args.checkpoint):
        parser.error('give both CONFIG and CHECKPOINT, or neither')
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    return gradient_check(
        args.out_dir, args.config, args.checkpoint, beta=args.beta,
        max_instances=args.max_instances, batch_size=args.batch_size,
        num_workers=args.num_workers, num_maps=args.num_maps,
        heatmap_size=tuple(args.heatmap_size), seed=args.seed, show=args.show,
        device=args.device, cfg_options=args.cfg_options)


if __name__ == '__main__':
    main()
