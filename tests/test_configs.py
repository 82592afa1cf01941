"""The paper's configs: they load, build without data, and match configs/README.md."""
import glob
import os.path as osp
import re

import numpy as np
import pytest
from conftest import REPO
from mmengine.config import Config
from mmpose.registry import MODELS, TRANSFORMS

COCO_CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', 'sbl_r50_*.py')))
SYNTHETIC_CONFIGS = sorted(
    glob.glob(osp.join(REPO, 'configs', 'synthetic', 'sbl_r18_*.py')))


def readme_table() -> dict:
    rows = {}
    with open(osp.join(REPO, 'configs', 'README.md')) as f:
        for line in f:
            m = re.match(r'\| `(sbl_r50_[^`]+\.py)` \|(.*)\|\s*$', line)
            if m:
                cells = [c.strip() for c in m.group(2).split('|')]
                rows[m.group(1)] = dict(
                    head=cells[1].split()[0], codec=cells[2],
                    sigma=cells[3], prior=cells[4],
                    debias=('gu2021' if 'gu2021' in cells[1]
                            else 'debias' in cells[1]))
    return rows


def number(cell: str):
    return None if cell == '-' else float(cell)


def test_readme_lists_every_coco_config():
    assert sorted(readme_table()) == sorted(
        osp.basename(p) for p in COCO_CONFIGS)
    assert len(COCO_CONFIGS) == 16


@pytest.mark.parametrize('path', COCO_CONFIGS, ids=osp.basename)
def test_coco_config_builds_without_data_and_matches_readme(path):
    cfg = Config.fromfile(path)
    assert cfg.custom_imports == dict(imports=['mmipr'],
                                      allow_failed_imports=False)
    row = readme_table()[osp.basename(path)]
    head = cfg.model.head
    assert head.type == row['head']
    assert head.decoder.type == row['codec']
    assert head.decoder.input_size == (192, 256)
    assert cfg.model.backbone.depth == 50
    assert cfg.model.backbone.init_cfg.checkpoint == 'torchvision://resnet50'
    if row['head'] == 'ArgmaxHead':
        assert head.decoder.sigma == number(row['sigma'])
        assert head.decoder.heatmap_size == (48, 64)
        assert head.loss.type == 'KeypointMSELoss'
    else:
        assert head.loss.type == 'VisibleL1Loss'
        assert head.get('debias', False) == row['debias']
        prior = head.get('prior_loss')
        assert (prior.sigma if prior else None) == number(row['prior'])
    # the codec of the head is the one the training pipeline encodes with
    targets = [t for t in cfg.train_dataloader.dataset.pipeline
               if t.type == 'GenerateTarget']
    assert {k: v for k, v in targets[0].encoder.items() if k != '_scope_'} \
        == {k: v for k, v in head.decoder.items() if k != '_scope_'}
    model = MODELS.build(cfg.model)
    assert type(model.head).__name__ == row['head']
    for t in cfg.train_dataloader.dataset.pipeline + \
            cfg.val_dataloader.dataset.pipeline:
        TRANSFORMS.build(t)
    # evaluator: checked by its arguments (building it reads the annotations)
    for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
        assert evaluator.type == 'DifficultySplitCocoMetric'
        assert evaluator.ann_file == \
            'data/coco/annotations/person_keypoints_val2017.json'
    assert cfg.val_dataloader.dataset.bbox_file == (
        'data/coco/person_detection_results/'
        'COCO_val2017_detections_AP_H_56_person.json')
    assert cfg.train_cfg.max_epochs == 210
    assert cfg.optim_wrapper.optimizer.type == 'Adam'
    assert cfg.optim_wrapper.optimizer.lr == 5e-4
    assert cfg.auto_scale_lr.base_batch_size == 512


@pytest.mark.parametrize('path', SYNTHETIC_CONFIGS, ids=osp.basename)
def test_synthetic_config_cannot_drift_from_coco(path):
    name = osp.basename(path).replace('sbl_r18_', 'sbl_r50_')
    coco = Config.fromfile(osp.join(REPO, 'configs', name)).model.head
    cfg = Config.fromfile(path)
    head = cfg.model.head
    for key in ('type', 'beta', 'debias', 'final_layer'):
        assert head.get(key) == coco.get(key), key
    assert head.loss.type == coco.loss.type
    assert head.loss.use_target_weight == coco.loss.use_target_weight
    assert head.decoder.type == coco.decoder.type
    # the paper's heatmap geometry: every sigma and window is the paper's
    assert head.decoder.get('heatmap_size') == coco.decoder.get('heatmap_size')
    for key in ('sigma', 'unbiased'):
        assert head.decoder.get(key) == coco.decoder.get(key), key
    assert head.get('score_window') == coco.get('score_window')
    prior, coco_prior = head.get('prior_loss'), coco.get('prior_loss')
    assert (prior is None) == (coco_prior is None)
    if prior:  # the same prior: type, sigma, divergence, weight
        assert prior == coco_prior
    targets = [t for t in cfg.train_dataloader.dataset.pipeline
               if t.type == 'GenerateTarget']
    assert {k: v for k, v in targets[0].encoder.items() if k != '_scope_'} \
        == {k: v for k, v in head.decoder.items() if k != '_scope_'}
    assert cfg.val_evaluator.type == 'DifficultySplitCocoMetric'
    model = MODELS.build(cfg.model)
    # 128x96 input -> 64x48 heatmaps
    import torch
    with torch.no_grad():
        feats = model.extract_feat(torch.zeros(1, 3, 128, 96))
        out = model.head.forward(feats)
    heatmaps = out[1] if isinstance(out, tuple) else out
    assert heatmaps.shape[-2:] == (64, 48)


