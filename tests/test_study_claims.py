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
    prior = _row(table, 'The prior (sigma 2) improves')
    assert prior[3] == 'not measured'
    assert prior[1].startswith('integral_kl2 - vs integral ')  # not 'nan'
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


def test_a_claims_table_reads_back_and_changed_verdicts_are_marked():
    from mmipr.study.claims import claim_rows, parse_claims, verdict_changes
    by_name = {
        'detection': [_run('detection', 0, 0.30, 0.10),
                      _run('detection', 1, 0.32, 0.11)],
        'integral': [_run('integral', 0, 0.20, 0.12)],
    }
    rows = claim_rows(by_name, spread(by_name))
    parsed = parse_claims('# study\n\n' + claims_table(by_name, 0.01)
                          + '\n\nafter the table\n')
    assert parsed == {text: (measured, v) for text, measured, _, v in rows}
    assert parse_claims('no table here') == {}
    overall = 'Detection beats integral regression overall (Table 1, AP)'
    hard = 'Integral regression is better on hard instances (Table 1, AP hard)'
    earlier = {overall: ('detection 0.1 vs integral 0.2', 'did not hold'),
               hard: ('integral 0.1 vs detection 0.2', 'did not hold')}
    table = verdict_changes(rows, earlier)
    assert _row(table, overall)[1:] == [
        'detection 0.1 vs integral 0.2', '**did not hold**',
        'detection 0.310 vs integral 0.200', '**held**']
    # a claim neither study measured, or only one did, is not a change
    prior = _row(table, 'The prior (sigma 2) improves')
    assert prior[2:] == ['not in that study', prior[3], 'not measured']
    assert _row(table, hard)[2] == '**did not hold**'


def test_the_early_study_is_read_from_git_and_compared():
    from mmipr.study.ledger import committed_text
    from mmipr.study.plan import EARLY_STUDY
    from mmipr.study.report_text import early_study_text
    text = committed_text(EARLY_STUDY['commit'], EARLY_STUDY['path'])
    if text is None:
        pytest.skip('not a git clone with the early study in its history')
    from mmipr.study.claims import parse_claims
    earlier = parse_claims(text)
    overall = 'Detection beats integral regression overall (Table 1, AP)'
    assert earlier[overall] == ('detection 0.118 vs integral 0.028', 'held')
    assert len(earlier) == 20
    rows = [(overall, 'detection 0.2 vs integral 0.3', '0.01', 'did not hold'),
            ('An extreme prior sigma hurts (integral_kl4 below sigma 2, AP)',
             'integral_kl2 0.2 vs integral_kl4 -', '0.01', 'not measured')]
    comparison = early_study_text(rows)
    assert '0 of the 1 claims measured in both studies keep' in comparison
    assert f'"{overall}": held -> did not hold' in comparison
    assert '(integral_kl4 below sigma 2, AP)" (earlier: held)' in comparison
    assert committed_text('0' * 40, 'README.md') is None


def _length_run(name, epochs, ap, em, train_seconds=100.0, seed=0):
    return dict(name=name, seed=seed, epochs=epochs,
                train_seconds=train_seconds,
                metrics={'coco/AP': ap, 'coco/easy_medium/AP': em})


def test_ap_against_training_length_and_the_target():
    from mmipr.study.report_text import target_regime_text
    from mmipr.study.tables import length_table
    runs = [_length_run('detection', 10, 0.10, 0.20),
            _length_run('detection', 20, 0.20, 0.35),
            _length_run('detection', 40, 0.30, 0.50, train_seconds=14400.0),
            _length_run('detection', 40, 0.90, 0.90, seed=1),  # other seed
            _length_run('integral', 20, 0.05, 0.10)]
    table = length_table(runs, ('detection', 'integral', 'integral_kl2'), 0)
    assert table.splitlines()[0] == \
        '| variant | T=10 | T=20 | T=40 | last doubling |'
    assert _row(table, 'detection') == [
        'detection', '0.100 / 0.200', '0.200 / 0.350', '0.300 / 0.500',
        'T=20->40: +0.100 (+50%)']
    assert _row(table, 'integral') == ['integral', '-', '0.050 / 0.100', '-',
                                       '-']
    assert '| integral_kl2' not in table
    text = target_regime_text(runs, 0, 3000)
    assert 'AP 0.300 and AP e/m 0.500 at T=40' in text
    assert 'the target is not met' in text
    # (0.5 - 0.3) / 0.1 = 2 more doublings: T = 160, 360 s per epoch
    assert '2 more doublings: T=160 epochs, about 16 hours' in text
    assert 'has not flattened by T=40' in text
    assert 'the data (3000 synthetic images' in text
    assert 'control has no run of a length detection was run at' in text
    # the pretraining's control at a shared length: what the start is worth
    control = runs + [_length_run('detection_scratch', 20, 0.25, 0.4),
                      _length_run('detection_scratch', 5, 0.01, 0.02)]
    table = length_table(control, ('detection', 'detection_scratch'), 0)
    assert _row(table, 'detection_scratch')[1:3] == ['0.010 / 0.020', '-']
    text = target_regime_text(control, 0, 3000)
    assert ('At T=20, detection from the pretrained backbone reached AP '
            '0.200 and from seeded weights alone 0.250: -0.050 AP for the '
            'pretraining.') in text
    flat = [_length_run('detection', 20, 0.50, 0.60),
            _length_run('detection', 40, 0.51, 0.70)]
    text = target_regime_text(flat, 0, 3000)
    assert 'The curve flattens at T=20' in text
    assert 'the target is met' in text


def test_core_hours_count_each_machine_s_cores():
    from mmipr.study.report_text import core_hours_text
    runs = [dict(wall_seconds=1800, machine='Xeon, 2 cores, 2 torch threads'),
            dict(wall_seconds=3600, machine='EPYC, 16 cores, 16 torch'),
            dict(wall_seconds=3600, machine='')]
    text = core_hours_text(runs)
    assert text.startswith('17.0 core-hours')   # 0.5 h x 2 + 1 h x 16
    assert '1 run without a machine\'s core count left out' in text
