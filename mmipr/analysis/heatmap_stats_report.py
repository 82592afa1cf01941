"""Heatmap statistics of a trained model, written and drawn
(``tools/analysis/heatmap_stats.py``; the study's per-run statistics).

:func:`model_heatmap_stats` runs a checkpoint over its test set on
ground-truth boxes (:func:`~mmipr.analysis.heatmap_stats.
collect_heatmap_stats`) and returns the JSON record; :func:`write_heatmap_stats`
also writes ``heatmap_stats.json``, prints a table and draws
``activation_sums.png`` (Fig. 2b / Fig. I) and ``best_sigma.png`` (Fig. 2c);
:func:`plot_heatmap_stats` redraws saved records, overlaid.
"""
from __future__ import annotations

import json
import math
import os
import os.path as osp
from typing import Sequence

import numpy as np

from .gt_boxes import build_gt_box_model
from .heatmap_stats import SIGMAS, WINDOWS, collect_heatmap_stats


def model_heatmap_stats(config: str, checkpoint: str, *,
                        label: str | None = None, normalize: str = 'auto',
                        beta: float = 1.0, max_s: int = 9,
                        sigmas: Sequence[float] = SIGMAS,
                        windows: Sequence[int] = WINDOWS,
                        batch_size: int = 32, num_workers: int = 2,
                        max_instances: int | None = None,
                        flip_test: bool | None = None, device: str = 'cpu',
                        cfg_options: dict | None = None,
                        progress: bool = True) -> dict:
    """The heatmap statistics of ``checkpoint`` on ground-truth boxes.

    Args:
        config (str): the model's config.
        checkpoint (str): its weights.
        label (str, optional): its name in tables and figures. Default: the
            config file's name.
        normalize, beta, max_s, sigmas, windows: as
            :func:`~mmipr.analysis.heatmap_stats.collect_heatmap_stats`.
        batch_size, num_workers, max_instances, flip_test, device,
            cfg_options: as
            :func:`~mmipr.analysis.gt_boxes.build_gt_box_model`.
        progress (bool): show a progress bar. Default: True.

    Returns:
        dict: ``label``, ``config``, ``checkpoint`` and the statistics, in
        strict JSON (:func:`json_safe`).
    """
    import torch

    model, loader = build_gt_box_model(
        config, checkpoint, device=device, cfg_options=cfg_options,
        batch_size=batch_size, num_workers=num_workers,
        max_instances=max_instances, flip_test=flip_test)
    with torch.no_grad():
        stats = collect_heatmap_stats(
            model, loader, normalize, beta, max_s, sigmas, windows,
            checkpoint=checkpoint, progress=progress)
    return json_safe(dict(
        label=label or osp.splitext(osp.basename(config))[0],
        config=config, checkpoint=checkpoint, **stats))


def write_heatmap_stats(config: str, checkpoint: str, out_dir: str,
                        overlays: Sequence[str] = (),
                        labels: Sequence[str] | None = None,
                        **options) -> dict:
    """:func:`model_heatmap_stats`, written to ``out_dir/heatmap_stats.json``,
    printed as a table and drawn with ``overlays`` (other saved records).

    Args:
        config (str): the model's config.
        checkpoint (str): its weights.
        out_dir (str): where the JSON and the figures go.
        overlays (Sequence[str]): ``heatmap_stats.json`` files of other
            models to draw in the same figures.
        labels (Sequence[str], optional): names of the overlays.
        **options: :func:`model_heatmap_stats`'s options.

    Returns:
        dict: the record.
    """
    os.makedirs(out_dir, exist_ok=True)
    result = model_heatmap_stats(config, checkpoint, **options)
    json_path = osp.join(out_dir, 'heatmap_stats.json')
    with open(json_path, 'w') as f:
        json.dump(result, f, indent=1)
    windows = options.get('windows', WINDOWS)
    print(f"{result['label']}: normalisation {result['normalization']}; "
          'A(s) means over labelled joints, E in heatmap pixels, chi-square '
          "in the split's window "
          f'(s = {windows[0]} easy/medium, {windows[1]} hard)')
    print(table(result))
    results = [result] + load_heatmap_stats(overlays, labels)
    for path in [json_path] + plot(results, out_dir):
        print(f'wrote {path}')
    return result


def plot_heatmap_stats(paths: Sequence[str], labels: Sequence[str] | None,
                       out_dir: str) -> list[dict]:
    """Print and draw saved records (no model is run).

    Args:
        paths (Sequence[str]): ``heatmap_stats.json`` files.
        labels (Sequence[str], optional): their names in the figures.
        out_dir (str): where the figures go.

    Returns:
        list[dict]: the records.
    """
    os.makedirs(out_dir, exist_ok=True)
    results = load_heatmap_stats(paths, labels)
    for res in results:
        print(f"{res['label']} ({res['normalization']}):")
        print(table(res))
    for path in plot(results, out_dir):
        print(f'wrote {path}')
    return results


def json_safe(x):
    """Strict JSON has no inf/nan: inf becomes 'inf', nan None (keys
    become strings, tuples lists)."""
    if isinstance(x, dict):
        return {str(k): json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return 'inf' if x > 0 else None
    return x


def _fmt(x, digits=2):
    if x is None:
        return '-'
    return '>1000' if x == 'inf' or x > 1000 else f'{x:.{digits}f}'


def table(result: dict) -> str:
    """One record as a Markdown table, a row per split."""
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


def load_heatmap_stats(paths: Sequence[str],
                       labels: Sequence[str] | None = None) -> list[dict]:
    """Saved records, renamed by ``labels`` where given."""
    results = []
    for i, path in enumerate(paths):
        with open(path) as f:
            res = json.load(f)
        if labels and i < len(labels):
            res['label'] = labels[i]
        results.append(res)
    return results

