"""Bad configs, data and checkpoints fail early with an error naming the problem."""
import json
import os.path as osp
import shutil
import sys

import cv2
import numpy as np
import pytest
import torch
from conftest import REPO, data_options
from mmengine.config import Config
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import _load_checkpoint, save_checkpoint
from mmpose.registry import MODELS

from mmipr.engine import (
    check_amp_device,
    check_annotation_files,
    check_checkpoint_matches,
    check_data_paths,
)
from mmipr.engine.runner_tools import test_main, train_main

DETECTION = osp.join(REPO, 'configs', 'synthetic', 'sbl_r18_detection.py')
INTEGRAL = osp.join(REPO, 'configs', 'synthetic', 'sbl_r18_integral_kl2.py')
TRAIN_ANN = 'annotations/person_keypoints_train2017.json'
VAL_ANN = 'annotations/person_keypoints_val2017.json'


def coco_json(num_keypoints=(17, ), iscrowd=0) -> dict:
    """A COCO keypoint file of one 100x100 image, one annotation per entry
    of ``num_keypoints`` (that many labelled keypoints)."""
    anns = []
    for i, n in enumerate(num_keypoints):
        kpts = [v for j in range(17) for v in (20 + j, 30 + j, 2 * (j < n))]
        anns.append(dict(id=i + 1, image_id=1, category_id=1, iscrowd=iscrowd,
                         bbox=[10, 10, 50, 80], area=4000., keypoints=kpts,
                         num_keypoints=n))
    return dict(
        images=[dict(id=1, file_name='000000000001.jpg', width=100,
                     height=100)],
        annotations=anns,
        categories=[dict(id=1, name='person', supercategory='person')])


def make_data_root(root, train=None, val=None) -> str:
    """A synthetic-layout data root with the given annotation dicts (or, if
    a str, raw file contents)."""
    for folder in ('annotations', 'train2017', 'val2017'):
        (root / folder).mkdir(exist_ok=True)
    for name, content, folder in ((TRAIN_ANN, train, 'train2017'),
                                  (VAL_ANN, val, 'val2017')):
        content = coco_json() if content is None else content
        (root / name).write_text(content if isinstance(content, str)
                                 else json.dumps(content))
        for img in [] if isinstance(content, str) else content['images']:
            cv2.imwrite(str(root / folder / img['file_name']),
                        np.zeros((img['height'], img['width'], 3), np.uint8))
    return str(root)


def config_for(data_root: str, path: str = INTEGRAL, **options) -> Config:
    cfg = Config.fromfile(path)
    cfg.merge_from_dict({**data_options(data_root), **options})
    return cfg


# ------------------------------------------------------------- configs
def test_misspelled_head_argument_is_named_when_the_model_is_built():
    cfg = Config.fromfile(INTEGRAL)
    cfg.model.head.betta = 2.0
    with pytest.raises(TypeError, match="'betta'"):
        MODELS.build(cfg.model)


# ---------------------------------------------------------- data paths
def test_missing_annotation_file_names_path_and_key(tmp_path):
    root = make_data_root(tmp_path)
    (tmp_path / TRAIN_ANN).unlink()
    with pytest.raises(FileNotFoundError) as info:
        check_data_paths(config_for(root), phases=('train', 'val'))
    message = str(info.value)
    assert 'train_dataloader.dataset.ann_file' in message
    assert osp.join(root, TRAIN_ANN) in message
    assert 'val_dataloader' not in message  # val files are all present


def test_missing_image_folder_names_path_and_key(tmp_path):
    root = make_data_root(tmp_path)
    shutil.rmtree(tmp_path / 'val2017')
    with pytest.raises(FileNotFoundError) as info:
        check_data_paths(config_for(root), phases=('train', 'val'))
    assert 'val_dataloader.dataset.data_prefix.img' in str(info.value)
    assert osp.join(root, 'val2017') in str(info.value)


def test_complete_data_passes(tmp_path):
    cfg = config_for(make_data_root(tmp_path))
    check_data_paths(cfg)
    check_annotation_files(cfg)


def test_train_tool_checks_data_before_building_the_runner(
        tmp_path, monkeypatch):
    missing = str(tmp_path / 'nowhere') + '/'
    monkeypatch.setattr(sys, 'argv', [
        'train.py', INTEGRAL, '--work-dir', str(tmp_path / 'work'),
        '--cfg-options', f'train_dataloader.dataset.data_root={missing}'])
    with pytest.raises(FileNotFoundError, match='train_dataloader.dataset'):
        train_main()
    assert not (tmp_path / 'work').exists()


