"""Training-loss and validation curves of several MMEngine work dirs in one
figure (Fig. 4b; ``tools/analysis/plot_curves.py``).

Reads MMEngine's JSON logs, ``<work_dir>/<timestamp>/vis_data/scalars.json``
(one JSON object per line; training lines carry ``iter`` and ``epoch``,
validation lines the metrics and ``step`` = epoch). Runs resumed in the same
work dir are joined in timestamp order; a later line replaces an earlier one
of the same iteration (or epoch).
"""
from __future__ import annotations

import glob
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np


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
    """``key``, or for ``'auto'`` the first validation key ending in
    ``'/AP'`` (None if there is none)."""
    if key != 'auto':
        return key
    for rec in val:
        for k in rec:
            if k.endswith('/AP'):
                return k
    return None



def plot_training_curves(work_dirs: Sequence[str],
                         labels: Optional[Sequence[str]] = None,
                         train_keys: Sequence[str] = ('loss', ),
                         val_key: str = 'auto', no_val: bool = False,
                         relative: bool = False, smooth: int = 1,
                         log_y: bool = False,
                         out: str = 'curves.png') -> dict:
    """One panel per training key (x: epoch, as ``iter`` divided by the
    iterations per epoch) and one for the validation metric (x: epoch);
    prints the final value of each key and the best metric per run.

    Args:
        work_dirs (Sequence[str]): MMEngine work dirs.
        labels (Sequence[str], optional): one per work dir. Default: the
            folder names.
        train_keys (Sequence[str]): training keys to draw.
        val_key (str): the validation metric (:func:`pick_val_key`).
        no_val (bool): no validation panel.
        relative (bool): divide each training curve by its first value.
        smooth (int): moving average over this many logged points.
        log_y (bool): log scale for the training panels.
        out (str): the PNG.

    Returns:
        dict: label -> {key: last value, ``'best <val key>'``: best}.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    labels = labels or [osp.basename(osp.normpath(w)) for w in work_dirs]
    runs = {lab: read_scalars(w) for lab, w in zip(labels, work_dirs)}
    chosen = None
    if not no_val:
        for run in runs.values():
            chosen = chosen or pick_val_key(run['val'], val_key)
    panels = list(train_keys) + ([chosen] if chosen else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4),
                             squeeze=False)
    summary = {}
    for label, run in runs.items():
        summary[label] = {}
        for ax, key in zip(axes[0], train_keys):
            x, y = curve(run['train'], key, smooth, relative)
            if len(y):
                ax.plot(x, y, label=label)
                summary[label][key] = float(y[-1])
        if chosen:
            recs = [r for r in run['val'] if chosen in r]
            if recs:
                x = [r.get('step', i + 1) for i, r in enumerate(recs)]
                y = [r[chosen] for r in recs]
                axes[0, -1].plot(x, y, marker='o', ms=3, label=label)
                summary[label][f'best {chosen}'] = float(max(y))
    for ax, key in zip(axes[0], panels):
        ax.set_xlabel('epoch')
        is_train = key in train_keys
        ax.set_ylabel(key + (' / first' if relative and is_train else ''))
        if log_y and is_train:
            ax.set_yscale('log')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    for label, vals in summary.items():
        cells = ', '.join(f'{k} {v:.4g}' for k, v in vals.items())
        print(f'{label}: {cells}')
    print(f'wrote {out}')
    return summary
