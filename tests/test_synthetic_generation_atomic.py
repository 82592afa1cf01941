"""The generator never leaves a mixed dataset; the demo and study check its marker."""
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO

from mmipr.datasets import MARKER_FILE, ensure_synthetic_coco, generate_synthetic_coco, read_marker
from mmipr.datasets import synthetic_coco as gen


def _val_json(root: str) -> dict:
    with open(osp.join(root, 'annotations', 'person_keypoints_val2017.json')) as f:
        return json.load(f)


def test_an_interrupted_regeneration_leaves_the_old_dataset_whole(
        tmp_path, monkeypatch):
    root = str(tmp_path / 'data')
    generate_synthetic_coco(root, 3, 4, seed=0, workers=1, progress=False)
    before = _val_json(root)
    images_before = sorted(os.listdir(osp.join(root, 'val2017')))
    real = gen.write_split

    def dies_in_val(out_dir, split, *args, **kwargs):
        if split == 'val':
            raise KeyboardInterrupt  # the kill, after train was rewritten
        return real(out_dir, split, *args, **kwargs)
    monkeypatch.setattr(gen, 'write_split', dies_in_val)
    with pytest.raises(KeyboardInterrupt):
        generate_synthetic_coco(root, 3, 4, seed=1, workers=1,
                                progress=False)
    monkeypatch.undo()
    assert _val_json(root) == before
    assert sorted(os.listdir(osp.join(root, 'val2017'))) == images_before
    assert read_marker(root)['seed'] == 0
    assert os.listdir(tmp_path) == ['data']  # no temporary folder left


@pytest.mark.slow
def test_a_sigkilled_regeneration_leaves_the_old_dataset_whole(tmp_path):
    root = str(tmp_path / 'data')
    generate_synthetic_coco(root, 2, 3, seed=0, workers=1, progress=False)
    before = _val_json(root)
    proc = subprocess.Popen([
        sys.executable, osp.join(REPO, 'tools', 'dataset',
                                 'make_synthetic_coco.py'), root,
        '--num-train', '400', '--num-val', '20', '--seed', '1',
        '--workers', '1', '--no-progress'])
    # kill at a controlled point: midway through writing the new train split
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        partial = [osp.join(tmp_path, d, 'train2017')
                   for d in os.listdir(tmp_path) if '.incomplete-' in d]
        if any(osp.isdir(p) and len(os.listdir(p)) >= 5 for p in partial):
            break
        time.sleep(0.05)
    assert proc.poll() is None, 'the generation ended before the kill'
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _val_json(root) == before
    assert read_marker(root)['seed'] == 0


def test_ensure_reuses_generates_and_refuses(tmp_path, capsys):
    root = str(tmp_path / 'data')
    assert ensure_synthetic_coco(root, 2, 3, progress=False) == 'generated'
    assert ensure_synthetic_coco(root, 2, 3, progress=False) == 'reused'
    # other settings: an error naming them, and nothing overwritten
    with pytest.raises(ValueError, match='num_train: 2 there, 5 asked'):
        ensure_synthetic_coco(root, 5, 3, progress=False)
    assert read_marker(root)['num_train'] == 2
    # a dataset without its marker (killed, or an older version) is redone
    os.remove(osp.join(root, MARKER_FILE))
    assert read_marker(root) is None
    assert ensure_synthetic_coco(root, 2, 3, progress=False) == 'generated'
    assert 'no complete synthetic dataset' in capsys.readouterr().out
    # a marker whose files are gone is not complete
    os.remove(osp.join(root, 'annotations', 'person_keypoints_val2017.json'))
    assert read_marker(root) is None


def test_demo_and_study_decide_dataset_present_the_same_way():
    """Both set up through mmipr.study.setup.prepare, which calls
    ensure_synthetic_coco, nothing else."""
    setup = open(osp.join(REPO, 'mmipr', 'study', 'setup.py')).read()
    assert 'ensure_synthetic_coco(' in setup
    assert 'generate_synthetic_coco(' not in setup
    for module in ('demo.py', 'study.py'):
        text = open(osp.join(REPO, 'mmipr', 'study', module)).read()
        assert 'prepare(settings' in text
        assert 'generate_synthetic_coco(' not in text


def test_preflight_refuses_a_synthetic_dataset_without_its_marker(tmp_path):
    from mmengine.config import Config

    from mmipr.datasets.annotation_checks import check_annotation_files
    root = str(tmp_path / 'data')
    generate_synthetic_coco(root, 2, 3, seed=0, workers=1, progress=False)
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'synthetic',
                                   'sbl_r18_detection.py'))
    for phase in ('train', 'val'):
        cfg[f'{phase}_dataloader'].dataset.data_root = root
    cfg.val_dataloader.dataset.bbox_file = None
    cfg.val_evaluator.ann_file = osp.join(
        root, 'annotations', 'person_keypoints_val2017.json')
    check_annotation_files(cfg, phases=('train', 'val'))  # complete: fine
    os.remove(osp.join(root, MARKER_FILE))
    with pytest.raises(ValueError, match='no complete generation'):
        check_annotation_files(cfg, phases=('train', 'val'))
