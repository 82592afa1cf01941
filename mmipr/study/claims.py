"""The paper's claims, checked on a study's runs: held / did not hold / tie.

A claim compares two variants on one metric. The difference counts only if it
exceeds the seed spread: the largest standard deviation over seeds of that
metric among the variants trained with several seeds (``spread``). Smaller
differences are ties.
"""
from __future__ import annotations

import numpy as np

from .ledger import SATURATION_TOLERANCE, saturation
from .plan import SATURATION_VARIANTS, SEEDED
from .report import number_text, summarize


def early_ap(runs: list[dict], key: str = 'coco/AP') -> float:
    """Mean val AP over the first half of training (area under the curve).

    A variant that converges faster has a larger early AP.
    """
    values = []
    for run in runs:
        aps = [m.get(key, np.nan) for m in run['val_metrics']]
        values.append(np.mean(aps[:max(1, len(aps) // 2)]))
    return float(np.mean(values))


def saturation_rows(by_name: dict, halves: list, noise: float,
                    key: str = 'coco/AP') -> list[dict]:
    """The saturation criterion (:func:`~mmipr.study.ledger.saturation`) of
    each variant of :data:`~mmipr.study.plan.SATURATION_VARIANTS` with a
    run at T: its AP at T against its AP at T // 2, the same seed.

    Args:
        by_name (dict): variant -> its runs at the study's T.
        halves (list[dict]): the runs of T // 2 epochs.
        noise (float): the seed spread of ``key`` (:func:`spread`).
        key (str): the metric. Default: ``'coco/AP'``.

    Returns:
        list[dict]: per variant: ``variant``, ``seed``, ``half_epochs``,
        ``epochs``, ``ap_half``, ``ap_full`` and (with a T/2 run)
        :func:`~mmipr.study.ledger.saturation`'s ``saturated``, ``gain``,
        ``relative``, ``within``; ``why``, in words.
    """
    rows = []
    for variant in SATURATION_VARIANTS:
        for full in by_name.get(variant, []):
            half = [h for h in halves if h['name'] == variant
                    and h['seed'] == full['seed']]
            row = dict(variant=variant, seed=full['seed'],
                       epochs=full['epochs'],
                       ap_full=full['metrics'].get(key, np.nan))
            if not half:
                rows.append(dict(row, half_epochs=None, ap_half=np.nan,
                                 saturated=None,
                                 why='not judged: no T/2 run'))
                continue
            row.update(half_epochs=half[0]['epochs'],
                       ap_half=half[0]['metrics'].get(key, np.nan))
            verdict = saturation(row['ap_full'], row['ap_half'], noise)
            row.update(verdict)
            row['why'] = (
                f"gain {verdict['relative']:.1%} <= {SATURATION_TOLERANCE:.0%}"
                if verdict['within'] == 'relative' else
                f"gain {verdict['gain']:.3f} < seed spread {noise:.3f}"
                if verdict['within'] else
                f"gain {verdict['relative']:.1%} > {SATURATION_TOLERANCE:.0%} "
                f"and {verdict['gain']:.3f} >= seed spread {noise:.3f}: "
                'still learning')
            rows.append(row)
    return rows


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


#: the header of :func:`claims_table` (also how :func:`parse_claims` finds it)
CLAIMS_HEADER = '| claim (paper) | measured | tie tolerance | on this data |'


#: the earlier verdict of a claim an earlier study did not judge
NOT_IN_EARLIER = 'not in that study'


def parse_claims(markdown: str) -> dict[str, tuple[str, str]]:
    """claim -> (measured, verdict), read from the claims table
    (:func:`claims_table`) of a study document; empty without one."""
    lines = markdown.splitlines()
    if CLAIMS_HEADER not in lines:
        return {}
    claims = {}
    for line in lines[lines.index(CLAIMS_HEADER) + 2:]:
        if not line.startswith('|'):
            break
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        claims[cells[0]] = (cells[1], cells[-1])
    return claims


def verdict_changes(rows: list, earlier: dict[str, tuple[str, str]]) -> str:
    """Markdown table of each claim's verdict in an earlier study (claim ->
    (measured, verdict): :func:`parse_claims`) against now (``rows``:
    :func:`claim_rows`); a verdict that changed (both measured) in bold."""
    lines = ['| claim (paper) | earlier: measured | earlier | now: measured '
             '| now |', '|' + ' --- |' * 5]
    for text, measured, _, now in rows:
        old_measured, old = earlier.get(text, ('-', NOT_IN_EARLIER))
        changed = old != now and judged(old) and judged(now)
        mark = (lambda v: f'**{v}**') if changed else str
        lines.append(f'| {text} | {old_measured} | {mark(old)} | '
                     f'{measured} | {mark(now)} |')
    return '\n'.join(lines)


def judged(verdict: str) -> bool:
    """Whether a verdict compares measurements (held, did not hold, tie)."""
    return verdict not in ('not measured', NOT_IN_EARLIER)


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
    lines = [CLAIMS_HEADER, '| --- | --- | --- | --- |']
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
        rows.append((text, f'{label_a} {number_text(a)} vs {label_b} '
                           f'{number_text(b)}',
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
    for other, what in (('integral_gu2021', 'Gu et al. 2021\'s debiasing'),
                        ('integral_js2', 'DSNT\'s JS prior (sigma 2)')):
        claim(f'Beyond the paper: the KL prior (sigma 2) beats integral '
              f'regression with {what} (AP)', 'integral_kl2',
              metric('integral_kl2', ap), other, metric(other, ap), noise)
    claim('Beyond the paper: MMPose\'s debias formula adds to the KL prior '
          '(AP)', 'integral_debias_kl2', metric('integral_debias_kl2', ap),
          'integral_kl2', metric('integral_kl2', ap), noise)
    for name in ('detection', 'integral', 'integral_kl2'):
        for split in ('easy_medium', 'hard'):
            de, re = f'hm/{split}/E_de', f'hm/{split}/E_re'
            # an inequality of expectations (App. A.2): no seed tolerance
            claim(f'E_de >= E_re for {name}, {split} (App. A.2, px)',
                  'E_de', metric(name, de), 'E_re', metric(name, re), 0.0)
    return rows
