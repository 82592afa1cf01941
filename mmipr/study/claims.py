"""The paper's claims, checked on a study's runs: held / did not hold / tie.

A claim compares two variants on one metric. The difference counts only if it
exceeds the seed spread: the largest standard deviation over seeds of that
metric among the variants trained with several seeds (``spread``). Smaller
differences are ties.
"""
from __future__ import annotations

import numpy as np

from .plan import SEEDED
from .report import summarize


def early_ap(runs: list[dict], key: str = 'coco/AP') -> float:
    """Mean val AP over the first half of training (area under the curve).

    A variant that converges faster has a larger early AP.
    """
    values = []
    for run in runs:
        aps = [m.get(key, np.nan) for m in run['val_metrics']]
        values.append(np.mean(aps[:max(1, len(aps) // 2)]))
    return float(np.mean(values))


#: the convergence criterion's bound: the last quarter's share of the gain
CONVERGENCE_MAX_SHARE = 0.10


def convergence(run: dict, key: str = 'coco/AP') -> dict:
    """The study's convergence criterion for one run.

    With T validated epochs and q = max(1, round(T / 4)), the share of the
    whole run's gain made in its last quarter:

    .. math::
        r = \\frac{AP_T - AP_{T-q}}{AP_T - AP_0}, \\qquad AP_0 = 0

    (an untrained model scores AP 0). The run meets the criterion when
    r <= :data:`CONVERGENCE_MAX_SHARE` and the last quarter lies after the
    last lr drop (``lr_drop_epoch`` of the result, if recorded).

    Args:
        run (dict): a run's result (``val_metrics`` per epoch).
        key (str): the metric. Default: ``'coco/AP'``.

    Returns:
        dict: ``share`` (r; NaN when AP_T <= 0 or fewer than 2 epochs),
        ``quarter`` (q), ``after_drop`` (bool) and ``met`` (bool).
    """
    aps = [m.get(key, np.nan) for m in run.get('val_metrics', [])]
    epochs = len(aps)
    quarter = max(1, round(epochs / 4))
    if epochs < 2 or not aps[-1] > 0:
        share = float('nan')
    else:
        share = float((aps[-1] - aps[-1 - quarter]) / aps[-1])
    drop = run.get('lr_drop_epoch')
    after_drop = drop is None or epochs - quarter >= drop
    met = bool(share <= CONVERGENCE_MAX_SHARE and after_drop)
    return dict(share=share, quarter=quarter, after_drop=after_drop, met=met)


def spread(by_name: dict, key: str = 'coco/AP') -> float:
    """Largest std over seeds of ``key`` among the seeded variants."""
    stds = [summarize(by_name[name], key)[1] for name in SEEDED
            if len(by_name.get(name, [])) > 1]
    return float(max(stds)) if stds else 0.0


def _early_spread(by_name: dict, key: str = 'coco/AP') -> float:
    stds = [np.std([early_ap([r], key) for r in by_name[name]])
            for name in SEEDED
            if len(by_name.get(name, [])) > 1]
    return float(max(stds)) if stds else 0.0


def verdict(better: float, worse: float, tolerance: float) -> str:
    """'held' if ``better`` exceeds ``worse`` by more than ``tolerance``,
    'did not hold' if it falls short by more, else 'tie'."""
    if np.isnan(better) or np.isnan(worse):
        return 'not measured'
    if better - worse > tolerance:
        return 'held'
    if worse - better > tolerance:
        return 'did not hold'
    return 'tie'


def claims_table(by_name: dict, noise: float, prefix: str = 'coco') -> str:
    """Markdown table of the paper's claims on these runs.

    Args:
        by_name (dict): variant -> list of run results; heatmap statistics
            on ground-truth boxes, where present, under ``hm/<split>/...``
            keys of each run's ``metrics`` (``A(s)``, ``E_de``, ``E_re``).
        noise (float): the AP seed spread (:func:`spread`).
        prefix (str): the metric prefix whose AP is judged: ``'coco'`` (the
            shared instance-scoring rule) or ``'own'`` (each head's own
            keypoint scores). Default: ``'coco'``.
    """
    rows = claim_rows(by_name, noise, prefix)
    lines = ['| claim (paper) | measured | tie tolerance | on this data |',
             '| --- | --- | --- | --- |']
    lines += [f'| {t} | {m} | {tol} | {v} |' for t, m, tol, v in rows]
    return '\n'.join(lines)


def claim_rows(by_name: dict, noise: float, prefix: str = 'coco') -> list:
    """The rows of :func:`claims_table`: (claim, measured, tolerance,
    verdict)."""

    def metric(name: str, key: str) -> float:
        return summarize(by_name.get(name, []), key)[0] \
            if by_name.get(name) else float('nan')

    def early(name: str) -> float:
        return early_ap(by_name[name], f'{prefix}/AP') \
            if by_name.get(name) else float('nan')

    rows = []

    def claim(text: str, label_a: str, a: float, label_b: str, b: float,
              tolerance: float) -> None:
        rows.append((text, f'{label_a} {a:.3f} vs {label_b} {b:.3f}',
                     f'{tolerance:.3f}', verdict(a, b, tolerance)))

    ap, hard, em = (f'{prefix}/AP', f'{prefix}/hard/AP',
                    f'{prefix}/easy_medium/AP')
    claim('Detection beats integral regression overall (Table 1, AP)',
          'detection', metric('detection', ap), 'integral',
          metric('integral', ap), noise)
    claim('Detection beats integral regression on easy/medium instances '
          '(Table 1, AP e/m)', 'detection', metric('detection', em),
          'integral', metric('integral', em), spread(by_name, em))
    claim('Integral regression is better on hard instances (Table 1, AP '
          'hard)', 'integral', metric('integral', hard), 'detection',
          metric('detection', hard), spread(by_name, hard))
    for split, text in (('easy_medium', 'easy/medium'), ('hard', 'hard')):
        a2 = f'hm/{split}/A(2)'
        claim(f'Integral heatmaps are more localised than detection\'s on '
              f'{text} instances (Table 1, A(2) {text})', 'integral',
              metric('integral', a2), 'detection',
              metric('detection', a2), spread(by_name, a2))
    claim('The prior (sigma 2) closes the gap to detection (AP; tie or '
          'better counts)', 'integral_kl2', metric('integral_kl2', ap),
          'detection', metric('detection', ap), noise)
    claim('The prior (sigma 2) improves integral regression (AP)',
          'integral_kl2', metric('integral_kl2', ap), 'integral',
          metric('integral', ap), noise)
    for extreme in ('integral_kl0.5', 'integral_kl4'):
        claim(f'An extreme prior sigma hurts ({extreme} below sigma 2, AP)',
              'integral_kl2', metric('integral_kl2', ap), extreme,
              metric(extreme, ap), noise)
    early_noise = _early_spread(by_name, f'{prefix}/AP')
    claim('Integral regression converges more slowly than detection (Fig. '
          '4b: mean val AP over the first half of training)', 'detection',
          early('detection'), 'integral', early('integral'), early_noise)
    claim('The prior speeds integral regression up (same measure)',
          'integral_kl2', early('integral_kl2'), 'integral',
          early('integral'), early_noise)
    for other in ('detection_sigma0.5', 'detection_sigma1',
                  'detection_sigma3'):
        claim(f'Detection sigma 2 beats {other} (Fig. 2d, AP)', 'detection',
              metric('detection', ap), other, metric(other, ap), noise)
    for name in ('detection', 'integral', 'integral_kl2'):
        for split in ('easy_medium', 'hard'):
            de, re = f'hm/{split}/E_de', f'hm/{split}/E_re'
            # an inequality of expectations (App. A.2): no seed tolerance
            claim(f'E_de >= E_re for {name}, {split} (App. A.2, px)',
                  'E_de', metric(name, de), 'E_re', metric(name, re), 0.0)
    return rows
