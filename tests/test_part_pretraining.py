"""The body-part pretraining: the generator's part maps, GeneratePartTarget,
PixelCrossEntropyLoss and the config trained by MMPose's train tool."""
import hashlib
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import REPO, cli_options, data_options
from mmcv.transforms import Compose
from mmengine.registry import init_default_scope
from mmpose.structures.bbox import get_warp_matrix

from mmipr.datasets import ensure_synthetic_coco, generate_synthetic_coco, render_image
from mmipr.datasets.synthetic_body import PART_CLASSES, draw_part
from mmipr.datasets.synthetic_coco import MARKER_FILE, part_map_path
from mmipr.utils.validation import InvalidArgumentError

PARTS = osp.join(REPO, 'configs', 'synthetic', 'pretrain_r18_parts.py')
SEED = 0


def _mirror_class(name: str) -> str:
    """The class a mirror turns ``name`` into, spelled out by name."""
    if name.startswith('left_'):
        return 'right_' + name[len('left_'):]
    if name.startswith('right_'):
        return 'left_' + name[len('right_'):]
    return name


MIRROR = np.array([PART_CLASSES.index(_mirror_class(n)) for n in PART_CLASSES])


def test_the_images_are_those_of_the_start_commit():
    # The part maps are painted beside the image; the image itself must not
    # change (digest of the raw renders made at e8d05f9, before part maps).
    digest = hashlib.sha256()
    for split in ('train', 'val'):
        for i in range(8):
            digest.update(render_image(5, split, i).image.tobytes())
    assert digest.hexdigest() == ('5cbd4f2887777d714e768f30cb97fe28'
                                  '7699ec0897360f3469a4a415ccab4620')


def _reference_part_map(scene) -> np.ndarray:
    """Each person's parts drawn alone with the generator's draw code, then
    composed by who is on top of each pixel (the id map): a pixel takes the
    part class of the person painted last there, 0 under an occluder."""
    h, w = scene.id_map.shape
    reference = np.zeros((h, w), np.uint8)
    for p, body in enumerate(scene.bodies):
        own = np.zeros((h, w), np.uint8)
        for part in body.parts:  # far to near
            draw_part(own, part, body.scale, body.offset, part.label, False)
        on_top = scene.id_map == scene.person_ids[p]
        reference[on_top] = own[on_top]
    return reference


def test_the_part_map_is_what_is_visible_of_every_persons_parts():
    covered_by_person = covered_by_occluder = 0
    for index in range(12):
        scene = render_image(SEED, 'val', index)
        assert scene.part_map.shape == scene.id_map.shape
        np.testing.assert_array_equal(scene.part_map,
                                      _reference_part_map(scene))
        # the cases that matter happen in these images: a person's part
        # covered by a later person, and one covered by an occluder
        for p in range(len(scene.bodies)):
            hidden = scene.person_masks[p] & ~scene.visible_mask(p)
            later = np.isin(scene.id_map, scene.person_ids)
            covered_by_person += int((hidden & later).sum())
            covered_by_occluder += int((hidden & ~later).sum())
    assert covered_by_person > 100 and covered_by_occluder > 100
    labels = np.unique(np.concatenate(
        [render_image(SEED, 'val', i).part_map.ravel() for i in range(12)]))
    assert set(labels) == set(range(len(PART_CLASSES)))


@pytest.fixture(scope='module')
def part_data(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp('part_data'))
    generate_synthetic_coco(root, num_train=4, num_val=3, seed=SEED,
                            workers=1, progress=False)
    return root


def _instance(root: str, ann_index: int):
    """(results dict before the pipeline, scene, person index) of one val
    annotation."""
    with open(osp.join(root, 'annotations',
                       'person_keypoints_val2017.json')) as f:
        coco = json.load(f)
    ann = coco['annotations'][ann_index]
    index = ann['image_id'] - 1
    scene = render_image(SEED, 'val', index)
    # the annotation's person among the scene's (same box)
    person = int(np.argmin([np.abs(np.asarray(b) - ann['bbox']).sum()
                            for b in scene.bboxes]))
    img_path = osp.join(root, 'val2017', f'{ann["image_id"]:012d}.jpg')
    img = cv2.imread(img_path)
    x, y, w, h = ann['bbox']
    results = dict(img=img, img_path=img_path, img_shape=img.shape[:2],
                   ori_shape=img.shape[:2],
                   bbox=np.array([[x, y, x + w, y + h]], np.float32),
                   bbox_score=np.ones(1, np.float32),
                   segmentation=ann['segmentation'])
    return results, scene, person


