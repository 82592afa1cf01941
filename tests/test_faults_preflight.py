"""Preflight under bad input (issue 15, items 3 and 4): non-finite numbers,
missing keypoints, another keypoint count, boxes MMPose drops, no epochs and
empty or missing ``last_checkpoint`` targets, each named with what to do."""
import argparse
import json
import os.path as osp
import subprocess
import sys
import warnings

import cv2
import numpy as np
import pytest
import torch
from conftest import REPO, data_options
from mmengine.config import Config
from mmpose.registry import DATASETS

from mmipr.datasets.annotation_checks import check_annotation_files
from mmipr.engine.checkpoint import check_resume, checkpoint_problem
from mmipr.engine.preflight import PreflightError, check_train_length
from mmipr.engine.runner_tools import test_main, train_main
from mmipr.utils.validation import positive_int

INTEGRAL = osp.join(REPO, 'configs', 'synthetic', 'sbl_r18_integral_kl2.py')
TRAIN_ANN = 'annotations/person_keypoints_train2017.json'
VAL_ANN = 'annotations/person_keypoints_val2017.json'
PY = sys.executable


def person(ann_id: int, num_keypoints: int = 17, bbox=(10, 10, 50, 80),
           **fields) -> dict:
    """A person annotation on the 100x100 image 1, all keypoints labelled."""
    kpts = [v for j in range(num_keypoints) for v in (20 + j, 30 + j, 2)]
    ann = dict(id=ann_id, image_id=1, category_id=1, iscrowd=0,
               bbox=list(bbox), area=4000., keypoints=kpts,
               num_keypoints=num_keypoints)
    ann.update(fields)
    return ann


def coco(*anns) -> dict:
    return dict(
        images=[dict(id=1, file_name='000000000001.jpg', width=100,
                     height=100)],
        annotations=list(anns),
        categories=[dict(id=1, name='person', supercategory='person')])


def write_image(path, width: int = 100, height: int = 100) -> None:
    """A valid JPEG of the given size."""
    assert cv2.imwrite(str(path), np.full((height, width, 3), 128, np.uint8))


def data_root(tmp_path, train=None, val=None) -> str:
    for folder in ('annotations', 'train2017', 'val2017'):
        (tmp_path / folder).mkdir(exist_ok=True)
    for name, content, folder in ((TRAIN_ANN, train, 'train2017'),
                                  (VAL_ANN, val, 'val2017')):
        content = content or coco(person(1))
        # json.dumps writes float('nan') as NaN, which json.load accepts
        (tmp_path / name).write_text(json.dumps(content))
        for img in content['images']:
            write_image(tmp_path / folder / img['file_name'])
    return str(tmp_path)


def config_for(root: str, **options) -> Config:
    cfg = Config.fromfile(INTEGRAL)
    cfg.merge_from_dict({**data_options(root), **options})
    return cfg


# ------------------------------------------------------ non-finite values
@pytest.mark.parametrize('field,bad', [
    ('keypoints', lambda a: a['keypoints'].__setitem__(3, float('nan'))),
    ('keypoints', lambda a: a['keypoints'].__setitem__(4, float('inf'))),
    ('bbox', lambda a: a['bbox'].__setitem__(2, float('nan'))),
    ('bbox', lambda a: a['bbox'].__setitem__(0, float('-inf'))),
])
def test_non_finite_annotation_values_are_named(tmp_path, field, bad):
    # before: accepted, and xtcocotools counts a NaN OKS as a match
    ann = person(7)
    bad(ann)
    root = data_root(tmp_path, train=coco(person(1), ann))
    with pytest.raises(ValueError, match='non-finite') as info:
        check_annotation_files(config_for(root), phases=('train', ))
    message = str(info.value)
    assert osp.join(root, TRAIN_ANN) in message
    assert 'annotation id 7 (image 1)' in message and field in message
    assert 'annotation id 1 ' not in message  # only the bad one
    assert isinstance(info.value, PreflightError)


