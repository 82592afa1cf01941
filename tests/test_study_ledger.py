"""The study's ledger: a record per finished run, reused in any clone, stale
records named and retrained, the report written from records alone."""
import json
import math
import os
import os.path as osp
import re
import shutil
import warnings

import pytest
import torch
from conftest import REPO

from mmipr.study.committed_weights import save_weights, verify_weights
from mmipr.study.figures import (
    plot_activation_sums,
    plot_curves,
    plot_difficulty_bars,
)
from mmipr.study.ledger import Ledger
from mmipr.study.plan import PRETRAIN_CONFIG, StudySettings
from mmipr.study.records import make_record, record_result
from mmipr.study.report_text import shown_path, write_study_document

SPLITS = ('easy', 'medium', 'hard', 'easy_medium', 'all')


def _heatmap_stats(a2: float) -> dict:
    """The shape of model_heatmap_stats' record (mmipr.analysis)."""
    sigmas = [0.5, 1.0, 2.0, 3.0]
    return dict(config='/machine/path/cfg.py', checkpoint='/machine/ck.pth',
                label='x', splits={
                    split: dict(window=4 if split != 'hard' else 8,
                                sigmas=sigmas,
                                activation_sum=[a2 / 3 * s for s in range(10)],
                                chi_square={'4': [3., 2., 1., 2.],
                                            '8': [4., 3., 2., 1.]},
                                best_sigma=2.0, E_de=3.0, E_re=2.5)
                    for split in SPLITS})


def _result(name: str, seed: int, epochs: int, ap: float) -> dict:
    """A finished run's result, as mmipr.study.runs.run returns it."""
    val = [dict(epoch=e, **{'coco/AP': ap * e / epochs,
                            'own/AP': ap * e / epochs * 0.9})
           for e in range(1, epochs + 1)]
    metrics = dict(val[-1])
    for prefix in ('coco', 'own'):
        for split in ('easy', 'medium', 'hard', 'easy_medium'):
            metrics[f'{prefix}/{split}/AP'] = ap
            metrics[f'{prefix}/{split}/EPE'] = 2.0
            metrics[f'{prefix}/{split}/A(2)'] = 0.4
            metrics[f'{prefix}/{split}/count'] = 10
    metrics['coco/hard/AP'] = math.nan  # an empty split survives as None
    return dict(
        run_id=(f'{name}_seed{seed}' if epochs == 6
                else f'{name}_T{epochs}_seed{seed}'),
        name=name, seed=seed, epochs=epochs, study_epochs=6,
        config='/machine/configs/synthetic/sbl_r18_detection.py',
        work_dir='/machine/work', checkpoint='/machine/work/epoch_6.pth',
        settings_key='k' * 16, lr=2e-3, lr_drop_epochs=[4, 5],
        val_interval=1, val_metrics=val, metrics=metrics,
        epoch_losses=[1.0 / e for e in range(1, epochs + 1)],
        grad_ratios=[], train_seconds=60.0, wall_seconds=66.0,
        resumed_after=[])


def _instances(n: int = 600) -> dict:
    return {str(i): {'oks': 0.5 + i / (4 * n), 'A(1)': (i % 7) / 10,
                     'A(2)': math.nan if i == 0 else 0.6, 'A(5)': 0.9}
            for i in range(n)}


def test_a_record_holds_what_the_report_needs_and_no_machine_path(tmp_path):
    result = _result('integral', 0, 6, 0.3)
    record = make_record(result, 'abc+dirty', _heatmap_stats(0.5),
                         _instances())
    ledger = Ledger(str(tmp_path / 'runs'))
    path = ledger.write(record)
    text = open(path).read()
    assert '/machine' not in text  # the work dir can be discarded
    assert os.path.getsize(path) < 50_000  # commit-friendly
    json.loads(text)  # strict enough for any JSON reader: no NaN literal
    assert 'NaN' not in text
    read = ledger.read('integral_seed0')
    assert read['ap_curve']['epoch'] == [1, 2, 3, 4, 5, 6]
    assert read['final']['own/easy_medium/AP'] == 0.3
    assert read['final']['coco/hard/AP'] is None
    assert read['commit'] == 'abc+dirty' and read['machine']
    assert set(read['instance_stats']['5']) == {'oks', 'A(1)', 'A(2)'}
    back = record_result(read, reused=True)
    assert math.isnan(back['metrics']['coco/hard/AP'])
    assert back['metrics']['hm/easy_medium/A(2)'] == pytest.approx(1 / 3)
    assert back['val_metrics'][-1]['coco/AP'] == pytest.approx(0.3)
    assert math.isnan(back['instance_stats']['0']['A(2)'])