ALL_CONFIGS = sorted(
    glob.glob(osp.join(REPO, 'configs', '**', '*.py'), recursive=True))


def test_all_configs_are_found():
    assert set(COCO_CONFIGS + SYNTHETIC_CONFIGS) < set(ALL_CONFIGS)
    assert any(p.endswith('learnability_r18_detection.py')
               for p in ALL_CONFIGS)


@pytest.mark.parametrize('path', ALL_CONFIGS,
                         ids=lambda p: osp.relpath(p, REPO))
def test_top_level_pipelines_are_the_ones_that_run(path):
    """Every config's top-level pipeline variables (after inheritance) are
    the pipelines its dataloaders run: a reader (or a child config that
    reuses ``train_pipeline``) sees what trains."""
    cfg = Config.fromfile(path)
    for phase in ('train', 'val', 'test'):
        pipeline = cfg.get(f'{phase}_pipeline')
        if pipeline is None:
            continue
        loader = cfg.get(f'{phase}_dataloader')
        assert loader is not None, (
            f'{phase}_pipeline is defined but no {phase}_dataloader runs it')
        assert loader.dataset.pipeline == pipeline, (
            f'{phase}_dataloader.dataset.pipeline is not {phase}_pipeline')
    # without a test_pipeline, the test loader runs the val pipeline
    if cfg.get('test_pipeline') is None and cfg.get('test_dataloader'):
        assert cfg.test_dataloader.dataset.pipeline == cfg.val_pipeline
    assert cfg.train_pipeline is not None


def test_learnability_config_is_the_synthetic_detection_with_sigma_2():
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', 'synthetic', 'learnability_r18_detection.py'))
    base = Config.fromfile(
        osp.join(REPO, 'configs', 'synthetic', 'sbl_r18_detection.py'))
    head = cfg.model.head
    assert head.type == 'ArgmaxHead' and head.decoder.sigma == 2
    assert head.decoder.unbiased  # DARK targets and decoding
    assert cfg.model.backbone == base.model.backbone
    assert cfg.optim_wrapper.type == 'CPUAmpOptimWrapper'
    assert 'ChannelsLastHook' in [h.type for h in cfg.custom_hooks]
    targets = [t for t in cfg.train_dataloader.dataset.pipeline
               if t.type == 'GenerateTarget']
    assert {k: v for k, v in targets[0].encoder.items() if k != '_scope_'} \
        == {k: v for k, v in head.decoder.items() if k != '_scope_'}
    assert cfg.val_dataloader.dataset.bbox_file is None
    assert cfg.val_evaluator.ann_file.startswith(cfg.data_root)
    milestones = cfg.param_scheduler[-1].milestones
    assert milestones == [cfg.train_cfg.max_epochs - 1]
    # the base's augmentation, with images decoded once (CachedLoadImage)
    types = [t.type for t in cfg.train_dataloader.dataset.pipeline]
    base_types = [t.type for t in base.train_dataloader.dataset.pipeline]
    assert types == ['CachedLoadImage'] + base_types[1:]
    # the cache lives in the process that loads: the main one here
    assert cfg.train_dataloader.num_workers == 0
    MODELS.build(cfg.model)


class _ReadKeys(dict):
    """A test_cfg that records which keys the head reads."""

    def __init__(self, *args):
        super().__init__(*args)
        self.read = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self.read.add(key)
        return super().__contains__(key)


@pytest.mark.parametrize('path', COCO_CONFIGS + SYNTHETIC_CONFIGS,
                         ids=osp.basename)
def test_every_test_cfg_key_is_read_by_the_head(path):
    import torch
    from mmpose.structures import PoseDataSample
    cfg = Config.fromfile(path)
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model).eval()
    w, h = cfg.model.head.decoder.input_size
    sample = PoseDataSample(metainfo=dict(
        flip_indices=list(range(17)), input_size=(w, h),
        input_center=np.array([w / 2, h / 2]),
        input_scale=np.array([w, h], dtype=np.float32)))
    test_cfg = _ReadKeys(cfg.model.test_cfg)
    # the head's input, as the backbone gives it (stride 32)
    feats = (torch.zeros(1, cfg.model.head.in_channels, h // 32, w // 32), )
    with torch.no_grad():
        if test_cfg.get('flip_test'):
            feats = [feats, feats]
        model.head.predict(feats, [sample], test_cfg=test_cfg)
    assert set(cfg.model.test_cfg) <= test_cfg.read, (
        f'test_cfg keys the head never reads: '
        f'{sorted(set(cfg.model.test_cfg) - test_cfg.read)}')
