"""The study's run plan and settings (mmipr.study.plan)."""
import os.path as osp

import pytest
from conftest import REPO

from mmipr.study.plan import StudySettings, demo_plan, study_plan
from mmipr.utils.validation import InvalidArgumentError


def _weights(seed, pretrained):
    return f'init_{seed}_{"pretrained" if pretrained else "seeded"}.pth'


def test_the_study_plans_the_papers_runs_in_priority_order():
    settings = StudySettings(data_root='data/x', seeds=2, epochs=6)
    specs = study_plan(settings, _weights, pretrained=True)
    assert [s.run_id for s in specs] == [
        'detection_seed0', 'integral_seed0', 'integral_kl2_seed0',
        'detection_seed1', 'integral_seed1', 'integral_kl2_seed1',
        'detection_T3_seed0', 'integral_T3_seed0', 'integral_kl2_T3_seed0',
        'detection_sigma0.5_seed0', 'detection_sigma1_seed0',
        'detection_sigma3_seed0', 'detection_scratch_seed0',
        'detection_scratch_T3_seed0', 'integral_kl0.5_seed0',
        'integral_kl4_seed0', 'integral_kl1_seed0',
        'integral_kl3_seed0', 'integral_gu2021_seed0', 'integral_js2_seed0',
        'integral_debias_kl2_seed0', 'detection_T12_seed0']
    for spec in specs:
        assert spec.epochs == (3 if '_T3_' in spec.run_id else
                               12 if '_T12_' in spec.run_id else 6)
        assert osp.isfile(spec.config)
        assert osp.dirname(spec.config) == osp.join(REPO, 'configs',
                                                    'synthetic')
        assert spec.cfg_options['train_dataloader.dataset.data_root'] == \
            'data/x/'
        assert spec.load_from == _weights(
            spec.seed, spec.name != 'detection_scratch')
    scratch = specs[12]
    assert specs[13].name == 'detection_scratch'
    assert osp.basename(scratch.config) == 'sbl_r18_detection.py'
    # without a pretrained backbone there is no control from scratch
    assert 'detection_scratch_seed0' not in [
        s.run_id for s in study_plan(settings, _weights, pretrained=False)]


def test_the_plan_keeps_only_the_asked_variants_and_half_runs():
    settings = StudySettings(data_root='data/x', seeds=1, epochs=5,
                             variants=('integral', ), half_runs=True)
    # T // 2 = 2 is too short for two lr drops: no saturation pair
    assert [s.run_id for s in study_plan(settings, _weights, True)] == [
        'integral_seed0']
    settings.epochs = 20
    assert [s.run_id for s in study_plan(settings, _weights, True)] == [
        'integral_seed0', 'integral_T10_seed0', 'integral_T5_seed0']
    settings.length_runs = False
    assert [s.run_id for s in study_plan(settings, _weights, True)] == [
        'integral_seed0', 'integral_T10_seed0']


def test_the_length_runs_give_detection_t_over_4_to_2t():
    # AP against training length: T/4 and T/2 after the runs at T, and the
    # 2T run (the longest) after every other run of the study
    settings = StudySettings(data_root='data/x', seeds=1, epochs=40,
                             variants=('detection', 'integral_kl4'))
    specs = study_plan(settings, _weights, pretrained=True)
    assert [(s.run_id, s.epochs) for s in specs] == [
        ('detection_seed0', 40), ('detection_T20_seed0', 20),
        ('detection_T10_seed0', 10), ('integral_kl4_seed0', 40),
        ('detection_T80_seed0', 80)]
    assert {s.study_epochs for s in specs} == {40}
    with pytest.raises(InvalidArgumentError, match='not variants'):
        StudySettings(variants=('detecton', ))


def test_the_demo_plans_the_three_main_variants_under_its_seed():
    specs = demo_plan(StudySettings(first_seed=3, seeds=1), _weights)
    assert [s.run_id for s in specs] == [
        'detection_seed3', 'integral_seed3', 'integral_kl2_seed3']


@pytest.mark.parametrize('field,value', [
    ('epochs', 0), ('seeds', 1.5), ('budget', -1.0), ('pretrain_epochs', -1),
    ('reuse_only', 'yes')])
def test_bad_settings_are_named(field, value):
    with pytest.raises(InvalidArgumentError, match=field):
        StudySettings(**{field: value})
