"""The study's reuse of finished runs (tools/reproduce.py --reuse-only)."""
import json
import os
import os.path as osp

from conftest import REPO

from mmipr.study.runs import (
    RunSpec,
    _settings_key,
    build_config,
    finished_result,
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
        json.dump(dict(settings_key=key or _settings_key(cfg, data_root),
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
