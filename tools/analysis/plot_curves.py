"""Overlay training-loss and validation curves of several work dirs (Fig. 4b).

Reads MMEngine's JSON logs, ``<work_dir>/<timestamp>/vis_data/scalars.json``
(one JSON object per line; training lines carry ``iter`` and ``epoch``,
validation lines the metrics and ``step`` = epoch). Runs resumed in the same
work dir are joined in timestamp order; a later line replaces an earlier one
of the same iteration (or epoch).

Draws one panel per training key (x: epoch, as ``iter`` divided by the
iterations per epoch) and one for the validation metric (x: epoch), and
prints the final value of each key and the best metric per run.

Examples::

    python tools/analysis/plot_curves.py work_dirs/det work_dirs/int \\
        --labels detection integral --out curves.png
    # the prior/integral gradient ratio of PriorGradientRatioHook (Table IV b)
    python tools/analysis/plot_curves.py work_dirs/int_prior \\
        --train-keys prior_integral_grad_ratio --log-y --no-val
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import os.path as osp
from typing import Dict, List, Optional

import numpy as np


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
    parser.add_argument('--smooth', type=int, default=1,
                        help='moving average over this many logged points')
    parser.add_argument('--log-y', action='store_true')
    parser.add_argument('--out', default='curves.png')
    args = parser.parse_args(argv)
    if args.labels and len(args.labels) != len(args.work_dirs):
        parser.error('give one label per work dir')
    return args


def read_scalars(work_dir: str) -> Dict[str, List[dict]]:
    """Training and validation records of a work dir.

    Args:
        work_dir (str): an MMEngine work dir.

    Returns:
        dict: ``train`` (records with ``iter``, sorted by it) and ``val``
        (the other records, sorted by ``step``), duplicates resolved in
        favour of the latest run.
    """
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                      'scalars.json')))
    if not files:
        raise FileNotFoundError(
            f'no <timestamp>/vis_data/scalars.json under {work_dir!r}: is it '
            "an MMEngine work dir of a run with the default visualizer "
            "(vis_backends=[dict(type='LocalVisBackend')])?")
    train, val = {}, {}
    for path in files:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                rec = json.loads(line)
                if 'iter' in rec:
                    train[rec['iter']] = rec
                else:
                    val[rec.get('step', len(val))] = rec
    return dict(train=[train[k] for k in sorted(train)],
                val=[val[k] for k in sorted(val)])


def iters_per_epoch(train: List[dict]) -> Optional[float]:
    """Iterations per epoch, from the last iteration logged in each epoch."""
    last = {}
    for rec in train:
        if 'epoch' in rec:
            last[rec['epoch']] = rec['iter']
    epochs = sorted(last)
    if len(epochs) >= 2:
        # whole epochs only: the last one may be cut short
        return float(np.median(np.diff([last[e] for e in epochs])))
    if epochs:
        return last[epochs[0]] / epochs[0]
    return None


def curve(train: List[dict], key: str, smooth: int = 1,
          relative: bool = False):
    """(epochs, values) of one training key."""
    recs = [r for r in train if key in r]
    if not recs:
        return np.zeros(0), np.zeros(0)
    ipe = iters_per_epoch(train)
    x = np.array([r['iter'] for r in recs], dtype=float)
    x = x / ipe if ipe else x
    y = np.array([r[key] for r in recs], dtype=float)
    if smooth > 1 and len(y) >= smooth:
        y = np.convolve(y, np.ones(smooth) / smooth, mode='valid')
        x = x[smooth - 1:]
    if relative and len(y) and y[0] != 0:
        y = y / y[0]
    return x, y


def pick_val_key(val: List[dict], key: str) -> Optional[str]:
    if key != 'auto':
        return key
    for rec in val:
        for k in rec:
            if k.endswith('/AP'):
                return k
    return None


def main(argv=None) -> dict:
    args = parse_args(argv)
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    labels = args.labels or [osp.basename(osp.normpath(w))
                             for w in args.work_dirs]
    runs = {lab: read_scalars(w) for lab, w in zip(labels, args.work_dirs)}
    val_key = None
    if not args.no_val:
        for run in runs.values():
            val_key = val_key or pick_val_key(run['val'], args.val_key)
    panels = list(args.train_keys) + ([val_key] if val_key else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4),
                             squeeze=False)
    summary = {}
    for label, run in runs.items():
        summary[label] = {}
        for ax, key in zip(axes[0], args.train_keys):
            x, y = curve(run['train'], key, args.smooth, args.relative)
            if len(y):
                ax.plot(x, y, label=label)
                summary[label][key] = float(y[-1])
        if val_key:
            recs = [r for r in run['val'] if val_key in r]
            if recs:
                x = [r.get('step', i + 1) for i, r in enumerate(recs)]
                y = [r[val_key] for r in recs]
                axes[0, -1].plot(x, y, marker='o', ms=3, label=label)
                summary[label][f'best {val_key}'] = float(max(y))
    for ax, key in zip(axes[0], panels):
        ax.set_xlabel('epoch')
        is_train = key in args.train_keys
        ax.set_ylabel(key + (' / first' if args.relative and is_train
                             else ''))
        if args.log_y and is_train:
            ax.set_yscale('log')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    fig.savefig(args.out, dpi=100)
    plt.close(fig)
    for label, vals in summary.items():
        cells = ', '.join(f'{k} {v:.4g}' for k, v in vals.items())
        print(f'{label}: {cells}')
    print(f'wrote {args.out}')
    return summary


if __name__ == '__main__':
    main()
