"""The study's claim verdicts: direction, tolerance from the seed spread."""
import pytest

from mmipr.study.claims import claims_table, spread, verdict


def test_verdict_counts_only_differences_beyond_the_tolerance():
    assert verdict(0.5, 0.3, 0.1) == 'held'
    assert verdict(0.3, 0.5, 0.1) == 'did not hold'
    assert verdict(0.35, 0.3, 0.1) == 'tie'
    assert verdict(float('nan'), 0.3, 0.1) == 'not measured'


def _run(name, seed, ap, hard_epe, curve=(0.0, 0.0)):
    return dict(name=name, seed=seed,
                metrics={'coco/AP': ap, 'coco/hard/EPE': hard_epe,
                         'coco/hard/AP': 0.0,
                         'coco/easy_medium/A(2)': 0.4},
                val_metrics=[{'coco/AP': v} for v in curve])


def _row(table: str, start: str) -> list:
    line = next(x for x in table.splitlines() if x.startswith('| ' + start))
    return [c.strip() for c in line.strip('|').split('|')]


def test_hard_epe_claim_is_lower_is_better_with_the_epe_spread():
    by_name = {
        'detection': [_run('detection', 0, 0.30, 30.0),
                      _run('detection', 1, 0.32, 31.0)],
        'integral': [_run('integral', 0, 0.20, 25.0),
                     _run('integral', 1, 0.20, 25.0)],
    }
    assert spread(by_name, 'coco/hard/EPE') == pytest.approx(0.5)
    table = claims_table(by_name, spread(by_name))
    epe = _row(table, 'Integral regression is better on hard instances (EPE')
    assert epe[1] == 'integral 25.000 vs detection 30.500'
    assert epe[2] == '0.500'
    assert epe[3] == 'held'  # 5.5 px lower error, beyond the 0.5 px spread
    overall = _row(table, 'Detection beats integral regression overall')
    assert overall[3] == 'held'
    # a variant that was not run is reported, not guessed
    assert _row(table, 'The prior (sigma 2) improves')[3] == 'not measured'