# ---------------------------------------------------- annotation files
def test_truncated_annotation_file_is_named(tmp_path):
    text = json.dumps(coco_json())
    root = make_data_root(tmp_path, train=text[:len(text) // 2])
    with pytest.raises(ValueError, match='not valid JSON') as info:
        check_annotation_files(config_for(root), phases=('train', 'val'))
    assert osp.join(root, TRAIN_ANN) in str(info.value)
    assert 'train_dataloader.dataset.ann_file' in str(info.value)


def test_test_tool_checks_annotation_files(tmp_path, monkeypatch):
    text = json.dumps(coco_json())
    root = make_data_root(tmp_path, val=text[:-3])
    options = [f'{k}={v}' for k, v in data_options(root).items()]
    monkeypatch.setattr(sys, 'argv', [
        'test.py', INTEGRAL, str(tmp_path / 'missing.pth'),
        '--work-dir', str(tmp_path / 'work'), '--cfg-options', *options])
    with pytest.raises(ValueError, match='test_dataloader.dataset.ann_file'):
        test_main()


@pytest.mark.parametrize('annotations', [
    pytest.param(coco_json(num_keypoints=()), id='no annotation'),
    pytest.param(coco_json(num_keypoints=(0, 0)), id='no labelled keypoint'),
    pytest.param(coco_json(iscrowd=1), id='crowd only'),
])
def test_training_set_without_instances_is_refused(tmp_path, annotations):
    root = make_data_root(tmp_path, train=annotations)
    with pytest.raises(ValueError, match='no person instance') as info:
        check_annotation_files(config_for(root), phases=('train', ))
    assert osp.join(root, TRAIN_ANN) in str(info.value)


def test_empty_val_annotations_pass_with_detected_boxes(tmp_path):
    # e.g. COCO test-dev: image info only, instances from the bbox_file
    root = make_data_root(tmp_path, val=coco_json(num_keypoints=()))
    detections = tmp_path / 'detections.json'
    detections.write_text(json.dumps([dict(
        image_id=1, category_id=1, bbox=[10, 10, 50, 80], score=0.9)]))
    cfg = config_for(root, **{'val_dataloader.dataset.bbox_file':
                              str(detections)})
    check_annotation_files(cfg, phases=('val', ))
    cfg.val_dataloader.dataset.bbox_file = None  # ground-truth boxes
    with pytest.raises(ValueError, match='val_dataloader.dataset.ann_file'):
        check_annotation_files(cfg, phases=('val', ))


# ---------------------------------------------------------- checkpoints
@pytest.fixture(scope='module')
def detection_checkpoint(tmp_path_factory) -> str:
    """State dict of the synthetic 17-keypoint detection model."""
    model = MODELS.build(Config.fromfile(DETECTION).model)
    path = str(tmp_path_factory.mktemp('ckpt') / 'detection_17.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return path


def test_checkpoint_with_other_keypoint_count_names_the_tensors(
        detection_checkpoint):
    cfg = Config.fromfile(DETECTION)
    cfg.model.head.out_channels = 14
    model = MODELS.build(cfg.model)
    with pytest.raises(ValueError) as info:
        check_checkpoint_matches(model, detection_checkpoint)
    message = str(info.value)
    assert 'head.final_layer.weight: checkpoint (17, 32, 1, 1) vs model ' \
        '(14, 32, 1, 1)' in message
    assert 'head.final_layer.bias' in message
    assert 'backbone' not in message  # only the mismatching tensors


def test_checkpoint_as_mmengine_writes_it_loads(tmp_path):
    # numpy metadata and the message hub's HistoryBuffer: not "weights only"
    model = torch.nn.Linear(2, 3)
    history = HistoryBuffer()
    history.update(0.5)
    path = str(tmp_path / 'epoch_1.pth')
    save_checkpoint(dict(
        meta=dict(epoch=1, dataset_meta=dict(sigmas=np.ones(3, np.float32))),
        state_dict=model.state_dict(),
        message_hub=dict(log_scalars=dict(loss=history))), path)
    checkpoint = _load_checkpoint(path, map_location='cpu')
    assert checkpoint['meta']['dataset_meta']['sigmas'].dtype == np.float32
    assert checkpoint['message_hub']['log_scalars']['loss'].current() == 0.5
    check_checkpoint_matches(model, path)


def test_detection_checkpoint_fits_an_integral_model(detection_checkpoint):
    model = MODELS.build(Config.fromfile(INTEGRAL).model)
    check_checkpoint_matches(model, detection_checkpoint)


# ------------------------------------------------------------------ AMP
@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU-only behaviour')
def test_amp_on_cpu_is_refused_before_training(tmp_path, monkeypatch):
    cfg = config_for(make_data_root(tmp_path))
    check_amp_device(cfg)  # the config's float32 OptimWrapper: fine
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    with pytest.raises(RuntimeError, match='--amp'):
        check_amp_device(cfg)
    # and tools/train.py runs the check (after the data checks)
    # MMPose's --amp swaps a plain OptimWrapper for AmpOptimWrapper
    float32 = tmp_path / 'integral_fp32.py'
    float32.write_text(f"_base_ = [{INTEGRAL!r}]\n"
                       "optim_wrapper = dict(type='OptimWrapper')\n")
    monkeypatch.setattr(sys, 'argv', [
        'train.py', str(float32), '--amp', '--work-dir',
        str(tmp_path / 'work'), '--cfg-options',
        *[f'{k}={v}' for k, v in data_options(cfg.train_dataloader.dataset
                                               .data_root).items()]])
    with pytest.raises(RuntimeError, match='CUDA'):
        train_main()