def test_non_finite_ground_truth_of_the_evaluator_is_refused(tmp_path):
    # evaluation on detected boxes reads no instance from val, but the
    # metric matches against its keypoints
    ann = person(3)
    ann['keypoints'][0] = float('nan')
    root = data_root(tmp_path, val=coco(ann))
    detections = tmp_path / 'detections.json'
    detections.write_text(json.dumps([dict(
        image_id=1, category_id=1, bbox=[10, 10, 50, 80], score=0.9)]))
    cfg = config_for(root, **{'val_dataloader.dataset.bbox_file':
                              str(detections)})
    with pytest.raises(ValueError, match='annotation id 3') as info:
        check_annotation_files(cfg, phases=('val', ))
    assert osp.join(root, VAL_ANN) in str(info.value)


# -------------------------------------------------------- missing keypoints
def test_annotation_without_keypoints_is_named(tmp_path):
    # before: MMPose skips it in training and the COCO evaluation fails on
    # it with a KeyError after the first training epoch
    ann = person(5)
    del ann['keypoints']
    root = data_root(tmp_path, val=coco(person(1), ann))
    with pytest.raises(ValueError, match="annotation id 5 .*no 'keypoints'"):
        check_annotation_files(config_for(root), phases=('val', ))


def test_crowd_annotation_without_keypoints_passes(tmp_path):
    crowd = person(5, iscrowd=1)
    del crowd['keypoints']
    root = data_root(tmp_path, train=coco(person(1), crowd),
                     val=coco(person(1), crowd))
    check_annotation_files(config_for(root), phases=('train', 'val'))


# ----------------------------------------------------- keypoint count != K
def test_a_head_trained_on_silhouettes_is_not_a_keypoint_count(tmp_path):
    # The study's pretraining: one output channel, a mask target; the
    # keypoint count still comes from the dataset's metainfo.
    def pretraining(root):
        cfg = Config.fromfile(osp.join(REPO, 'configs', 'synthetic',
                                       'pretrain_r18_silhouette.py'))
        cfg.train_dataloader.dataset.data_root = root.rstrip('/') + '/'
        return cfg

    root = data_root(tmp_path, train=coco(person(1), person(2)))
    check_annotation_files(pretraining(root), phases=('train', ))
    (tmp_path / 'k14').mkdir()
    root = data_root(tmp_path / 'k14',
                     train=coco(person(1, num_keypoints=14)))
    with pytest.raises(ValueError, match='metainfo of CocoDataset says 17'):
        check_annotation_files(pretraining(root), phases=('train', ))


def test_other_keypoint_count_is_named_with_the_config_k(tmp_path):
    # before: IndexError in flip_keypoints during the first epoch
    root = data_root(tmp_path, train=coco(person(1, num_keypoints=14),
                                          person(2, num_keypoints=14)))
    with pytest.raises(ValueError) as info:
        check_annotation_files(config_for(root), phases=('train', ))
    message = str(info.value)
    assert 'annotation id 1 (image 1): 14 keypoints' in message
    assert 'annotation id 2 ' in message
    assert 'model.head.out_channels says 17' in message
    assert 'metainfo of CocoDataset says 17' in message
    # a 14-keypoint config accepts the file
    cfg = config_for(root, **{'model.head.out_channels': 14})
    cfg.train_dataloader.dataset.metainfo = dict(
        from_file='configs/_base_/datasets/crowdpose.py')
    check_annotation_files(cfg, phases=('train', ))


def test_keypoints_not_in_triples_are_named(tmp_path):
    ann = person(4)
    ann['keypoints'] = ann['keypoints'][:-1]
    root = data_root(tmp_path, train=coco(person(1), ann))
    with pytest.raises(ValueError, match='annotation id 4 .*triples'):
        check_annotation_files(config_for(root), phases=('train', ))


# ---------------------------------------------------------- dropped boxes
def _mmpose_instances(path: str) -> int:
    dataset = DATASETS.build(dict(type='CocoDataset', ann_file=path,
                                  data_mode='topdown', pipeline=[]))
    return len(dataset)


DROPPED = [
    pytest.param((100, 10, 20, 20), id='right of the image'),
    pytest.param((10, -50, 20, 30), id='above the image'),
    pytest.param((10, 10, 0, 30), id='zero width'),
    pytest.param((10, 10, 30, -5), id='negative height'),
]


