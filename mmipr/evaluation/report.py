"""The per-split table of DifficultySplitCocoMetric: logged after COCO's
summary and written to ``split_results_file`` (CSV if it ends in ``.csv``,
else JSON), atomically (:func:`mmipr.utils.io.atomic_output`)."""
from __future__ import annotations

import csv
import json
import os.path as osp

from mmengine.logging import print_log
from terminaltables import AsciiTable

from mmipr.utils.io import atomic_output

#: the table's columns, in order; A(s) is appended by name
COLUMNS = ('count', 'AP', 'AP .5', 'AP .75', 'AR', 'paired', 'EPE')


def _fmt(value) -> str:
    return '-' if value is None else (
        str(value) if isinstance(value, int) else f'{value:.3f}')


def report_splits(rows: dict, pairing: str, normalizations: list,
                  activation_s: int, path: str | None = None) -> None:
    """Log the per-split table and, with ``path``, write it.

    Args:
        rows (dict): split name -> its numbers (count, AP, ..., A(s)).
        pairing (str): the pairing used for EPE and A(s).
        normalizations (list): heatmap normalisations used (empty without
            heatmaps).
        activation_s (int): s of A(s).
        path (str, optional): ``split_results_file``.
    """
    columns = [*COLUMNS, f'A({activation_s})']
    columns = [c for c in columns if any(c in r for r in rows.values())]
    table = [['split', *columns]] + [
        [name, *(_fmt(row.get(c)) for c in columns)]
        for name, row in rows.items()]
    norm = ', '.join(normalizations) or 'n/a (no heatmaps)'
    empty = [n for n, r in rows.items() if r['count'] == 0]
    print_log(
        'Difficulty splits (AP/AR: COCO OKS, -1 = empty split; EPE in '
        f'image pixels, pairing: {pairing}; heatmap normalization: '
        f'{norm})\n' + AsciiTable(table).table, 'current')
    if empty:
        print_log(f'Splits with no instance (AP = -1): {empty}', 'current')
    if path:
        write_splits(path, rows, columns, pairing, normalizations,
                     activation_s)


def write_splits(path: str, rows: dict, columns: list, pairing: str,
                 normalizations: list, activation_s: int) -> None:
    """Write the per-split table: CSV (one row per split) if ``path`` ends
    in ``.csv``, else JSON (also ``pairing``, ``heatmap_normalization``,
    ``activation_s``)."""
    with atomic_output(path) as tmp:
        if path.endswith('.csv'):
            with open(tmp, 'w', newline='') as f:
                writer = csv.writer(f)
                writer.writerow(['split', *columns])
                for name, row in rows.items():
                    writer.writerow([name, *(row.get(c, '') for c in columns)])
        else:
            with open(tmp, 'w') as f:
                json.dump({'pairing': pairing,
                           'heatmap_normalization': normalizations,
                           'activation_s': activation_s,
                           'splits': rows}, f, indent=2)
    print_log(f'Per-split results written to {osp.abspath(path)}', 'current')
