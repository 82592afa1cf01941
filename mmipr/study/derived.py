"""Statistics derived from a finished run's model, cached in its folder.

Right after a run finishes, the study computes the heatmap statistics
(A(s), chi-square fits, E_de, E_re: :func:`heatmap_stats`) and, where
Table V reads them (:func:`needs_instance_stats`), the per-instance
statistics (:func:`instance_stats`) of its final model on ground-truth
boxes, and stores them in the run's ledger record
(:func:`~mmipr.study.records.make_record`). Each is also a JSON file in the
run's folder, tagged with the run's settings key (:func:`derived`), so a
file of another training of the same folder is never reused.
"""
from __future__ import annotations

import os.path as osp
from typing import Callable

from mmipr.utils.io import read_json_or_none, write_json_atomic

from .plan import TABLE1

#: the heatmap statistics' splits merged into a run's metrics
SPLITS = ('easy', 'medium', 'hard', 'easy_medium', 'all')


def derived(result: dict, name: str,
            compute: Callable[[dict], dict | None], what: str) -> dict | None:
    """A file derived from one run's model, cached in the run's folder.

    Tagged with the run's settings key: a file of another training of the
    same folder is never reused, and an unreadable one is redone.

    Args:
        result (dict): the run's result.
        name (str): file name in the run's folder.
        compute (callable): ``compute(result) -> dict | None`` (None: failed,
            not cached, retried by the next invocation).
        what (str): what the file holds, for messages.

    Returns:
        dict | None: the statistics (None: ``compute`` failed).
    """
    out_file = osp.join(result['work_dir'], name)
    cached = read_json_or_none(out_file, what)
    if cached and cached.get('settings_key') == result['settings_key']:
        return cached['stats']
    stats = compute(result)
    if stats is not None:
        write_json_atomic(out_file, dict(settings_key=result['settings_key'],
                                         checkpoint=result['checkpoint'],
                                         stats=stats))
    return stats


def run_config(result: dict) -> str:
    """The config a run dumped into its folder (its data paths included)."""
    return osp.join(result['work_dir'], osp.basename(result['config']))


def _compute_heatmap_stats(result: dict) -> dict | None:
    import torch

    from mmipr.analysis.heatmap_stats_report import model_heatmap_stats
    try:
        return model_heatmap_stats(
            run_config(result), result['checkpoint'], label=result['name'],
            normalize='sum', num_workers=0, progress=False,
            device='cuda' if torch.cuda.is_available() else 'cpu')
    except Exception as err:  # not fatal: the next invocation retries
        print(f'the heatmap statistics of {result["work_dir"]} failed '
              f'({type(err).__name__}: {err}); they are left out of this '
              'report.')
        return None


def heatmap_stats(result: dict) -> dict | None:
    """The heatmap statistics of one run's model on ground-truth boxes
    (:func:`~mmipr.analysis.heatmap_stats_report.model_heatmap_stats`:
    A(s), chi-square fits, E_de, E_re; detection heatmaps normalised as
    their positive part over its sum)."""
    return derived(result, 'heatmap_stats.json', _compute_heatmap_stats,
                   'heatmap statistics')


def _compute_instance_stats(result: dict) -> dict:
    from mmipr.analysis.instance_stats import model_instance_stats
    return model_instance_stats(run_config(result), result['checkpoint'])


def instance_stats(result: dict) -> dict:
    """Per-instance OKS and A(1), A(2) on ground-truth boxes (Table V)."""
    return derived(result, 'instance_stats.json', _compute_instance_stats,
                   'per-instance statistics')


def merge_heatmap_stats(results: list, stats: dict) -> None:
    """Copy each run's heatmap statistics into its metrics, as
    ``hm/<split>/A(s)``, ``E_de``, ``E_re``, ``best_sigma``."""
    for result in results:
        entry = stats.get(result['run_id'])
        if not entry:
            continue
        for split in SPLITS:
            values = entry['splits'].get(split) or {}
            for s, a in enumerate(values.get('activation_sum') or []):
                result['metrics'][f'hm/{split}/A({s})'] = a
            for key in ('E_de', 'E_re', 'best_sigma'):
                if values.get(key) is not None:
                    result['metrics'][f'hm/{split}/{key}'] = values[key]


def needs_instance_stats(result: dict) -> bool:
    """Whether Table V reads this run's per-instance statistics: seed 0 of
    a Table 1 variant at the study's length."""
    return (result['seed'] == 0 and result['name'] in
            [n for n, _, _ in TABLE1]
            and result.get('study_epochs') in (None, result['epochs']))
