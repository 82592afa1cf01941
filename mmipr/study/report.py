"""The comparison of trained variants (demo and study): grouping by variant,
mean and spread over seeds, and the comparison table.

Every number comes from the ``result.json`` of a run (:func:`mmipr.study.runs.run`),
i.e. from DifficultySplitCocoMetric on that run's last validation. The
figures are in :mod:`mmipr.study.figures`, the study's other tables in
:mod:`mmipr.study.tables`.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

#: (column title, metric key) of the comparison table
COLUMNS = (
    ('AP', 'coco/AP'),
    ('AP easy', 'coco/easy/AP'),
    ('AP medium', 'coco/medium/AP'),
    ('AP hard', 'coco/hard/AP'),
    ('AP e/m', 'coco/easy_medium/AP'),
    ('EPE easy', 'coco/easy/EPE'),
    ('EPE medium', 'coco/medium/EPE'),
    ('EPE hard', 'coco/hard/EPE'),
    ('A(2) e/m', 'coco/easy_medium/A(2)'),
    ('A(2) hard', 'coco/hard/A(2)'),
)
LEVELS = ('easy', 'medium', 'hard')


def group_by_variant(results: list[dict]) -> dict[str, list[dict]]:
    """Runs of the same variant (different seeds), in first-seen order."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for result in results:
        groups[result['name']].append(result)
    return dict(groups)


def summarize(runs: list[dict], key: str) -> tuple[float, float]:
    """Mean and (population) standard deviation over seeds of one metric.

    Missing or absent values (COCO's -1 for an empty split) are skipped;
    the mean is NaN when no run has the value.
    """
    values = [r['metrics'].get(key, np.nan) for r in runs]
    values = np.array([v for v in values if v is not None and v >= 0])
    if values.size == 0:
        return float('nan'), float('nan')
    return float(values.mean()), float(values.std())


def number_text(value: float | None, digits: int = 3) -> str:
    """``value`` to ``digits`` decimals; ``-`` where it was not measured
    (None or NaN)."""
    return '-' if value is None or not np.isfinite(value) else \
        f'{value:.{digits}f}'


def _cell(mean: float, std: float, n: int, digits: int) -> str:
    text = number_text(mean, digits)
    return text + (f' ± {std:.{digits}f}' if n > 1 and text != '-' else '')


def comparison_table(results: list[dict], columns=COLUMNS) -> str:
    """Markdown table: one row per variant, mean ± std over its seeds.

    Args:
        results (list[dict]): run results.
        columns (Sequence[tuple]): (title, metric key) of each column.
            Default: :data:`COLUMNS`.
    """
    groups = group_by_variant(results)
    header = ['variant', 'seeds'] + [c for c, _ in columns] + ['train s']
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + ' --- |' * len(header)]
    for name, runs in groups.items():
        cells = [name, str(len(runs))]
        for title, key in columns:
            digits = 2 if title.startswith('EPE') else 3
            cells.append(_cell(*summarize(runs, key), len(runs), digits))
        seconds = [r['train_seconds'] for r in runs]
        cells.append(f'{np.mean(seconds):.0f}')
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def split_counts_line(results: list[dict]) -> str:
    """The instance count of each combined level (from any run)."""
    metrics = results[0]['metrics']
    counts = ', '.join(
        f'{level} {int(metrics.get(f"coco/{level}/count", 0))}'
        for level in LEVELS + ('easy_medium', ))
    return f'val instances per level: {counts}'
