"""The study's reuse of finished runs (mmipr.study.runs, --reuse-only)."""
import json
import os
import os.path as osp
import shutil
import warnings

import pytest
from conftest import REPO

from mmipr.study.derived import derived
from mmipr.study.runs import (
    RunSpec,
    build_config,
    find_finished,
    settings_key,
    synthetic_data_options,
)


def finished_result(spec: RunSpec, work_root: str):
    return find_finished(spec, work_root).result


def _spec(data_root: str, epochs: int = 6) -> RunSpec:
    return RunSpec('detection',
                   osp.join(REPO, 'configs', 'synthetic',
                            'sbl_r18_detection.py'),
                   epochs=epochs, seed=0,
                   cfg_options=synthetic_data_options(data_root))


def _store(spec: RunSpec, data_root: str, work_root: str,
           key: str = '') -> str:
    """Write a result.json and checkpoint as a finished run leaves them."""
    work_dir = osp.join(work_root, spec.run_id)
    cfg = build_config(spec, work_dir)
    checkpoint = osp.join(work_dir, f'epoch_{spec.epochs}.pth')
    os.makedirs(work_dir, exist_ok=True)
    open(checkpoint, 'wb').close()
    with open(osp.join(work_dir, 'result.json'), 'w') as f:
        json.dump(dict(settings_key=key or settings_key(cfg),
                       checkpoint=checkpoint, iterations=10,
                       metrics={'coco/AP': 0.5}), f)
    return checkpoint


def test_finished_result_is_found_only_with_the_same_settings(
        tiny_coco, tmp_path):
    spec = _spec(tiny_coco)
    assert finished_result(spec, str(tmp_path)) is None
    checkpoint = _store(spec, tiny_coco, str(tmp_path))
    result = finished_result(spec, str(tmp_path))
    assert result['reused'] and result['metrics'] == {'coco/AP': 0.5}
    # other settings (epochs) do not reuse it, nor does a lost checkpoint
    assert finished_result(_spec(tiny_coco, epochs=5), str(tmp_path)) is None
    _store(spec, tiny_coco, str(tmp_path), key='stale')
    assert finished_result(spec, str(tmp_path)) is None
    _store(spec, tiny_coco, str(tmp_path))
    os.remove(checkpoint)
    assert finished_result(spec, str(tmp_path)) is None


def _copy_dataset(src: str, dst: str) -> str:
    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize('changed', [
    'annotations/person_keypoints_val2017.json',
    'annotations/person_keypoints_train2017.json',
    'person_detection_results/synthetic_val2017_detections_person.json',
])
def test_a_changed_data_file_of_the_same_size_is_not_reused(
        tiny_coco, tmp_path, changed):
    """Regenerating val (or train, or the boxes) with the train file left as
    it was used to reuse every run: the old key saw only the train file's
    byte size."""
    root = _copy_dataset(tiny_coco, str(tmp_path / 'data'))
    spec = _spec(root)
    _store(spec, root, str(tmp_path / 'work'))
    assert finished_result(spec, str(tmp_path / 'work')) is not None
    path = osp.join(root, changed)
    with open(path, 'rb') as f:
        data = bytearray(f.read())
    # same size, other contents: swap two digits
    i = next(k for k in range(len(data) - 1)
             if chr(data[k]).isdigit() and chr(data[k + 1]).isdigit()
             and data[k] != data[k + 1])
    data[i], data[i + 1] = data[i + 1], data[i]
    with open(path, 'wb') as f:
        f.write(data)
    assert finished_result(spec, str(tmp_path / 'work')) is None


def test_the_key_covers_the_study_version_and_starting_weights(
        tiny_coco, tmp_path, monkeypatch):
    import torch

    import mmipr.study.ledger as ledger
    spec = _spec(tiny_coco)
    cfg = build_config(spec, str(tmp_path))
    key = settings_key(cfg)
    monkeypatch.setattr(ledger.ledger_key, '__defaults__', (999, ))
    assert settings_key(cfg) != key
    monkeypatch.undo()
    assert settings_key(cfg) == key
    weights = str(tmp_path / 'init.pth')
    torch.save(dict(state_dict={'w': torch.ones(2)}), weights)
    cfg.load_from = weights
    with_weights = settings_key(cfg)
    # the same tensors written elsewhere (another name, other meta) are the
    # same start; other tensors are not
    moved = str(tmp_path / 'elsewhere.pth')
    torch.save(dict(state_dict={'w': torch.ones(2)}, meta=dict(at=moved)),
               moved)
    cfg.load_from = moved
    assert settings_key(cfg) == with_weights != key
    torch.save(dict(state_dict={'w': torch.zeros(2)}), weights)
    cfg.load_from = weights
    assert settings_key(cfg) != with_weights


