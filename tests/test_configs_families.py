"""The HRNet, hand and heatmap-start configs (configs/hrnet, configs/hand,
configs/from_heatmap): they build, are exactly the deltas they claim on
MMPose's configs, are listed in configs/README.md with the reference numbers
of MMPose's metafiles, and ``mim train mmipr <name>`` finds them."""
import ast
import copy
import glob
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import zipfile

import mmpose
import numpy as np
import pytest
import yaml
from conftest import REPO
from mim.utils import recursively_find
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpose.datasets import CocoWholeBodyHandDataset
from mmpose.registry import MODELS, TRANSFORMS

from mmipr.engine import check_annotation_files

MMPOSE_CONFIGS = osp.join(osp.dirname(mmpose.__file__), '.mim', 'configs')
FOLDERS = ('hrnet', 'hand', 'from_heatmap')
NEW_CONFIGS = sorted(
    osp.relpath(p, osp.join(REPO, 'configs')) for folder in FOLDERS
    for p in glob.glob(osp.join(REPO, 'configs', folder, '*.py')))
HEAD_TRUNK = ('in_channels', 'out_channels', 'deconv_out_channels',
              'deconv_kernel_sizes', 'conv_out_channels', 'conv_kernel_sizes',
              'final_layer')


def config_path(rel: str) -> str:
    return osp.join(REPO, 'configs', rel)


def readme_rows() -> dict:
    """configs/README.md's table rows of the new configs: path -> cells."""
    rows = {}
    with open(osp.join(REPO, 'configs', 'README.md')) as f:
        for line in f:
            m = re.match(r'\| `((?:%s)/[^`]+\.py)` \|(.*)\|\s*$'
                         % '|'.join(FOLDERS), line)
            if m:
                rows[m.group(1)] = [c.strip().strip('`')
                                    for c in m.group(2).split('|')]
    return rows


def declared_base(path: str) -> str:
    """The ``_base_`` a config file declares (one entry)."""
    with open(path) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == '_base_':
            bases = ast.literal_eval(node.value)
            bases = [bases] if isinstance(bases, str) else bases
            assert len(bases) == 1
            return bases[0]
    raise AssertionError(f'{path} declares no _base_')


def mmpose_base(path: str) -> str:
    """The MMPose config (relative to its configs folder) that ``path``'s
    chain of ``_base_`` reaches."""
    base = declared_base(path)
    if base.startswith('mmpose::'):
        return base[len('mmpose::'):]
    return mmpose_base(osp.normpath(osp.join(osp.dirname(path), base)))


def metafile_entry(base: str) -> dict:
    """The model entry of MMPose's metafiles for the config ``base``."""
    folder = osp.join(MMPOSE_CONFIGS, osp.dirname(base))
    for yml in glob.glob(osp.join(folder, '*.yml')):
        with open(yml) as f:
            for model in yaml.safe_load(f)['Models']:
                if model['Config'] == f'configs/{base}':
                    return model
    raise AssertionError(f'no metafile entry for {base}')