@pytest.mark.parametrize('bbox', DROPPED)
def test_boxes_mmpose_drops_are_warned_about(tmp_path, bbox):
    root = data_root(tmp_path, train=coco(person(1), person(9, bbox=bbox)))
    path = osp.join(root, TRAIN_ANN)
    assert _mmpose_instances(path) == 1  # MMPose keeps only annotation 1
    with pytest.warns(UserWarning, match='drop 1 annotation') as record:
        check_annotation_files(config_for(root), phases=('train', ))
    message, = [str(w.message) for w in record
                if 'drop 1 annotation' in str(w.message)]
    assert path in message and 'annotation id 9 (image 1)' in message
    assert 'no area inside the 100x100 image' in message


@pytest.mark.parametrize('bbox', DROPPED)
def test_split_left_without_instances_is_refused(tmp_path, bbox):
    # before: "need at least one array to concatenate" from MMEngine
    root = data_root(tmp_path, train=coco(person(9, bbox=bbox)))
    path = osp.join(root, TRAIN_ANN)
    with pytest.raises(ValueError, match='concatenate'):
        _mmpose_instances(path)
    with pytest.raises(ValueError, match='no person instance') as info:
        check_annotation_files(config_for(root), phases=('train', ))
    assert path in str(info.value)
    assert 'annotation id 9 (image 1): bbox' in str(info.value)
    assert '--num-val N' in str(info.value)  # the fix for an empty split


def test_keypoints_all_at_the_origin_count_as_dropped(tmp_path):
    ann = person(2)
    ann['keypoints'] = [0, 0, 2] * 17  # labelled, but MMPose drops it
    root = data_root(tmp_path, train=coco(ann))
    with pytest.raises(ValueError, match='concatenate'):
        _mmpose_instances(osp.join(root, TRAIN_ANN))
    with pytest.raises(ValueError, match='x <= 0 and y <= 0'):
        check_annotation_files(config_for(root), phases=('train', ))


def test_valid_files_pass_without_warning(tmp_path):
    root = data_root(tmp_path)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter('always')
        check_annotation_files(config_for(root))
    assert not [w for w in record if 'MMPose will drop' in str(w.message)]


# ----------------------------------------------------------------- epochs
def test_positive_int_for_epochs():
    # before: --epochs 0 was accepted by argparse (type=int)
    parser = argparse.ArgumentParser()
    parser.add_argument('--epochs', type=positive_int, default=4)
    assert parser.parse_args(['--epochs', '3']).epochs == 3
    for bad in ('0', '-2', 'two', '1.5'):
        with pytest.raises(argparse.ArgumentTypeError):
            positive_int(bad)
    with pytest.raises(SystemExit) as info:
        parser.parse_args(['--epochs', '0'])
    assert info.value.code == 2


@pytest.mark.parametrize('key,value', [('max_epochs', 0), ('max_epochs', -1),
                                       ('max_iters', 0)])
def test_train_cfg_without_training_is_refused(key, value):
    # before: MMEngine trained nothing, saved nothing and exited 0
    cfg = Config(dict(train_cfg=dict(by_epoch=True, **{key: value})))
    with pytest.raises(ValueError, match=f'train_cfg.{key} is {value}'):
        check_train_length(cfg)
    check_train_length(Config(dict(train_cfg=dict(max_epochs=1))))


# ------------------------------------------------------------------ resume
def _resume_cfg(work_dir, load_from=None) -> Config:
    return Config(dict(resume=True, load_from=load_from,
                       work_dir=str(work_dir)))


def _checkpoint(path) -> str:
    torch.save(dict(meta=dict(epoch=1), state_dict={}), str(path))
    return str(path)


def test_resume_from_empty_last_checkpoint_says_what_to_do(tmp_path):
    # before: MMEngine loaded the path '' (a traceback)
    good = _checkpoint(tmp_path / 'epoch_1.pth')
    (tmp_path / 'last_checkpoint').write_text('')
    with pytest.raises(FileNotFoundError, match='is empty') as info:
        check_resume(_resume_cfg(tmp_path))
    assert str(tmp_path / 'last_checkpoint') in str(info.value)
    assert f'--resume {good}' in str(info.value)