def test_records_follow_the_studys_T_and_keep_their_keys(tmp_path):
    """A study at T=6 leaves detection_seed0 (6 epochs) and
    detection_T3_seed0; a study at T=12 finds the 6-epoch run as its T/2 run
    (detection_T6_seed0) and the 3-epoch one where it was; back at T=6 the
    names return. Nothing is lost, no key changes; a taken name is left."""
    ledger = Ledger(str(tmp_path / 'runs'))
    for epochs, ap in ((6, 0.36), (3, 0.27)):
        ledger.write(make_record(_result('detection', 0, epochs, ap), 'abc',
                                 _heatmap_stats(0.4), None))
    before = {r: ledger.read(r) for r in ledger.run_ids()}
    assert ledger.align(12) == [('detection_seed0', 'detection_T6_seed0')]
    assert ledger.run_ids() == ['detection_T3_seed0', 'detection_T6_seed0']
    moved = ledger.read('detection_T6_seed0')
    assert moved == dict(before['detection_seed0'],
                         run_id='detection_T6_seed0')
    assert ledger.lookup('detection_T6_seed0', 'k' * 16).status == 'current'
    assert ledger.lookup('detection_seed0', 'k' * 16).status == 'missing'
    assert ledger.align(12) == []
    assert ledger.align(6) == [('detection_T6_seed0', 'detection_seed0')]
    assert {r: ledger.read(r) for r in ledger.run_ids()} == before
    # a 3-epoch seed-7 run of a study at T=3 (detection_seed7) while
    # detection_T3_seed7 holds another 3-epoch run: both stay
    three = before['detection_T3_seed0']
    ledger.write(dict(three, run_id='detection_seed7', seed=7))
    ledger.write(dict(three, run_id='detection_T3_seed7', seed=7,
                      settings_key='other'))
    assert ledger.align(6) == []
    assert ledger.read('detection_seed7')['run_id'] == 'detection_seed7'


def test_the_report_is_written_from_records_alone_and_names_stale_ones(
        tmp_path):
    """No work dir, no checkpoint, no config file: records only."""
    ledger = Ledger(str(tmp_path / 'runs'))
    aps = {'detection': (0.36, 0.27), 'integral': (0.21, 0.205),
           'integral_kl2': (0.30, None)}
    for name, (full, half) in aps.items():
        runs = [(6, full)] + ([(3, half)] if half else [])
        for epochs, ap in runs:
            result = _result(name, 0, epochs, ap)
            ledger.write(make_record(result, 'abc', _heatmap_stats(0.4),
                                     _instances(50)))
    records = [record_result(ledger.read(r), reused=True)
               for r in ledger.run_ids()]
    doc = str(tmp_path / 'doc' / 'reproduction.md')
    os.makedirs(osp.dirname(doc))
    settings = StudySettings(epochs=6, doc=doc,
                             ledger_dir=ledger.folder,
                             work_dir=str(tmp_path / 'no_such_work_dir'))
    write_study_document(
        settings, None, 'abc', records,
        {'integral_kl4_seed0': 'stale record: its record has settings key '
         'aaaa, the current settings give bbbb'},
        1.0, stale={'integral_kl4_seed0': 'its record has settings key aaaa',
                    'detection_sigma1_seed0': 'its record has key cccc'})
    text = open(doc).read()
    assert not osp.exists(settings.work_dir)
    assert '`integral_kl4_seed0`: its record has settings key aaaa; left ' \
        'out' in text
    assert '`detection_sigma1_seed0`: its record has key cccc; retrained' \
        in text
    # the saturation pairs: detection still learning, integral saturated
    row = next(line for line in text.splitlines()
               if line.startswith('| detection | 0 |'))
    assert '0.270 (T=3)' in row and '0.360 (T=6)' in row and '**no**' in row
    row = next(line for line in text.splitlines()
               if line.startswith('| integral | 0 |'))
    assert '| yes |' in row
    assert 'not judged: no T/2 run' in text
    assert 'after epochs 4 and 5' in text
    # the recipe's arithmetic is read from the runs' config, not assumed
    recipe = next(line for line in text.splitlines()
                  if line.startswith('- One recipe'))
    assert 'float32 (MMEngine\'s `OptimWrapper`)' in recipe
    assert 'bfloat16' not in recipe
    # its figures in a folder of its own, linked relative to the document
    links = re.findall(r'!\[[^]]*\]\(([^)]+)\)', text)
    assert links and all(link.startswith('figures/reproduction/')
                         and osp.isfile(osp.join(osp.dirname(doc), link))
                         for link in links)
    # a committed document names the ledger inside the clone relatively
    assert shown_path(osp.join(REPO, 'docs', 'study', 'runs')) == \
        osp.join('docs', 'study', 'runs')
    assert shown_path(ledger.folder) == ledger.folder  # outside: as given