def plain(value):
    """``value`` (a config dict, list, ...) without the registry scope
    (``_scope_``) MMEngine adds to what a base from another package
    defines, at any depth."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if k != '_scope_'}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    return value


def test_readme_lists_every_new_config():
    assert sorted(readme_rows()) == NEW_CONFIGS
    # 3 HRNet, 7 hand bases x 2, 4 heatmap starts
    assert len(NEW_CONFIGS) == 21


@pytest.mark.parametrize('rel', NEW_CONFIGS)
def test_new_config_builds_without_data(rel):
    init_default_scope('mmpose')
    cfg = Config.fromfile(config_path(rel))
    assert cfg.custom_imports == dict(imports=['mmipr'],
                                      allow_failed_imports=False)
    head = cfg.model.head
    model = MODELS.build(cfg.model)
    assert type(model.head).__name__ == head.type
    for t in (cfg.train_dataloader.dataset.pipeline
              + cfg.val_dataloader.dataset.pipeline
              + cfg.test_dataloader.dataset.pipeline):
        TRANSFORMS.build(copy.deepcopy(t))  # building adds _scope_
    # the head's codec is the one the training targets are encoded with
    targets = [t for t in cfg.train_dataloader.dataset.pipeline
               if t.type == 'GenerateTarget']
    assert len(targets) == 1
    assert plain(targets[0].encoder) == plain(head.decoder)
    # the top-level pipelines are the ones that run (MMEngine scopes the
    # steps a base from another package defines: _scope_ aside)
    for phase in ('train', 'val'):
        assert [plain(s) for s in cfg[f'{phase}_pipeline']] == \
            [plain(s) for s in cfg[f'{phase}_dataloader'].dataset.pipeline]
    # checkpoints written atomically, validation resumed after a kill
    assert cfg.default_hooks.checkpoint.type == 'AtomicCheckpointHook'
    assert 'ResumeValidationHook' in [h.type for h in cfg.custom_hooks]


@pytest.mark.parametrize(
    'rel', [r for r in NEW_CONFIGS if not r.startswith('from_heatmap/')])
def test_config_is_the_stated_delta_on_its_mmpose_base(rel):
    """Everything but the head's type, losses, codec and test_cfg (and, for
    the COCO ones, the evaluator and hooks) is MMPose's config."""
    row = readme_rows()[rel]
    base_rel = mmpose_base(config_path(rel))
    assert osp.basename(base_rel) == row[3]
    base = Config.fromfile(osp.join(MMPOSE_CONFIGS, base_rel))
    cfg = Config.fromfile(config_path(rel))
    head, base_head = cfg.model.head, base.model.head
    cfg, base = plain(cfg.to_dict()), plain(base.to_dict())
    head, base_head = cfg['model']['head'], base['model']['head']
    for key in ('backbone', 'neck', 'data_preprocessor'):
        assert cfg['model'].get(key) == base['model'].get(key), key
    for key in HEAD_TRUNK:
        assert head.get(key) == base_head.get(key), key
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg',
                'auto_scale_lr'):
        assert cfg[key] == base[key], key
    for phase in ('val', 'test'):
        assert cfg[f'{phase}_dataloader'] == base[f'{phase}_dataloader']
    train, base_train = cfg['train_dataloader'], base['train_dataloader']
    assert {k: v for k, v in train.items() if k != 'dataset'} == \
        {k: v for k, v in base_train.items() if k != 'dataset'}
    assert {k: v for k, v in train['dataset'].items() if k != 'pipeline'} \
        == {k: v for k, v in base_train['dataset'].items()
            if k != 'pipeline'}
    # the base's training pipeline step for step; only the targets' codec
    # differs
    steps = train['dataset']['pipeline']
    base_steps = base_train['dataset']['pipeline']
    assert [s['type'] for s in steps] == [s['type'] for s in base_steps]
    for step, base_step in zip(steps, base_steps):
        if step['type'] != 'GenerateTarget':
            assert step == base_step
    assert head['decoder']['input_size'] == base_head['decoder']['input_size']

    prior = head.get('prior_loss')
    assert (prior['sigma'] if prior else '-') == (
        '-' if row[2] == '-' else float(row[2]))
    if rel.startswith('hand/'):
        assert head['type'] == 'IntegralHead'
        assert head['loss']['type'] == 'VisibleL1Loss'
        assert head['decoder']['type'] == 'RegressionLabel'
        assert cfg['model']['test_cfg'] == dict(
            flip_test=True, shift_coords=True, shift_heatmap=False)
        assert cfg['val_evaluator'] == base['val_evaluator']
        assert cfg['test_evaluator'] == base['test_evaluator']
        assert [m['type'] for m in cfg['val_evaluator']] == [
            'PCKAccuracy', 'AUC', 'EPE']
        assert head['out_channels'] == 21
    else:
        assert head['type'] == row[0] and head['decoder']['type'] == row[1]
        assert cfg['val_evaluator']['type'] == 'DifficultySplitCocoMetric'
        assert cfg['val_evaluator']['ann_file'] == \
            base['val_evaluator']['ann_file']


@pytest.mark.parametrize(
    'rel', [r for r in NEW_CONFIGS if r.startswith('hrnet/')])
def test_hrnet_variant_is_its_simplebaseline_twin_on_hrnet(rel):
    """The HRNet variants change the network only: head type, losses,
    codec, test_cfg, prior, evaluator and hooks are the SBL-R50 config's."""
    twin = Config.fromfile(osp.join(
        REPO, 'configs',
        osp.basename(rel).replace('hrnet_w32_', 'sbl_r50_')))
    cfg = Config.fromfile(config_path(rel))
    head, twin_head = cfg.model.head, twin.model.head
    for key in ('type', 'beta', 'debias', 'loss', 'decoder', 'prior_loss',
                'score_window'):
        assert head.get(key) == twin_head.get(key), key
    assert cfg.model.test_cfg == twin.model.test_cfg
    for key in ('val_evaluator', 'test_evaluator', 'custom_hooks',
                'train_pipeline', 'val_pipeline'):
        assert cfg[key] == twin[key], key
    assert cfg.default_hooks.checkpoint.type == \
        twin.default_hooks.checkpoint.type
    assert cfg.val_dataloader.dataset.bbox_file == \
        twin.val_dataloader.dataset.bbox_file


