"""The study's tables, each a function of the runs' results (Markdown).

Table 1's columns (:data:`TABLE1_COLUMNS`, :data:`OWN_COLUMNS`) go through
:func:`~mmipr.study.report.comparison_table`; the others are built here:
the saturation criterion per variant, AP against training length, the
pretraining's control, A(s)
(Fig. 2b), the chi-square fits (Fig. 2c), the gradient ratio (Table IV b),
Table V and E_de/E_re (App. A.2).
"""
from __future__ import annotations

import numpy as np

from .claims import claim_rows, spread
from .ledger import saturation
from .plan import SCRATCH, TABLE5_A1
from .report import summarize

#: Table 1: the shared-rule AP and the heatmap statistics on GT boxes
TABLE1_COLUMNS = (
    ('AP', 'coco/AP'),
    ('AP e/m', 'coco/easy_medium/AP'),
    ('AP h', 'coco/hard/AP'),
    ('A(2) e/m', 'hm/easy_medium/A(2)'),
    ('A(2) h', 'hm/hard/A(2)'),
)


OWN_COLUMNS = (
    ('AP', 'own/AP'),
    ('AP e/m', 'own/easy_medium/AP'),
    ('AP h', 'own/hard/AP'),
)


def saturation_table(rows: list[dict]) -> str:
    """The saturation criterion per variant (:func:`~mmipr.study.claims.
    saturation_rows`): AP at T/2 and at T, the gain, and the verdict."""
    lines = ['| variant | seed | AP at T/2 | AP at T | gain | relative '
             '| saturated | why |', '|' + ' --- |' * 8]
    for r in rows:
        half = (f"{r['ap_half']:.3f} (T={r['half_epochs']})"
                if r['half_epochs'] else '-')
        judged = r['saturated'] is not None
        lines.append(
            f"| {r['variant']} | {r['seed']} | {half} | "
            f"{r['ap_full']:.3f} (T={r['epochs']}) | "
            + (f"{r['gain']:+.3f} | {r['relative']:+.1%} | "
               f"{'yes' if r['saturated'] else '**no**'}"
               if judged else '- | - | not judged')
            + f" | {r['why']} |")
    return '\n'.join(lines)


def length_curves(runs: list[dict], variants, seed: int,
                  key: str = 'coco/AP') -> dict[str, dict[int, float]]:
    """AP against training length: variant -> {epochs: ``key``} of its runs
    under ``seed`` (every length the runs have), for ``variants`` in order;
    a variant without a run is left out."""
    curves = {}
    for name in variants:
        points = {r['epochs']: r['metrics'].get(key, np.nan) for r in runs
                  if r['name'] == name and r['seed'] == seed}
        if points:
            curves[name] = dict(sorted(points.items()))
    return curves


def doubling_gains(curve: dict[int, float]) -> list[dict]:
    """The saturation criterion (:func:`~mmipr.study.ledger.saturation`,
    without a seed spread) of each doubling of T the curve holds both ends
    of: its ``saturated``, ``gain`` and ``relative``, with ``epochs`` (the
    shorter end)."""
    return [dict(saturation(curve[2 * e], curve[e]), epochs=e)
            for e in curve if 2 * e in curve]


def doubling_text(gain: dict) -> str:
    """``'T=20->40: +0.046 (+25%)'``: one of :func:`doubling_gains`."""
    return (f"T={gain['epochs']}->{2 * gain['epochs']}: {gain['gain']:+.3f} "
            f"({gain['relative']:+.0%})")


def length_table(runs: list[dict], variants, seed: int) -> str:
    """AP and AP e/m (shared rule) of each variant at every training length
    it was run at (:func:`length_curves`), and the gain of its last
    doubling."""
    ap = length_curves(runs, variants, seed)
    em = length_curves(runs, variants, seed, 'coco/easy_medium/AP')
    lengths = sorted({e for curve in ap.values() for e in curve})
    lines = ['| variant | ' + ' | '.join(f'T={e}' for e in lengths)
             + ' | last doubling |', '|' + ' --- |' * (len(lengths) + 2)]
    for name, curve in ap.items():
        cells = [f'{curve[e]:.3f} / {em[name][e]:.3f}' if e in curve else '-'
                 for e in lengths]
        gains = doubling_gains(curve)
        last = doubling_text(gains[-1]) if gains else '-'
        lines.append(f'| {name} | ' + ' | '.join(cells) + f' | {last} |')
    return '\n'.join(lines)


def sigma_fit_table(by_name: dict) -> str:
    """Fig. 2(c) / App. A.3: mean Pearson chi-square per sigma and the best
    sigma, per split (window 4 for easy/medium, 8 for hard)."""
    lines, header_done = [], False
    for name, runs in by_name.items():
        stats = runs[0].get('heatmap_stats')
        if not stats:
            continue
        for split in ('easy_medium', 'hard'):
            entry = stats['splits'][split]
            window = str(entry['window'])
            if not header_done:
                lines = ['| variant | split | window s | ' + ' | '.join(
                    f'sigma {g:g}' for g in entry['sigmas'])
                    + ' | best sigma |',
                    '|' + ' --- |' * (len(entry['sigmas']) + 4)]
                header_done = True
            chis = entry['chi_square'][window]
            lines.append(f'| {name} | {split} | {window} | ' + ' | '.join(
                '>1000' if c is None or not np.isfinite(c) or c > 1000
                else f'{c:.2f}' for c in chis)
                + f" | {entry.get('best_sigma')} |")
    return '\n'.join(lines) or '(no heatmap statistics)'