def test_resume_from_missing_or_truncated_target_says_what_to_do(tmp_path):
    record = tmp_path / 'last_checkpoint'
    record.write_text(str(tmp_path / 'epoch_2.pth'))
    with pytest.raises(FileNotFoundError, match='does not exist') as info:
        check_resume(_resume_cfg(tmp_path))
    assert 'No complete checkpoint is left' in str(info.value)
    # a checkpoint cut short by a kill during saving
    good = _checkpoint(tmp_path / 'epoch_1.pth')
    data = open(good, 'rb').read()
    (tmp_path / 'epoch_2.pth').write_bytes(data[:len(data) // 2])
    assert 'incomplete' in checkpoint_problem(str(tmp_path / 'epoch_2.pth'))
    with pytest.raises(FileNotFoundError, match='incomplete') as info:
        check_resume(_resume_cfg(tmp_path))
    assert f'--resume {good}' in str(info.value)
    # an explicit --resume PATH gets the same checks
    with pytest.raises(FileNotFoundError, match='incomplete'):
        check_resume(_resume_cfg(tmp_path, str(tmp_path / 'epoch_2.pth')))
    check_resume(_resume_cfg(tmp_path, good))
    record.write_text(good)
    check_resume(_resume_cfg(tmp_path))


def test_resume_without_last_checkpoint_starts_from_scratch(tmp_path):
    check_resume(_resume_cfg(tmp_path))  # MMEngine's behaviour: fine
    check_resume(Config(dict(resume=False, work_dir=str(tmp_path))))


def test_train_tool_checks_resume_before_building_the_runner(
        tmp_path, monkeypatch):
    (tmp_path / 'data').mkdir()
    root = data_root(tmp_path / 'data')
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'last_checkpoint').write_text(str(work / 'epoch_3.pth'))
    options = [f'{k}={v}' for k, v in data_options(root).items()]
    monkeypatch.setattr(sys, 'argv', [
        'train.py', INTEGRAL, '--work-dir', str(work), '--resume',
        '--cfg-options', *options])
    with pytest.raises(FileNotFoundError, match='Cannot resume'):
        train_main()
    assert sorted(p.name for p in work.iterdir()) == ['last_checkpoint']
    monkeypatch.setattr(sys, 'argv', [
        'train.py', INTEGRAL, '--work-dir', str(work), '--cfg-options',
        *options, 'train_cfg.max_epochs=0'])
    with pytest.raises(ValueError, match='train_cfg.max_epochs is 0'):
        train_main()


@pytest.mark.slow
def test_train_tool_prints_preflight_errors_without_traceback(tmp_path):
    (tmp_path / 'data').mkdir()
    root = data_root(tmp_path / 'data')
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'last_checkpoint').write_text('')
    options = [f'{k}={v}' for k, v in data_options(root).items()]
    proc = subprocess.run(
        [PY, osp.join(REPO, 'tools', 'train.py'), INTEGRAL, '--work-dir',
         str(work), '--resume', '--cfg-options', *options],
        capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 1
    assert 'train.py: error: Cannot resume' in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_test_tool_names_a_missing_or_truncated_checkpoint(tmp_path,
                                                           monkeypatch):
    # before: a traceback from torch.load once the Runner was built
    (tmp_path / 'data').mkdir()
    root = data_root(tmp_path / 'data')
    truncated = tmp_path / 'epoch_1.pth'
    _checkpoint(truncated)
    truncated.write_bytes(truncated.read_bytes()[:100])
    options = [f'{k}={v}' for k, v in data_options(root).items()]
    for checkpoint, problem in ((tmp_path / 'missing.pth', 'does not exist'),
                                (truncated, 'incomplete')):
        monkeypatch.setattr(sys, 'argv', [
            'test.py', INTEGRAL, str(checkpoint), '--work-dir',
            str(tmp_path / 'work'), '--cfg-options', *options])
        with pytest.raises(FileNotFoundError, match=problem) as info:
            test_main()
        assert str(checkpoint) in str(info.value)


# ------------------------------------------------------- images (issue 22)
def test_truncated_image_is_named_as_corrupt(tmp_path):
    # before: preflight passed, and MMPose's LoadImage stopped training
    # with "Please check whether the file exists" for a file that exists
    root = data_root(tmp_path)
    image = tmp_path / 'train2017' / '000000000001.jpg'
    data = image.read_bytes()
    image.write_bytes(data[:len(data) // 2])
    from mmpose.datasets.transforms import LoadImage
    with pytest.raises(Exception, match='check whether the file exists'):
        LoadImage()(dict(img_path=str(image)))
    with pytest.raises(ValueError, match='corrupt') as info:
        check_annotation_files(config_for(root), phases=('train', ))
    message = str(info.value)
    assert str(image) in message
    assert 'train_dataloader.dataset.data_prefix.img' in message
    assert isinstance(info.value, PreflightError)
    # the val split's images are fine
    check_annotation_files(config_for(root), phases=('val', ))


def test_missing_image_file_is_named(tmp_path):
    root = data_root(tmp_path)
    image = tmp_path / 'val2017' / '000000000001.jpg'
    image.unlink()
    with pytest.raises(FileNotFoundError, match='missing') as info:
        check_annotation_files(config_for(root), phases=('val', ))
    assert str(image) in str(info.value)


def test_a_sample_of_a_large_split_is_decoded(tmp_path):
    # with more images than decoded_images, an evenly spread sample (the
    # first and the last included) is decoded; every file must exist
    images = [dict(id=i, file_name=f'{i:012d}.jpg', width=100, height=100)
              for i in range(1, 8)]
    ann = coco(person(1))
    ann['images'] = images
    root = data_root(tmp_path, train=ann)
    last = tmp_path / 'train2017' / images[-1]['file_name']
    last.write_bytes(b'not a jpeg')
    cfg = config_for(root)
    with pytest.raises(ValueError, match='1 of the 3 images decoded'):
        check_annotation_files(cfg, phases=('train', ), decoded_images=3)
    middle = tmp_path / 'train2017' / images[1]['file_name']
    last.write_bytes(middle.read_bytes())
    middle.write_bytes(b'not a jpeg')  # not in the sample of 3
    check_annotation_files(cfg, phases=('train', ), decoded_images=3)
    with pytest.raises(ValueError, match=str(middle)):
        check_annotation_files(cfg, phases=('train', ))


# --------------------------------------------- empty splits (issue 22)
def test_empty_split_with_detected_boxes_is_refused(tmp_path):
    # before: --num-val 0 wrote an empty split and empty detections; the
    # preflight passed and MMEngine stopped with "need at least one array
    # to concatenate"
    empty = coco()
    empty['images'] = []
    root = data_root(tmp_path, val=empty)
    detections = tmp_path / 'detections.json'
    detections.write_text('[]')
    cfg = config_for(root, **{'val_dataloader.dataset.bbox_file':
                              str(detections)})
    dataset = dict(cfg.val_dataloader.dataset, pipeline=[])
    dataset['data_root'] = root + '/'
    with pytest.raises(ValueError, match='concatenate'):
        DATASETS.build(dataset)
    with pytest.raises(ValueError, match='no person detection') as info:
        check_annotation_files(cfg, phases=('val', ))
    message = str(info.value)
    assert str(detections) in message and '--num-val' in message
    assert 'val_dataloader.dataset.bbox_file' in message


def test_detections_must_be_of_the_annotation_files_images(tmp_path):
    root = data_root(tmp_path)
    detections = tmp_path / 'detections.json'
    cfg = config_for(root, **{'val_dataloader.dataset.bbox_file':
                              str(detections)})
    box = dict(category_id=1, bbox=[10, 10, 50, 80], score=0.9)
    detections.write_text(json.dumps([dict(box, image_id=1),
                                      dict(box, image_id=42)]))
    with pytest.raises(ValueError, match=r'image_id 42'):
        check_annotation_files(cfg, phases=('val', ))
    # below the dataset's score threshold nothing is left
    detections.write_text(json.dumps([dict(box, image_id=1, score=0.2)]))
    check_annotation_files(cfg, phases=('val', ))
    cfg.val_dataloader.dataset.filter_cfg = dict(bbox_score_thr=0.5)
    with pytest.raises(ValueError, match='bbox_score_thr=0.5'):
        check_annotation_files(cfg, phases=('val', ))
    detections.write_text(json.dumps({'not': 'a list'}))
    with pytest.raises(ValueError, match='not a list of detections'):
        check_annotation_files(cfg, phases=('val', ))
