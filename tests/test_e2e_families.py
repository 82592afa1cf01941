"""A hand config and an HRNet config trained for one epoch and tested on the
CPU through tools/train.py and tools/test.py, on tiny data in their formats;
and ``mim train mmipr <name>`` of a new config on a wheel-installed mmipr.

The hand data is written here in OneHand10K's format (COCO-style, 21
keypoints, one hand per image); the COCO body data is the synthetic
generator's (``conftest.tiny_coco``). ``--cfg-options`` shrink the networks
(narrow ResNet-18 / HRNet, narrow deconvolutions) and nothing else: data
format, pipelines, codec, head type, losses, flip test and evaluators are the
configs'.
"""
import json
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import REPO, cli_options, data_options
from test_configs_families import build_wheel

pytestmark = pytest.mark.slow

HAND_CONFIG = 'configs/hand/res50_onehand10k_integral_kl2.py'
HRNET_CONFIG = 'configs/hrnet/hrnet_w32_integral_kl2.py'
NUM_HAND_KEYPOINTS = 21


def write_onehand10k(root: str, num_train: int = 8, num_val: int = 4,
                     seed: int = 0) -> None:
    """A OneHand10K-format dataset: ``annotations/onehand10k_{train,test}.json``
    and their images, one hand (21 keypoints, a few unlabelled) per image,
    each keypoint drawn as a dot so that the images are not noise."""
    rng = np.random.default_rng(seed)
    for split, count in (('train', num_train), ('test', num_val)):
        images, annotations = [], []
        for i in range(count):
            img_id = len(images) + (0 if split == 'train' else 1000)
            h, w = 120, 160
            img = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
            x0, y0 = rng.uniform(20, 60), rng.uniform(15, 35)
            bw, bh = rng.uniform(50, 80), rng.uniform(50, 70)
            xy = np.stack([rng.uniform(x0, x0 + bw, NUM_HAND_KEYPOINTS),
                           rng.uniform(y0, y0 + bh, NUM_HAND_KEYPOINTS)], -1)
            v = np.full(NUM_HAND_KEYPOINTS, 2)
            v[rng.choice(NUM_HAND_KEYPOINTS, 3, replace=False)] = 0
            for k, (x, y) in enumerate(xy):
                if v[k]:
                    cv2.circle(img, (int(x), int(y)), 2,
                               (255, 12 * k, 255 - 12 * k), -1)
            xy[v == 0] = 0
            name = f'{split}/{img_id:06d}.png'
            cv2.imwrite(osp.join(root, name), img)
            images.append(dict(id=img_id, file_name=name, width=w, height=h))
            labelled = xy[v > 0]
            x1, y1 = labelled.min(0) - 4
            x2, y2 = labelled.max(0) + 4
            annotations.append(dict(
                id=img_id, image_id=img_id, category_id=1, iscrowd=0,
                bbox=[float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
                area=float((x2 - x1) * (y2 - y1)),
                num_keypoints=int((v > 0).sum()),
                keypoints=np.concatenate([xy, v[:, None]], -1).ravel()
                .round(2).tolist()))
        data = dict(images=images, annotations=annotations,
                    categories=[dict(id=1, name='hand', supercategory='hand',
                                     keypoints=[str(k) for k in
                                                range(NUM_HAND_KEYPOINTS)],
                                     skeleton=[])])
        with open(osp.join(root, 'annotations', f'onehand10k_{split}.json'),
                  'w') as f:
            json.dump(data, f)


@pytest.fixture(scope='module')
def tiny_onehand10k(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp('onehand10k')
    for folder in ('annotations', 'train', 'test'):
        (root / folder).mkdir()
    write_onehand10k(str(root))
    return str(root) + '/'


def short_run(**options) -> dict:
    """One epoch of two iterations, in the main process."""
    run = {'train_cfg.max_epochs': 1, 'train_cfg.val_interval': 1,
           'train_dataloader.batch_size': 4}
    for phase in ('train', 'val', 'test'):
        run[f'{phase}_dataloader.num_workers'] = 0
        run[f'{phase}_dataloader.persistent_workers'] = False
    run.update(options)
    return run


def train_and_test(config: str, options: dict, work_dir: str) -> dict:
    """tools/train.py then tools/test.py on the last checkpoint; the test
    metrics (``--out``)."""
    env = dict(OMP_NUM_THREADS='1', PATH=osp.dirname(sys.executable)
               + ':/usr/bin:/bin')
    for tool, extra in (('train.py', []),
                        ('test.py', [osp.join(work_dir, 'epoch_1.pth'),
                                     '--out',
                                     osp.join(work_dir, 'metrics.json')])):
        proc = subprocess.run(
            [sys.executable, osp.join(REPO, 'tools', tool), config, *extra,
             '--work-dir', work_dir, *cli_options(options)],
            cwd=REPO, env=env, timeout=300, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert proc.returncode == 0, f'{tool} failed:\n{proc.stdout[-5000:]}'
    with open(osp.join(work_dir, 'metrics.json')) as f:
        return json.load(f)


def test_hand_config_trains_and_tests_on_onehand10k_format(
        tiny_onehand10k, tmp_path):
    root = tiny_onehand10k
    options = short_run(**{
        f'{phase}_dataloader.dataset.data_root': root
        for phase in ('train', 'val', 'test')})
    options.update({
        # a narrow ResNet-18 (32 output channels) and narrow deconvolutions;
        # 256x256 input and 64x64 heatmaps as the config's
        'model.backbone.depth': 18,
        'model.backbone.stem_channels': 8,
        'model.backbone.base_channels': 4,
        'model.backbone.init_cfg': None,
        'model.head.in_channels': 32,
        'model.head.deconv_out_channels': (16, 16, 16),
    })
    metrics = train_and_test(HAND_CONFIG, options, str(tmp_path))
    # the base config's hand metrics, on the 4 test hands
    assert set(metrics) == {'PCK', 'AUC', 'EPE'}
    assert 0 <= metrics['PCK'] <= 1 and 0 <= metrics['AUC'] <= 1
    assert np.isfinite(metrics['EPE']) and metrics['EPE'] > 0


def hrnet_options(data_root: str) -> dict:
    """A short run of an HRNet-W32 config on ``data_root``, HRNet at an
    eighth of W32's widths, one block per branch; the head keeps HRNet's
    form: no deconvolution, a 1x1 conv from the highest-resolution branch to
    64x48 heatmaps."""
    options = short_run(**data_options(data_root))
    options['train_dataloader.dataset.indices'] = 8
    extra = 'model.backbone.extra'
    options.update({
        f'{extra}.stage1.num_blocks': (1, ),
        f'{extra}.stage1.num_channels': (8, ),
        'model.backbone.init_cfg': None,
        'model.head.in_channels': 4,
    })
    for stage, branches in (('stage2', 2), ('stage3', 3), ('stage4', 4)):
        options[f'{extra}.{stage}.num_modules'] = 1
        options[f'{extra}.{stage}.num_blocks'] = (1, ) * branches
        options[f'{extra}.{stage}.num_channels'] = tuple(
            4 * 2**b for b in range(branches))
    return options


def test_hrnet_config_trains_and_tests_on_synthetic_coco(tiny_coco,
                                                         tmp_path):
    metrics = train_and_test(HRNET_CONFIG, hrnet_options(tiny_coco),
                             str(tmp_path))
    with open(osp.join(tiny_coco, 'annotations',
                       'person_keypoints_val2017.json')) as f:
        anns = json.load(f)['annotations']
    evaluated = [a for a in anns
                 if a['num_keypoints'] > 0 and not a.get('iscrowd', 0)]
    assert 0 <= metrics['coco/AP'] <= 1
    assert metrics['coco/all/count'] == len(evaluated)


def test_mim_train_finds_a_new_config_by_name(tiny_coco, tmp_path):
    """``mim train mmipr <name>`` from another directory, on mmipr installed
    from a wheel of this tree (into a folder put first on PYTHONPATH, not
    the environment's site-packages): mim finds the config in the package's
    .mim/configs/hrnet/ and trains it."""
    site = tmp_path / 'site'
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-deps',
                    '-q', '--target', str(site), build_wheel(str(tmp_path))],
                   check=True, timeout=300)
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    work = tmp_path / 'work'
    name = osp.basename(HRNET_CONFIG)
    proc = subprocess.run(
        [osp.join(osp.dirname(sys.executable), 'mim'), 'train', 'mmipr',
         name, '--work-dir', str(work),
         *cli_options(hrnet_options(tiny_coco))],
        cwd=str(elsewhere), timeout=300, text=True,
        env=dict(OMP_NUM_THREADS='1', PYTHONPATH=str(site),
                 PATH=osp.dirname(sys.executable) + ':/usr/bin:/bin'),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.returncode == 0, f'mim train failed:\n{proc.stdout[-5000:]}'
    resolved = osp.join(str(site), 'mmipr', '.mim', 'configs', 'hrnet', name)
    assert f'will use {resolved} instead' in proc.stdout
    assert (work / 'epoch_1.pth').is_file()
