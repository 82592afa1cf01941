"""The study's reuse of finished runs (tools/reproduce.py, --reuse-only)."""
import json
import os
import os.path as osp
import shutil
import warnings

import pytest
from conftest import REPO

from mmipr.study.runs import (
    RunSpec,
    build_config,
    finished_result,
    settings_key,
    synthetic_data_options,
)


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
    assert finished_result(spec, tiny_coco, str(tmp_path)) is None
    checkpoint = _store(spec, tiny_coco, str(tmp_path))
    result = finished_result(spec, tiny_coco, str(tmp_path))
    assert result['reused'] and result['metrics'] == {'coco/AP': 0.5}
    # other settings (epochs) do not reuse it, nor does a lost checkpoint
    assert finished_result(_spec(tiny_coco, epochs=5), tiny_coco,
                           str(tmp_path)) is None
    _store(spec, tiny_coco, str(tmp_path), key='stale')
    assert finished_result(spec, tiny_coco, str(tmp_path)) is None
    _store(spec, tiny_coco, str(tmp_path))
    os.remove(checkpoint)
    assert finished_result(spec, tiny_coco, str(tmp_path)) is None


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
    assert finished_result(spec, root, str(tmp_path / 'work')) is not None
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
    assert finished_result(spec, root, str(tmp_path / 'work')) is None


def test_the_key_covers_mmipr_version_and_starting_weights(
        tiny_coco, tmp_path, monkeypatch):
    import mmipr.study.runs as runs
    spec = _spec(tiny_coco)
    cfg = build_config(spec, str(tmp_path))
    key = settings_key(cfg)
    monkeypatch.setattr(runs, '__version__', '999.0')
    assert settings_key(cfg) != key
    monkeypatch.undo()
    weights = tmp_path / 'init.pth'
    weights.write_bytes(b'a')
    cfg.load_from = str(weights)
    with_weights = settings_key(cfg)
    weights.write_bytes(b'b')
    assert settings_key(cfg) != with_weights != key


def test_a_truncated_result_is_named_and_redone(tiny_coco, tmp_path):
    spec = _spec(tiny_coco)
    _store(spec, tiny_coco, str(tmp_path))
    result_file = osp.join(str(tmp_path), spec.run_id, 'result.json')
    text = open(result_file).read()
    with open(result_file, 'w') as f:
        f.write(text[:len(text) // 2])
    with pytest.warns(UserWarning, match='result.json is unreadable'):
        assert finished_result(spec, tiny_coco, str(tmp_path)) is None


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
    import sys
    sys.path.insert(0, osp.join(REPO, 'tools'))
    import reproduce
    calls = []

    def compute(result):
        calls.append(result['settings_key'])
        return {'from': result['settings_key']}
    run = dict(work_dir=str(tmp_path), settings_key='first',
               checkpoint=str(tmp_path / 'epoch_9.pth'))
    assert reproduce.derived(run, 'stats.json', compute, 'stats') == \
        {'from': 'first'}
    assert reproduce.derived(run, 'stats.json', compute, 'stats') == \
        {'from': 'first'}
    assert calls == ['first']  # reused for the same run
    retrained = dict(run, settings_key='second')
    assert reproduce.derived(retrained, 'stats.json', compute, 'stats') == \
        {'from': 'second'}
    # a truncated file is named and redone, not a JSONDecodeError
    (tmp_path / 'stats.json').write_text('{"settings_key": "sec')
    with pytest.warns(UserWarning, match='stats.json is unreadable'):
        assert reproduce.derived(retrained, 'stats.json', compute,
                                 'stats') == {'from': 'second'}
    assert calls == ['first', 'second', 'second']