# ---------------------------------------------------------------- end to end

PRETRAIN = osp.join(REPO, 'configs', 'synthetic', PRETRAIN_CONFIG)
DETECTION = osp.join(REPO, 'configs', 'synthetic', 'sbl_r18_detection.py')


def _commit_backbone(weights_dir: str, data_root: str, scale: float) -> None:
    """A committed backbone whose record matches the pretraining key of
    ``data_root`` (as tools/reproduce.py --commit-weights writes one)."""
    from mmipr.study.pretrain import pretraining_config, pretraining_key
    from mmipr.study.setup import initial_weights
    key = pretraining_key(pretraining_config(PRETRAIN, data_root, 1))
    init = initial_weights(DETECTION, 7, weights_dir + '_init')
    state = torch.load(init, weights_only=True)['state_dict']
    backbone = {k[len('backbone.'):]: v * scale for k, v in state.items()
                if k.startswith('backbone.')}
    save_weights(osp.join(weights_dir,
                          osp.splitext(PRETRAIN_CONFIG)[0] + '.pth'),
                 backbone, dict(command='test', commit='abc',
                                settings_key=key, seconds=1.0,
                                final=dict(loss=0.1), epochs=1,
                                train_seconds=1.0, epoch_losses=[0.1],
                                config=PRETRAIN_CONFIG))


def _clone_settings(root, ledger_dir, weights_dir, **changes):
    return StudySettings(**dict(dict(
        data_root=str(root / 'data'), work_dir=str(root / 'work'),
        num_train=24, num_val=12, epochs=4, pretrain_epochs=1, seeds=1,
        budget=None, doc=str(root / 'docs' / 'reproduction.md'),
        ledger_dir=ledger_dir, weights_dir=weights_dir, half_runs=False,
        length_runs=False, variants=('detection', )), **changes))


@pytest.mark.slow
def test_a_record_is_reused_in_a_fresh_clone_and_stale_ones_retrained(
        tmp_path, monkeypatch):
    """Clone A trains and commits a record; clone B has only the committed
    ledger and weights (its own data root, work dir and cache) and reuses
    it without training; a changed config, data file or start is named as
    stale and retrained."""
    from mmipr.study.study import NoFinishedRunsError, run_study
    a, b = tmp_path / 'a', tmp_path / 'b'
    for clone in (a, b):
        (clone / 'docs').mkdir(parents=True)
    ledger_a, weights_a = str(a / 'runs'), str(a / 'weights')
    monkeypatch.setenv('MMIPR_CACHE', str(a / 'cache'))
    settings = _clone_settings(a, ledger_a, weights_a, commit_weights=True)
    from mmipr.datasets import ensure_synthetic_coco
    ensure_synthetic_coco(settings.data_root, num_train=24, num_val=12,
                          seed=0, workers=1)
    _commit_backbone(weights_a, settings.data_root, 1.0)
    outcome = run_study(settings)
    record = Ledger(ledger_a).read('detection_seed0')
    assert not outcome.schedule.results[0]['reused']
    assert record['ap_curve']['epoch'] == [1, 2, 3, 4]
    assert record['heatmap_stats'] and record['instance_stats']
    assert os.path.getsize(Ledger(ledger_a).path('detection_seed0')) < 50_000
    # --commit-weights: the run's model beside the backbone, of this record
    model = verify_weights(osp.join(weights_a, 'detection_seed0.pth'))
    assert model['settings_key'] == record['settings_key']
    assert model['ledger_final']['coco/AP'] == record['final']['coco/AP']
    assert model['final']['coco/AP'] == pytest.approx(
        record['final']['coco/AP'], abs=0.005)

    # clone B: only the committed ledger and weights travel
    ledger_b, weights_b = str(b / 'runs'), str(b / 'weights')
    shutil.copytree(ledger_a, ledger_b)
    shutil.copytree(weights_a, weights_b)
    monkeypatch.setenv('MMIPR_CACHE', str(b / 'cache'))
    fresh = _clone_settings(b, ledger_b, weights_b, reuse_only=True)
    outcome = run_study(fresh)
    result = outcome.schedule.results[0]
    assert result['reused'] and not outcome.stale
    assert not osp.exists(osp.join(fresh.work_dir, 'detection_seed0'))
    assert result['metrics']['coco/AP'] == pytest.approx(
        record['final']['coco/AP'])
    assert 'No ledger record was stale.' in open(fresh.doc).read()

    def retrained(settings, what):
        with pytest.raises(NoFinishedRunsError, match='stale record'):
            run_study(settings)  # reuse-only: named, never mixed in
        settings.reuse_only = False
        outcome = run_study(settings)
        assert list(outcome.stale) == ['detection_seed0'], what
        assert not outcome.schedule.results[0]['reused'], what
        assert '`detection_seed0`: its record has settings key' in \
            open(settings.doc).read(), what
        assert 'retrained' in open(settings.doc).read(), what
        return Ledger(settings.ledger_dir).read('detection_seed0')

    # a changed config
    new = retrained(_clone_settings(
        b, ledger_b, weights_b, reuse_only=True,
        cfg_options={'optim_wrapper.optimizer.lr': 1e-3}), 'config')
    assert new['settings_key'] != record['settings_key']
    assert new['lr'] == 1e-3
    # a changed data file
    shutil.copytree(ledger_a, ledger_b, dirs_exist_ok=True)
    det = osp.join(fresh.data_root, 'person_detection_results',
                   'synthetic_val2017_detections_person.json')
    with open(det) as f:
        boxes = json.load(f)
    boxes[0]['score'] = boxes[0]['score'] * 0.5
    with open(det, 'w') as f:
        json.dump(boxes, f)
    retrained(_clone_settings(b, ledger_b, weights_b, reuse_only=True),
              'data file')
    # a changed start (the committed backbone)
    shutil.rmtree(fresh.data_root)
    ensure_synthetic_coco(fresh.data_root, num_train=24, num_val=12,
                          seed=0, workers=1)
    shutil.copytree(ledger_a, ledger_b, dirs_exist_ok=True)
    _commit_backbone(weights_b, fresh.data_root, 0.5)
    retrained(_clone_settings(b, ledger_b, weights_b, reuse_only=True),
              'start')


