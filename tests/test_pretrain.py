"""The study's neutral backbone pretraining: its silhouette target, its cache
and how its weights reach every variant."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from conftest import REPO
from mmcv.transforms import Compose
from mmengine.registry import init_default_scope

from mmipr.study.pretrain import pretrained_backbone
from mmipr.study.runs import RunSpec, build_config, lr_drops, synthetic_data_options
from mmipr.study.setup import initial_weights

PRETRAIN = osp.join(REPO, 'configs', 'synthetic', 'pretrain_r18_silhouette.py')
DETECTION = osp.join(REPO, 'configs', 'synthetic', 'sbl_r18_detection.py')

# An L-shaped person on a black 200x160 image: asymmetric, so that a mask
# flipped or rotated differently from the image cannot agree with it.
L_SHAPE = [40., 20., 90., 20., 90., 110., 130., 110., 130., 150., 40., 150.]


def _sample(flip: bool, rotation: float) -> dict:
    init_default_scope('mmpose')
    img = np.zeros((160, 200, 3), np.uint8)
    cv2.fillPoly(img, [np.asarray(L_SHAPE).reshape(-1, 2).astype(np.int32)],
                 (255, 255, 255))
    results = Compose([
        dict(type='GetBBoxCenterScale', padding=1.1),
        dict(type='RandomFlip', prob=float(flip), direction='horizontal'),
    ])(dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2],
            bbox=np.array([[40., 20., 130., 150.]], np.float32),
            bbox_score=np.ones(1, np.float32), segmentation=[L_SHAPE]))
    results['bbox_rotation'] = np.array([rotation], np.float32)
    return Compose([
        dict(type='TopdownAffine', input_size=(96, 128)),
        dict(type='GenerateSilhouetteTarget', heatmap_size=(48, 64)),
    ])(results)


@pytest.mark.parametrize('flip,rotation', [(False, 0.), (True, 0.),
                                           (False, 30.), (True, -35.)])
def test_the_silhouette_lies_where_mmpose_warped_the_person(flip, rotation):
    # Reference: MMPose's own warp of the image's pixels, reduced to the
    # heatmap grid; the target is built from the polygons alone.
    out = _sample(flip, rotation)
    mask = out['heatmaps'][0]
    assert mask.shape == (64, 48) and out['keypoint_weights'].shape == (1, 1)
    reference = cv2.resize(out['img'][..., 0].astype(np.float32) / 255.,
                           (48, 64), interpolation=cv2.INTER_AREA)
    inside, outside = reference > 0.9, reference < 0.1
    assert inside.sum() > 200 and outside.sum() > 200
    assert (mask[inside] > 0.5).mean() > 0.98
    assert (mask[outside] < 0.5).mean() > 0.98


def test_overlapping_polygons_of_one_instance_are_united():
    from mmipr.datasets.transforms import GenerateSilhouetteTarget
    square = [10., 10., 30., 10., 30., 30., 10., 30.]
    inner = [15., 15., 25., 15., 25., 25., 15., 25.]
    out = GenerateSilhouetteTarget((40, 40))(dict(
        segmentation=[square, inner], ori_shape=(40, 40),
        input_center=np.array([20., 20.]), input_scale=np.array([40., 40.])))
    assert out['heatmaps'][0, 20, 20] == 1.0  # no even-odd hole
    empty = GenerateSilhouetteTarget((40, 40))(dict(
        segmentation=[], ori_shape=(40, 40),
        input_center=np.array([20., 20.]), input_scale=np.array([40., 40.])))
    assert not empty['heatmaps'].any()


def test_an_instance_without_polygons_is_a_clear_error():
    from mmipr.datasets.transforms import GenerateSilhouetteTarget
    with pytest.raises(ValueError, match='COCO polygons'):
        GenerateSilhouetteTarget((48, 64))(dict(
            segmentation=None, img_path='a.jpg', ori_shape=(10, 10)))


def test_pretrained_backbone_is_trained_once_and_keyed(tiny_coco, tmp_path):
    weights, record = pretrained_backbone(PRETRAIN, tiny_coco, epochs=2,
                                          cache_dir=str(tmp_path))
    assert not record['reused'] and len(record['epoch_losses']) == 2
    state = torch.load(weights, weights_only=False)['state_dict']
    seeded = {k[len('backbone.'):]: v for k, v in torch.load(
        initial_weights(DETECTION, 0, str(tmp_path / 'init')),
        weights_only=False)['state_dict'].items()
        if k.startswith('backbone.')}
    assert set(state) == set(seeded)
    assert not torch.equal(state['conv1.weight'], seeded['conv1.weight'])
    again, reused = pretrained_backbone(PRETRAIN, tiny_coco, epochs=2,
                                        cache_dir=str(tmp_path))
    assert again == weights and reused['reused']
    assert record['sha256'] == reused['sha256'] and record['size'] > 0
    # other settings are another pretraining, which --reuse-only never trains
    with pytest.raises(FileNotFoundError, match='without --reuse-only'):
        pretrained_backbone(PRETRAIN, tiny_coco, epochs=1,
                            cache_dir=str(tmp_path), allow_training=False)
    # a zero-byte cached file used to break every later run (EOFError: Ran
    # out of input, no path): now it is named, set aside and retrained
    open(weights, 'wb').close()
    with pytest.warns(UserWarning, match=f'backbone {weights} is unusable: '
                      'it is empty'):
        again, rebuilt = pretrained_backbone(PRETRAIN, tiny_coco, epochs=2,
                                             cache_dir=str(tmp_path))
    assert again == weights and not rebuilt['reused']
    assert torch.load(weights, weights_only=True)['state_dict'].keys() == \
        state.keys()
    _committed_backbone_is_used_where_its_key_matches(tiny_coco, tmp_path)


def _committed_backbone_is_used_where_its_key_matches(tiny_coco, tmp_path):
    """weights/NAME.pth + NAME.json: written on request (from the cache
    here), then used by a fresh machine (an empty cache, no training
    allowed) while its key matches; another key is not used."""
    from mmipr.study.committed_weights import WeightsMismatchError, verify_weights
    folder = str(tmp_path / 'weights')
    path, record = pretrained_backbone(
        PRETRAIN, tiny_coco, epochs=2, cache_dir=str(tmp_path),
        weights_dir=folder, commit_weights=True, command='python x.py',
        commit='0123abc')
    assert path == osp.join(folder, 'pretrain_r18_silhouette.pth')
    assert record['committed'] and record['command'] == 'python x.py'
    on_disk = verify_weights(path)  # sha256 and size
    # the commit the study started at, not HEAD when the file was written
    assert on_disk['commit'] == '0123abc'
    assert on_disk['settings_key'] == record['settings_key']
    assert on_disk['final']['loss'] == record['epoch_losses'][-1]
    cached_path, _ = pretrained_backbone(PRETRAIN, tiny_coco, epochs=2,
                                         cache_dir=str(tmp_path))
    cached = torch.load(cached_path, weights_only=True)['state_dict']
    committed = torch.load(path, weights_only=True)['state_dict']
    assert all(committed[k].dtype == torch.float16 for k in committed
               if committed[k].is_floating_point())
    assert torch.allclose(committed['conv1.weight'].float(),
                          cached['conv1.weight'], atol=1e-2)
    # a fresh machine: empty cache, training not allowed
    used, used_record = pretrained_backbone(
        PRETRAIN, tiny_coco, epochs=2, cache_dir=str(tmp_path / 'empty'),
        weights_dir=folder, allow_training=False)
    assert used == path and used_record['reused']
    # another pretraining (1 epoch) has another key: not this file
    with pytest.raises(FileNotFoundError, match='without --reuse-only'):
        pretrained_backbone(PRETRAIN, tiny_coco, epochs=1,
                            cache_dir=str(tmp_path / 'empty'),
                            weights_dir=folder, allow_training=False)
    # a swapped file is refused, naming both
    with open(path, 'ab') as f:
        f.write(b'x')
    with pytest.raises(WeightsMismatchError, match='does not match'):
        pretrained_backbone(PRETRAIN, tiny_coco, epochs=2,
                            cache_dir=str(tmp_path / 'empty'),
                            weights_dir=folder, allow_training=False)


def test_a_killed_pretraining_resumes_and_its_record_covers_every_epoch(
        tiny_coco, tmp_path, monkeypatch):
    import mmipr.study.pretrain as pretrain
    calls = []
    real = pretrain.PretrainingLogHook.after_train_epoch

    def killed_after_first_epoch(self, runner):
        real(self, runner)
        calls.append(runner.epoch)
        if len(calls) == 1:
            runner.train_loop.stop_training = True  # as if killed here

    monkeypatch.setattr(pretrain.PretrainingLogHook, 'after_train_epoch',
                        killed_after_first_epoch)
    with pytest.raises(RuntimeError, match='covers epochs'):
        pretrained_backbone(PRETRAIN, tiny_coco, epochs=2,
                            cache_dir=str(tmp_path))
    _, record = pretrained_backbone(PRETRAIN, tiny_coco, epochs=2,
                                    cache_dir=str(tmp_path))
    assert calls == [0, 1]  # the second call trained epoch 2 only
    assert len(record['epoch_losses']) == 2 and record['train_seconds'] > 0


def test_every_variant_gets_the_backbone_over_the_same_seeded_head(tmp_path):
    seeded = torch.load(initial_weights(DETECTION, 3, str(tmp_path)),
                        weights_only=False)['state_dict']
    backbone = {k[len('backbone.'):]: torch.full_like(v, 0.5)
                for k, v in seeded.items() if k.startswith('backbone.')}
    path = str(tmp_path / 'backbone.pth')
    torch.save(dict(state_dict=backbone), path)
    loaded = torch.load(initial_weights(DETECTION, 3, str(tmp_path),
                                        backbone=path),
                        weights_only=False)['state_dict']
    assert set(loaded) == set(seeded)
    for key, value in loaded.items():
        expected = backbone[key[len('backbone.'):]] \
            if key.startswith('backbone.') else seeded[key]
        assert torch.equal(value, expected), key


def test_every_run_has_mmposes_schedule_shape(tiny_coco, tmp_path):
    """lr x0.1 at 170/210 and 200/210 of training, rounded, the second at
    most T - 1 and the first before it (MMPose's 210-epoch recipe exactly)."""
    assert lr_drops(210) == [170, 200]
    assert lr_drops(30) == [24, 29]  # the pilot schedule
    for epochs in range(3, 101):
        first, second = lr_drops(epochs)
        assert 1 <= first < second <= epochs - 1
        # no farther from the exact fraction than the rounding needs
        assert abs(second - 200 / 210 * epochs) <= 1
        assert abs(first - 170 / 210 * epochs) <= 1.5
    with pytest.raises(ValueError, match='at least 3 epochs'):
        lr_drops(2)
    cfg = build_config(RunSpec('detection', DETECTION, epochs=30,
                               cfg_options=synthetic_data_options(tiny_coco)),
                       str(tmp_path))
    steps = [s for s in cfg.param_scheduler if s.type == 'MultiStepLR']
    assert [s.milestones for s in steps] == [[24, 29]]
    # the warm-up is the config's, untouched
    assert cfg.param_scheduler[0].type == 'LinearLR'
    # about ten validations, and the last epoch's
    assert cfg.train_cfg.val_interval == 3


def test_the_synthetic_configs_train_with_the_studys_recipe():
    from mmengine.config import Config
    cfg = Config.fromfile(DETECTION)
    steps = [s for s in cfg.param_scheduler if s.type == 'MultiStepLR']
    assert steps[0].milestones == lr_drops(cfg.train_cfg.max_epochs)