@pytest.mark.parametrize('rel', NEW_CONFIGS)
def test_readme_reference_numbers_are_mmpose_metafile_numbers(rel):
    row = readme_rows()[rel]
    base = mmpose_base(config_path(rel))
    metrics = metafile_entry(base)['Results'][0]['Metrics']
    if rel.startswith('hand/'):
        assert [float(c) for c in row[4:7]] == [
            metrics['PCK@0.2'], metrics['AUC'], metrics['EPE']]
    else:
        assert float(row[-1]) == round(100 * metrics['AP'], 1)
        assert row[-2] == osp.basename(base)


@pytest.mark.parametrize(
    'rel', [r for r in NEW_CONFIGS if r.startswith('from_heatmap/')])
def test_heatmap_start_loads_mmpose_published_heatmap_model(rel):
    """``load_from`` is the metafile's checkpoint of the same network, every
    tensor of it fits the model, and the rest is the ImageNet config with
    MMPose's IPR recipe."""
    init_default_scope('mmpose')
    cfg = Config.fromfile(config_path(rel))
    base_rel = mmpose_base(config_path(rel))
    assert cfg.load_from == metafile_entry(base_rel)['Weights']
    # the checkpoint's network: MMPose's heatmap model of that config
    reference = MODELS.build(
        Config.fromfile(osp.join(MMPOSE_CONFIGS, base_rel)).model)
    model = MODELS.build(cfg.model)
    assert {k: v.shape for k, v in model.state_dict().items()} == \
        {k: v.shape for k, v in reference.state_dict().items()}
    assert cfg.model.backbone.init_cfg is None
    # the config it inherits (ImageNet start), with only the start changed
    inherited_rel = readme_rows()[rel][0]
    assert osp.normpath(osp.join(osp.dirname(rel), declared_base(
        config_path(rel)))) in (inherited_rel, osp.join(
            'from_heatmap', osp.basename(rel).replace('_kl2', '')))
    inherited = Config.fromfile(config_path(inherited_rel))
    cfg_dict, inherited_dict = cfg.to_dict(), inherited.to_dict()
    cfg_dict.pop('load_from')
    inherited_dict.pop('load_from', None)
    cfg_dict['model']['backbone'].pop('init_cfg')
    inherited_dict['model']['backbone'].pop('init_cfg')
    assert cfg_dict == inherited_dict
    # MMPose's IPR recipe: the heatmap schedule, whole
    ipr = Config.fromfile(osp.join(
        MMPOSE_CONFIGS, 'body_2d_keypoint/integral_regression/coco/'
        'ipr_res50_8xb64-210e_coco-256x256.py'))
    assert cfg.train_cfg.max_epochs == ipr.train_cfg.max_epochs
    assert plain(cfg.optim_wrapper) == plain(ipr.optim_wrapper)
    assert cfg.param_scheduler[-1].milestones == \
        ipr.param_scheduler[-1].milestones
    assert plain(cfg.auto_scale_lr) == plain(ipr.auto_scale_lr)


def test_mim_resolves_every_new_config_by_its_name():
    """``mim train mmipr <name>`` looks for ``<name>`` under the package
    (``recursively_find`` over it, links followed: .mim/configs is a link to
    configs/) and needs exactly one hit. Here on the source package, as an
    editable install has it."""
    package = osp.join(REPO, 'mmipr')
    for rel in NEW_CONFIGS:
        found = recursively_find(package, osp.basename(rel), followlinks=True)
        assert len(found) == 1, (rel, found)
        assert osp.realpath(found[0]) == osp.realpath(config_path(rel))


def _copy_ignore(folder, names):
    return [n for n in names if n in ('.git', 'build', 'dist', '__pycache__',
                                      '.pytest_cache', '.ruff_cache', 'data',
                                      'work_dirs')
            or n.endswith('.egg-info')]


def build_wheel(folder) -> str:
    """mmipr's wheel, built in ``folder`` from a clean copy of the working
    tree (no stale build/ of the checkout); its path."""
    src = osp.join(folder, 'src')
    shutil.copytree(REPO, src, symlinks=True, ignore=_copy_ignore)
    out = osp.join(folder, 'wheel')
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps',
                    '--no-build-isolation', '-q', '-w', out, src],
                   check=True, timeout=300)
    wheel, = glob.glob(osp.join(out, '*.whl'))
    return wheel