def test_a_changed_config_data_file_or_start_makes_a_record_stale(
        tiny_coco, tmp_path):
    """The fast version of the clone test: the lookup alone, no training."""
    from mmipr.study.runs import RunSpec, synthetic_data_options
    from mmipr.study.setup import initial_weights
    from mmipr.study.study import lookup_run, stale_reason
    root = str(tmp_path / 'data')
    shutil.copytree(tiny_coco, root)
    init = initial_weights(DETECTION, 0, str(tmp_path / 'init'))

    def spec(**options):
        return RunSpec('detection', DETECTION, epochs=4, load_from=init,
                       cfg_options=dict(synthetic_data_options(root),
                                        **options))
    ledger = Ledger(str(tmp_path / 'runs'))
    work = str(tmp_path / 'work')
    found = lookup_run(spec(), ledger, work)
    assert found.status == 'missing'
    result = dict(_result('detection', 0, 4, 0.2), settings_key=found.key,
                  run_id='detection_seed0')
    ledger.write(make_record(result, 'abc', _heatmap_stats(0.4), None))
    assert lookup_run(spec(), ledger, work).status == 'current'
    # the same settings in another folder (another clone): still current
    other = str(tmp_path / 'clone_b_data')
    shutil.copytree(root, other)
    moved = RunSpec('detection', DETECTION, epochs=4, load_from=init,
                    cfg_options=synthetic_data_options(other))
    assert lookup_run(moved, ledger, str(tmp_path / 'w2')).status == \
        'current'
    # a changed config
    changed = lookup_run(spec(**{'optim_wrapper.optimizer.lr': 1e-3}),
                         ledger, work)
    assert changed.status == 'stale'
    assert f'settings key {found.key}' in stale_reason(changed)
    # a changed data file
    det = osp.join(root, 'person_detection_results',
                   'synthetic_val2017_detections_person.json')
    original = open(det).read()
    boxes = json.loads(original)
    boxes[0]['score'] *= 0.5
    with open(det, 'w') as f:
        json.dump(boxes, f)
    assert lookup_run(spec(), ledger, work).status == 'stale'
    with open(det, 'w') as f:
        f.write(original)
    assert lookup_run(spec(), ledger, work).status == 'current'
    # a changed start
    state = torch.load(init, weights_only=True)
    state['state_dict']['backbone.conv1.weight'] *= 0.5
    torch.save(state, init)
    assert lookup_run(spec(), ledger, work).status == 'stale'


def test_figures_of_a_document_without_runs_draw_no_empty_legend(tmp_path):
    """A document of one sweep run has no seeded runs: its curves figure is
    drawn empty, without matplotlib's "No artists with labels" warning."""
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        written = [plot_curves([], str(tmp_path / 'curves.png')),
                   plot_difficulty_bars([], str(tmp_path / 'bars.png')),
                   plot_activation_sums({}, str(tmp_path / 'a.png'))]
    for path in written:
        with open(path, 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'