def activation_table(by_name: dict) -> str:
    """Fig. 2(b) / Fig. I: A(s) against s per split (seed 0)."""
    lines = ['| variant | split | ' + ' | '.join(
        f'A({s})' for s in range(10)) + ' |', '|' + ' --- |' * 12]
    for name, runs in by_name.items():
        stats = runs[0].get('heatmap_stats')
        if not stats:
            continue
        for split in ('easy', 'medium', 'hard'):
            a = stats['splits'][split].get('activation_sum') or []
            lines.append(f'| {name} | {split} | ' + ' | '.join(
                f'{v:.3f}' for v in a) + ' |')
    return '\n'.join(lines)


def epe_table(by_name: dict) -> str:
    """App. A.2: expected end-point errors of argmax (E_de) and expectation
    (E_re) decoding of the same heatmaps, per split."""
    lines = ['| variant | ' + ' | '.join(
        f'E_de {s} | E_re {s}' for s in ('easy', 'medium', 'hard'))
        + ' |', '|' + ' --- |' * 7]
    for name, runs in by_name.items():
        cells = []
        for split in ('easy', 'medium', 'hard'):
            for key in ('E_de', 'E_re'):
                mean, _ = summarize(runs, f'hm/{split}/{key}')
                cells.append(f'{mean:.2f}')
        lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def gradient_ratio_table(by_name: dict) -> str:
    """Table IV(b): log10 of the mean ratio of the prior's to the integral
    loss's gradient on the heatmap logits, per epoch (seed 0)."""
    rows = [(n, runs[0]['grad_ratios']) for n, runs in by_name.items()
            if runs[0].get('grad_ratios')]
    if not rows:
        return '(no run with a prior)'
    epochs = max(len(r) for _, r in rows)
    lines = ['| variant | ' + ' | '.join(
        f'epoch {e + 1}' for e in range(epochs)) + ' |',
        '|' + ' --- |' * (epochs + 1)]
    for name, ratios in rows:
        lines.append(f'| {name} | ' + ' | '.join(
            f'{np.log10(r):+.2f}' if r > 0 else '-' for r in ratios) + ' |')
    return '\n'.join(lines)


def table5(by_name: dict) -> tuple[str, int, int]:
    """Table V: localised against dispersed instances, split by the
    integral baseline's A(1) > 0.34 (seed 0 of each variant)."""
    from mmipr.analysis.instance_stats import split_by_localisation
    base = by_name.get('integral', [{}])[0].get('instance_stats')
    if not base:
        return '(the integral baseline was not run)', 0, 0
    localised, dispersed = split_by_localisation(base, TABLE5_A1)
    lines = ['| variant | A(2) e/m | AP e/m | A(2) h | AP h | A(2) l '
             '| mean OKS l | A(2) d | mean OKS d |',
             '|' + ' --- |' * 9]
    for name, runs in by_name.items():
        inst = runs[0].get('instance_stats')
        if not inst:
            continue

        def mean(ids, key):
            v = [inst[i][key] for i in ids if i in inst]
            v = [x for x in v if np.isfinite(x)]
            return float(np.mean(v)) if v else float('nan')
        m = runs[0]['metrics']
        lines.append(
            f"| {name} | {m.get('hm/easy_medium/A(2)', np.nan):.3f} | "
            f"{m.get('coco/easy_medium/AP', np.nan):.3f} | "
            f"{m.get('hm/hard/A(2)', np.nan):.3f} | "
            f"{m.get('coco/hard/AP', np.nan):.3f} | "
            f"{mean(localised, 'A(2)'):.3f} | {mean(localised, 'oks'):.3f} | "
            f"{mean(dispersed, 'A(2)'):.3f} | {mean(dispersed, 'oks'):.3f} |")
    return '\n'.join(lines), len(localised), len(dispersed)


def rule_dependence(by_name: dict) -> str:
    """The claims whose verdict differs between the two scoring rules."""
    shared = claim_rows(by_name, spread(by_name), 'coco')
    own = claim_rows(by_name, spread(by_name, 'own/AP'), 'own')
    changed = [(a[0], a[3], b[3]) for a, b in zip(shared, own)
               if a[3] != b[3]]
    if not changed:
        return ('No verdict depends on the scoring rule: every claim gets '
                'the same verdict under each head\'s own keypoint scores.')
    return ('Verdicts that depend on the scoring rule (shared rule -> own '
            'scores): ' + '; '.join(f'"{t}": {a} -> {b}'
                                    for t, a, b in changed) + '.')


def scratch_section(by_name: dict) -> str:
    """What the pretraining is worth: detection from it against detection
    from the seeded weights alone, the same seed and recipe."""
    scratch = by_name.get(SCRATCH[0], [])
    pretrained = [r for r in by_name.get('detection', []) if r['seed'] == 0]
    if not scratch or not pretrained:
        return ('The pretraining\'s control (detection from seeded weights '
                'alone) has no run at the study\'s T (a shorter one, if any, '
                'is in the table above).')
    curves = {name: [m.get('coco/AP', np.nan) for m in r['val_metrics']]
              for name, r in (('pretrained backbone', pretrained[0]),
                              ('from scratch', scratch[0]))}
    epochs = [m['epoch'] for m in pretrained[0]['val_metrics']]
    lines = [
        'What the pretraining is worth: `detection_seed0` against '
        '`detection_scratch_seed0` (the same seed, head weights and recipe; '
        'only the backbone\'s starting weights differ). Val AP (shared rule) '
        'per validated epoch:',
        '',
        '| start | ' + ' | '.join(f'epoch {e}' for e in epochs) + ' |',
        '|' + ' --- |' * (len(epochs) + 1)]
    for name, curve in curves.items():
        lines.append(f'| {name} | ' + ' | '.join(f'{v:.3f}' for v in curve)
                     + ' |')
    return '\n'.join(lines)