def _target(results: dict, flip: bool, rotation: float) -> dict:
    init_default_scope('mmpose')
    out = Compose([
        dict(type='GetBBoxCenterScale'),
        dict(type='RandomFlip', prob=float(flip), direction='horizontal'),
    ])(dict(results))
    out['bbox_rotation'] = np.array([rotation], np.float32)
    return Compose([
        dict(type='TopdownAffine', input_size=(96, 128)),
        dict(type='GeneratePartTarget', heatmap_size=(48, 64)),
    ])(out)


def _largest_instances(root: str, count: int) -> list:
    with open(osp.join(root, 'annotations',
                       'person_keypoints_val2017.json')) as f:
        anns = json.load(f)['annotations']
    return list(np.argsort([-a['area'] for a in anns])[:count])


@pytest.mark.parametrize('flip,rotation', [(False, 0.), (True, 0.),
                                           (False, 25.), (True, -30.)])
def test_the_part_target_is_the_part_map_warped_by_mmpose(part_data, flip,
                                                           rotation):
    # Reference: the scene's part map inside the person's exact silhouette
    # mask (not the annotation's polygons), mirrored with classes swapped by
    # name, warped by MMPose's warp matrix of the sample's centre and scale.
    for ann_index in _largest_instances(part_data, 3):
        results, scene, person = _instance(part_data, ann_index)
        out = _target(results, flip, rotation)
        heatmaps = out['heatmaps']
        assert heatmaps.shape == (len(PART_CLASSES), 64, 48)
        assert out['keypoint_weights'].shape == (1, len(PART_CLASSES))
        np.testing.assert_array_equal(heatmaps.sum(0), 1.0)  # one-hot
        expected = np.where(scene.person_masks[person], scene.part_map, 0)
        if flip:
            expected = MIRROR[expected[:, ::-1]].astype(np.uint8)
        warp = get_warp_matrix(out['input_center'], out['input_scale'],
                               rotation, output_size=(48, 64))
        expected = cv2.warpAffine(expected, warp, (48, 64),
                                  flags=cv2.INTER_NEAREST)
        got = heatmaps.argmax(0)
        person_pixels = (expected > 0) | (got > 0)
        assert person_pixels.sum() > 100
        # polygons (1 px approximation) against the exact mask: edges differ
        assert (got == expected)[person_pixels].mean() > 0.9


def test_a_flip_swaps_left_and_right_parts(part_data):
    limbs = [k for k, n in enumerate(PART_CLASSES) if n.startswith('left_')]
    for ann_index in _largest_instances(part_data, 3):
        results, _, _ = _instance(part_data, ann_index)
        plain = _target(results, False, 0.)['heatmaps'].argmax(0)
        flipped = _target(results, True, 0.)['heatmaps'].argmax(0)
        assert np.isin(plain, limbs).sum() > 20  # left limbs to swap
        # MMPose's (non-UDP) warp samples heatmap column j at the crop's
        # x = j * step, not (j + 1/2) * step, so the flipped crop is the
        # mirror shifted by one column
        mirrored = MIRROR[plain[:, ::-1]][:, :-1]
        flipped = flipped[:, 1:]
        person_pixels = (mirrored > 0) | (flipped > 0)
        assert (flipped == mirrored)[person_pixels].mean() > 0.98
        # without the swap, the limbs would disagree
        unswapped = plain[:, ::-1][:, :-1]
        limb_pixels = np.isin(unswapped, limbs)
        assert (flipped[limb_pixels] == unswapped[limb_pixels]).mean() < 0.2