def test_a_truncated_result_is_named_and_redone(tiny_coco, tmp_path):
    spec = _spec(tiny_coco)
    _store(spec, tiny_coco, str(tmp_path))
    result_file = osp.join(str(tmp_path), spec.run_id, 'result.json')
    text = open(result_file).read()
    with open(result_file, 'w') as f:
        f.write(text[:len(text) // 2])
    with pytest.warns(UserWarning, match='result.json is unreadable'):
        assert finished_result(spec, str(tmp_path)) is None


def test_result_files_are_written_atomically(tmp_path, monkeypatch):
    """A kill while writing leaves the previous file whole."""
    from mmipr.utils import io
    path = str(tmp_path / 'result.json')
    io.write_json_atomic(path, dict(a=1))

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # stands for the kill, mid-write
    monkeypatch.setattr(io.json, 'dump', killed)
    with pytest.raises(KeyboardInterrupt):
        io.write_json_atomic(path, dict(a=2))
    monkeypatch.undo()
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert io.read_json_or_none(path) == dict(a=1)
    assert os.listdir(tmp_path) == ['result.json']


def test_derived_files_belong_to_the_run_that_made_them(tmp_path):
    """heatmap_stats.json used to be reused whenever it existed, even after
    its run was retrained; now it is tagged with the run's settings key."""
    calls = []

    def compute(result):
        calls.append(result['settings_key'])
        return {'from': result['settings_key']}
    run = dict(work_dir=str(tmp_path), settings_key='first',
               checkpoint=str(tmp_path / 'epoch_9.pth'))
    assert derived(run, 'stats.json', compute, 'stats') == \
        {'from': 'first'}
    assert derived(run, 'stats.json', compute, 'stats') == \
        {'from': 'first'}
    assert calls == ['first']  # reused for the same run
    retrained = dict(run, settings_key='second')
    assert derived(retrained, 'stats.json', compute, 'stats') == \
        {'from': 'second'}
    # a truncated file is named and redone, not a JSONDecodeError
    (tmp_path / 'stats.json').write_text('{"settings_key": "sec')
    with pytest.warns(UserWarning, match='stats.json is unreadable'):
        assert derived(retrained, 'stats.json', compute,
                                 'stats') == {'from': 'second'}
    assert calls == ['first', 'second', 'second']


def test_each_unusable_run_says_why(tiny_coco, tmp_path):
    """--reuse-only used to end in IndexError (report.py, results[0]) when
    no run matched; now each run looked for says why it does not."""
    spec = _spec(tiny_coco)
    work = str(tmp_path)
    assert 'never finished there' in find_finished(spec, work).reason
    _store(spec, tiny_coco, work, key='stale')
    reason = find_finished(spec, work).reason
    assert 'settings key stale' in reason and 'changed' in reason
    checkpoint = _store(spec, tiny_coco, work)
    os.remove(checkpoint)
    assert f'checkpoint {checkpoint} is missing' in \
        find_finished(spec, work).reason
    with open(osp.join(work, spec.run_id, 'result.json'), 'w') as f:
        f.write('{"settings_key": ')
    with pytest.warns(UserWarning, match='unreadable'):
        assert 'is unreadable' in find_finished(spec, work).reason


def test_reuse_only_with_no_finished_run_names_each_run_and_why(
        tiny_coco, tmp_path):
    from mmipr.study.plan import StudySettings
    from mmipr.study.schedule import train_runs
    from mmipr.study.study import NoFinishedRunsError, nothing_to_report
    specs = [_spec(tiny_coco), RunSpec(
        'integral', osp.join(REPO, 'configs', 'synthetic',
                             'sbl_r18_integral.py'), epochs=6,
        cfg_options=synthetic_data_options(tiny_coco))]
    _store(specs[1], tiny_coco, str(tmp_path), key='old')
    schedule = train_runs(specs, str(tmp_path), desc='test',
                          reuse_only=True)
    assert schedule.results == []
    assert list(schedule.skipped) == ['detection_seed0', 'integral_seed0']
    settings = StudySettings(work_dir=str(tmp_path), reuse_only=True)
    text = nothing_to_report(settings, schedule.skipped)
    assert 'looked for 2 runs' in text
    assert 'detection_seed0: no ' in text and 'never finished' in text
    assert 'integral_seed0: ' in text and 'settings key old' in text
    assert 'without --reuse-only' in text
    assert issubclass(NoFinishedRunsError, RuntimeError)


@pytest.mark.slow
def test_a_run_killed_mid_training_resumes_from_its_last_epoch(
        tiny_coco, tmp_path, monkeypatch):
    """A study run used to save only its last epoch: a kill lost every
    finished epoch. Now it keeps the last epoch's checkpoint (one file),
    and a rerun resumes from it with the curves of the earlier epochs."""
    import glob

    from mmipr.study import progress, runs
    options = dict(synthetic_data_options(tiny_coco), **{
        'train_dataloader.dataset.indices': 8,
        'train_dataloader.batch_size': 8,
        'val_dataloader.batch_size': 12})
    spec = RunSpec('detection', osp.join(REPO, 'configs', 'synthetic',
                                         'sbl_r18_detection.py'),
                   epochs=4, seed=0, cfg_options=options)
    trained = []
    real = progress.StudyProgressHook.after_train_epoch

    def killed_after_second_epoch(self, runner):
        real(self, runner)
        trained.append(runner.epoch + 1)
        if trained == [1, 2]:
            raise KeyboardInterrupt  # the kill, in epoch 2's last hooks
    monkeypatch.setattr(progress.StudyProgressHook, 'after_train_epoch',
                        killed_after_second_epoch)
    work_dir = osp.join(str(tmp_path), spec.run_id)
    with pytest.raises(KeyboardInterrupt):
        runs.run(spec, str(tmp_path))
    # the hook records epoch 2 before its checkpoint is written (priority),
    # so the interrupt came before epoch 2's checkpoint: epoch 1's is kept
    assert [osp.basename(p) for p in glob.glob(
        osp.join(work_dir, 'epoch_*.pth'))] == ['epoch_1.pth']
    result = runs.run(spec, str(tmp_path))
    assert trained == [1, 2, 2, 3, 4]  # only epoch 1 was not trained again
    assert result['resumed_after'] == [1]
    assert len(result['epoch_losses']) == 4
    assert [m['epoch'] for m in result['val_metrics']] == [1, 2, 3, 4]
    assert [osp.basename(p) for p in glob.glob(
        osp.join(work_dir, 'epoch_*.pth'))] == ['epoch_4.pth']
    assert find_finished(spec, str(tmp_path)).result is not None
    # checkpoints of other settings are never resumed
    other = RunSpec(spec.name, spec.config, epochs=5, seed=0,
                    cfg_options=options)
    with pytest.warns(UserWarning, match='checkpoints of other settings'):
        assert runs.resumable_checkpoint(
            work_dir, settings_key(build_config(other, work_dir))) is None
    assert not glob.glob(osp.join(work_dir, 'epoch_*.pth'))


def test_the_budget_estimates_each_run_from_its_own_epochs(
        tiny_coco, tmp_path, monkeypatch):
    """A T/2 run used to be refused for the wall time of the longest run
    (one of 2T epochs): the estimate is now epochs x the median minutes per
    epoch."""
    from mmipr.study import schedule
    trained = []

    def instant_run(spec, work_root, progress):
        trained.append(spec.run_id)
        return dict(run_id=spec.run_id, epochs=spec.epochs, wall_seconds=0.0)

    monkeypatch.setattr(schedule, 'run', instant_run)
    specs = [RunSpec('detection', _spec(tiny_coco).config, epochs=epochs,
                     cfg_options=_spec(tiny_coco).cfg_options,
                     study_epochs=20) for epochs in (10, 20, 40)]
    # the median of the known rates (one slowed run does not set it)
    done = schedule.train_runs(specs, str(tmp_path), desc='test', budget=30,
                               minutes_per_epoch=[1.0, 1.0, 5.0])
    # 10 and 20 epochs at 1 min each fit 30 minutes; 40 do not (the runs
    # done here took ~0 min per epoch: the median of 5 rates is still 1)
    assert trained == ['detection_T10_seed0', 'detection_seed0']
    assert [r['run_id'] for r in done.results] == trained
    assert done.skipped['detection_T40_seed0'].endswith(
        'its 40 epochs at 1.00 min each, the median so far: 40.0)')
    assert schedule.wall_minutes_per_epoch(
        dict(wall_seconds=1200.0, epochs=10)) == 2.0
