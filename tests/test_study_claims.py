"""The study's claim verdicts: direction, tolerance from the seed spread."""
import pytest

from mmipr.study.claims import claims_table, spread, verdict


def test_verdict_counts_only_differences_beyond_the_tolerance():
    assert verdict(0.5, 0.3, 0.1) == 'held'
    assert verdict(0.3, 0.5, 0.1) == 'did not hold'
    assert verdict(0.35, 0.3, 0.1) == 'tie'
    assert verdict(float('nan'), 0.3, 0.1) == 'not measured'


def _run(name, seed, ap, hard_ap, curve=(0.0, 0.0), e_de=3.0, e_re=2.0):
    return dict(name=name, seed=seed,
                metrics={'coco/AP': ap, 'coco/hard/AP': hard_ap,
                         'own/AP': 1 - ap, 'hm/hard/E_de': e_de,
                         'hm/hard/E_re': e_re},
                val_metrics=[{'coco/AP': v} for v in curve])


def _row(table: str, start: str) -> list:
    line = next(x for x in table.splitlines() if x.startswith('| ' + start))
    return [c.strip() for c in line.strip('|').split('|')]


def test_claims_use_each_metric_s_own_seed_spread_and_the_asked_rule():
    by_name = {
        'detection': [_run('detection', 0, 0.30, 0.10),
                      _run('detection', 1, 0.32, 0.11)],
        'integral': [_run('integral', 0, 0.20, 0.12, e_de=1.0),
                     _run('integral', 1, 0.20, 0.12, e_de=1.0)],
    }
    assert spread(by_name, 'coco/hard/AP') == pytest.approx(0.005)
    table = claims_table(by_name, spread(by_name))
    hard = _row(table, 'Integral regression is better on hard instances')
    assert hard[1] == 'integral 0.120 vs detection 0.105'
    assert hard[2] == '0.005'
    assert hard[3] == 'held'  # 0.015 AP better, beyond the 0.005 spread
    overall = _row(table, 'Detection beats integral regression overall')
    assert overall[3] == 'held'
    # App. A.2: an inequality of expectations, judged without tolerance
    assert _row(table, 'E_de >= E_re for detection, hard')[3] == 'held'
    assert _row(table, 'E_de >= E_re for integral, hard')[3] == \
        'did not hold'
    # a variant that was not run is reported, not guessed
    assert _row(table, 'The prior (sigma 2) improves')[3] == 'not measured'
    # under each head's own scores (prefix 'own') the verdict can flip
    own = claims_table(by_name, spread(by_name, 'own/AP'), prefix='own')
    assert _row(own, 'Detection beats integral regression overall')[3] == \
        'did not hold'


def test_saturation_compares_each_variant_at_t_with_its_t_half_run():
    from mmipr.study.claims import saturation_rows

    def run(name, epochs, ap, seed=0):
        return dict(name=name, seed=seed, epochs=epochs,
                    metrics={'coco/AP': ap})
    by_name = {'detection': [run('detection', 30, 0.364)],
               'integral': [run('integral', 30, 0.210)],
               'integral_kl2': [run('integral_kl2', 30, 0.300)]}
    halves = [run('detection', 15, 0.276),   # +32 %: still learning
              run('integral', 15, 0.205)]    # +2.4 %: saturated
    rows = {r['variant']: r for r in saturation_rows(by_name, halves, 0.01)}
    det = rows['detection']
    assert det['relative'] == pytest.approx(0.364 / 0.276 - 1)
    assert not det['saturated'] and 'still learning' in det['why']
    assert rows['integral']['saturated']
    assert rows['integral']['within'] == 'relative'
    assert rows['integral_kl2']['saturated'] is None
    assert rows['integral_kl2']['why'] == 'not judged: no T/2 run'
    # a gain above 5 % but below the seed spread is a tie: saturated
    tie = saturation_rows(by_name, [run('detection', 15, 0.33)], 0.05)[0]
    assert tie['saturated'] and tie['within'] == 'seed spread'