def test_a_missing_part_map_and_bad_settings_are_clear_errors(part_data,
                                                              tmp_path):
    from mmipr.datasets.transforms import GeneratePartTarget
    results, _, _ = _instance(part_data, 0)
    results['img_path'] = str(tmp_path / 'val2017' / '000000000001.jpg')
    with pytest.raises(FileNotFoundError, match='regenerate it'):
        _target(results, False, 0.)
    with pytest.raises(InvalidArgumentError, match='permutation'):
        GeneratePartTarget((48, 64), num_classes=3, flip_indices=[0, 1, 1])
    with pytest.raises(InvalidArgumentError, match='num_classes'):
        GeneratePartTarget((48, 64), num_classes=1)


def test_part_map_path_is_beside_the_image_folder():
    assert part_map_path('/d/train2017/000000000007.jpg') == \
        '/d/parts/train2017/000000000007.png'


def test_a_dataset_made_before_the_part_maps_is_regenerated(tmp_path):
    root = str(tmp_path / 'old')
    generate_synthetic_coco(root, num_train=2, num_val=1, seed=SEED,
                            workers=1, progress=False)
    image = osp.join(root, 'train2017', '000000000001.jpg')
    with open(image, 'rb') as f:
        before = f.read()
    # what an older mmipr wrote: no part maps, no part_maps setting
    shutil.rmtree(osp.join(root, 'parts'))
    with open(osp.join(root, MARKER_FILE)) as f:
        marker = json.load(f)
    del marker['settings']['part_maps']
    with open(osp.join(root, MARKER_FILE), 'w') as f:
        json.dump(marker, f)
    assert ensure_synthetic_coco(root, num_train=2, num_val=1, seed=SEED,
                                 workers=1, progress=False) == 'generated'
    assert osp.exists(part_map_path(image))
    with open(image, 'rb') as f:
        assert f.read() == before
    # with the maps present but of an older layout, too
    marker['settings']['part_maps'] = 0
    with open(osp.join(root, MARKER_FILE), 'w') as f:
        json.dump(marker, f)
    assert ensure_synthetic_coco(root, num_train=2, num_val=1, seed=SEED,
                                 workers=1, progress=False) == 'generated'
    assert ensure_synthetic_coco(root, num_train=2, num_val=1, seed=SEED,
                                 workers=1, progress=False) == 'reused'


def test_the_pixel_cross_entropy_is_the_formula():
    from mmipr.models.losses import PixelCrossEntropyLoss
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 4, 3)
    target = F.one_hot(torch.randint(0, 5, (2, 4, 3)), 5).permute(
        0, 3, 1, 2).float()
    expected = -(target * torch.log_softmax(logits, 1)).sum(1).mean()
    loss = PixelCrossEntropyLoss(loss_weight=2.)(logits, target,
                                                 torch.ones(2, 5))
    torch.testing.assert_close(loss, 2 * expected)
    with pytest.raises(ValueError, match='one output channel per class'):
        PixelCrossEntropyLoss()(logits, target[:, :4])


@pytest.mark.slow
def test_the_part_pretraining_trains_with_mmposes_train_tool(tiny_coco,
                                                             tmp_path):
    work = tmp_path / 'work'
    options = {k: v for k, v in data_options(tiny_coco).items()
               if k.startswith('train_')}
    options.update({'train_cfg.max_epochs': 1,
                    'train_dataloader.dataset.indices': 8,
                    'train_dataloader.batch_size': 8})
    env = dict(os.environ, OMP_NUM_THREADS='1')
    subprocess.run([sys.executable, osp.join(REPO, 'tools', 'train.py'),
                    PARTS, '--work-dir', str(work), *cli_options(options)],
                   cwd=REPO, env=env, check=True, timeout=300,
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    checkpoint = torch.load(str(work / 'epoch_1.pth'), map_location='cpu',
                            weights_only=False)
    state = checkpoint['state_dict']
    assert any(k.startswith('backbone.') for k in state)
    assert state['head.final_layer.weight'].shape[0] == len(PART_CLASSES)
    with open(next(work.glob('*/vis_data/scalars.json'))) as f:
        loss = json.loads(f.readline())['loss']
    # an untrained 11-way softmax starts near log(11)
    assert 0.5 < loss < 2 * np.log(len(PART_CLASSES))