def test_built_wheel_carries_the_new_configs_where_mim_finds_them(tmp_path):
    """setup.cfg's package data puts the new config folders into the wheel,
    and mim's lookup in the unpacked package finds each one, byte for
    byte."""
    wheel = build_wheel(str(tmp_path))
    unpacked = tmp_path / 'site'
    with zipfile.ZipFile(wheel) as z:
        z.extractall(unpacked)
    package = str(unpacked / 'mmipr')
    for rel in NEW_CONFIGS:
        found = recursively_find(package, osp.basename(rel), followlinks=True)
        assert len(found) == 1, (rel, found)
        assert found[0] == osp.join(package, '.mim', 'configs', rel)
        with open(found[0], 'rb') as a, open(config_path(rel), 'rb') as b:
            assert a.read() == b.read()
    assert os.listdir(osp.join(package, '.mim', 'configs', 'hand'))


def _coco_wholebody_file(path: str, left_valid: bool = True) -> None:
    """One person whose left hand is labelled (``left_valid``; else no hand
    is), in COCO-WholeBody's format: 17 body keypoints in ``keypoints``, the
    hands' 21 in ``*hand_kpts``."""
    rng = np.random.default_rng(0)

    def labelled(k):
        return np.concatenate([rng.uniform(20, 60, (k, 2)),
                               np.full((k, 1), 2.0)], -1).ravel().tolist()

    ann = dict(id=1, image_id=1, category_id=1, iscrowd=0,
               bbox=[10, 10, 80, 80], area=6400.0, num_keypoints=17,
               keypoints=labelled(17), segmentation=[],
               lefthand_kpts=labelled(21), lefthand_valid=left_valid,
               lefthand_box=[15, 15, 50, 50],
               righthand_kpts=[0.0] * 63, righthand_valid=False,
               righthand_box=[0, 0, 0, 0])
    with open(path, 'w') as f:
        json.dump(dict(images=[dict(id=1, file_name='a.png', width=100,
                                    height=100)],
                       annotations=[ann],
                       categories=[dict(id=1, name='person')]), f)


def _coco_wholebody_hand_config(root, left_valid: bool = True):
    """The ResNet-50 COCO-WholeBody-Hand config on a data root under
    ``root`` whose annotation files are :func:`_coco_wholebody_file`'s and
    whose images exist."""
    import mmcv
    for folder in ('annotations', 'train2017', 'val2017'):
        (root / folder).mkdir()
    for split in ('train', 'val'):
        _coco_wholebody_file(str(
            root / 'annotations' / f'coco_wholebody_{split}_v1.0.json'),
            left_valid)
        mmcv.imwrite(np.zeros((100, 100, 3), np.uint8),
                     str(root / f'{split}2017' / 'a.png'))
    cfg = Config.fromfile(
        config_path('hand/res50_coco_wholebody_hand_integral.py'))
    for phase in ('train', 'val', 'test'):
        cfg[f'{phase}_dataloader'].dataset.data_root = str(root) + '/'
    return cfg


def test_preflight_accepts_a_coco_wholebody_hand_file(tmp_path):
    # before: refused, comparing the 17 body keypoints with K = 21
    cfg = _coco_wholebody_hand_config(tmp_path)
    # MMPose reads the file: one hand instance of 21 keypoints
    dataset = CocoWholeBodyHandDataset(
        ann_file=str(tmp_path / 'annotations/coco_wholebody_val_v1.0.json'),
        data_prefix=dict(img=str(tmp_path / 'val2017')), test_mode=True)
    assert len(dataset) == 1
    assert dataset[0]['keypoints'].shape == (1, 21, 2)
    check_annotation_files(cfg, phases=('train', 'val'))


def test_preflight_refuses_a_coco_wholebody_file_without_a_valid_hand(
        tmp_path):
    cfg = _coco_wholebody_hand_config(tmp_path, left_valid=False)
    # MMPose reads no instance from it, and says so obscurely
    with pytest.raises(ValueError, match='need at least one array'):
        CocoWholeBodyHandDataset(
            ann_file=str(
                tmp_path / 'annotations/coco_wholebody_val_v1.0.json'),
            data_prefix=dict(img=str(tmp_path / 'val2017')), test_mode=True)
    with pytest.raises(ValueError, match='no hand that CocoWholeBodyHand'
                       'Dataset reads') as info:
        check_annotation_files(cfg, phases=('train', ))
    message = str(info.value)
    assert 'coco_wholebody_train_v1.0.json' in message
    assert 'lefthand_valid' in message and 'train_dataloader' in message


def test_preflight_names_a_wholebody_hand_of_another_keypoint_count(
        tmp_path):
    cfg = _coco_wholebody_hand_config(tmp_path)
    path = tmp_path / 'annotations' / 'coco_wholebody_train_v1.0.json'
    data = json.loads(path.read_text())
    data['annotations'][0]['lefthand_kpts'] = \
        data['annotations'][0]['lefthand_kpts'][:60]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match='20 keypoints in lefthand_kpts, '
                       'but model.head.out_channels says 21'):
        check_annotation_files(cfg, phases=('train', ))
