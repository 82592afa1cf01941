"""The drop-in recipe of docs/heads.md, tried on MMPose's own top-down configs.

One stock ``HeatmapHead`` config per keypoint family installed with MMPose
(body, hand, face, animal, fashion, wholebody; with and without
deconvolutions, with a neck, K from 8 to 294, square and 4:3 inputs) gets the
documented change, written as a user writes it: a config file whose
``_base_`` is MMPose's config and whose lines are those of docs/heads.md
("Any top-down heatmap config"), plus the base's training pipeline with the
new codec given to ``GenerateTarget``. The model is then built and run on a
sample made by the config's own pipelines: ``loss`` is finite and
backpropagates into the backbone, and flip-test ``predict`` returns K finite
keypoints inside the crop with scores in [0, 1].

Only the input size is shrunk, consistently (codec, affine transforms), to a
size the backbone accepts (HRNet needs multiples of 32), so that each case runs
in seconds on a CPU; K, flip indices, backbone, neck and head trunk are the
config's.
"""
import os.path as osp
import re

import mmpose
import numpy as np
import pytest
import torch
from conftest import REPO, one_torch_thread
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope
from mmpose.registry import DATASETS, MODELS

MMPOSE_CONFIGS = osp.join(osp.dirname(mmpose.__file__), '.mim', 'configs')

#: family -> one stock top-down HeatmapHead config of MMPose (relative to its
#: configs folder); what each adds to the coverage is in its id
FAMILY_CONFIGS = {
    'body-coco-hrnet-w32-no-deconv':
    'body_2d_keypoint/topdown_heatmap/coco/'
    'td-hm_hrnet-w32_8xb64-210e_coco-256x192.py',
    'body-mpii-res50-k16':
    'body_2d_keypoint/topdown_heatmap/mpii/td-hm_res50_8xb64-210e_mpii-256x256.py',
    'hand-onehand10k-hrnetv2-w18-neck':
    'hand_2d_keypoint/topdown_heatmap/onehand10k/'
    'td-hm_hrnetv2-w18_8xb64-210e_onehand10k-256x256.py',
    'face-wflw-hrnetv2-w18-k98':
    'face_2d_keypoint/topdown_heatmap/wflw/'
    'td-hm_hrnetv2-w18_8xb64-60e_wflw-256x256.py',
    'face-coco-wholebody-face-res50-k68':
    'face_2d_keypoint/topdown_heatmap/coco_wholebody_face/'
    'td-hm_res50_8xb32-60e_coco-wholebody-face-256x256.py',
    'animal-animalpose-res50-k20':
    'animal_2d_keypoint/topdown_heatmap/animalpose/'
    'td-hm_res50_8xb64-210e_animalpose-256x256.py',
    'fashion-deepfashion-full-res50-k8':
    'fashion_2d_keypoint/topdown_heatmap/deepfashion/'
    'td-hm_res50_8xb64-210e_deepfashion_full-256x192.py',
    'fashion-deepfashion2-sling-res50-k294':
    'fashion_2d_keypoint/topdown_heatmap/deepfashion2/'
    'td-hm_res50_4xb64-210e_deepfasion2-sling-256x192.py',
    'wholebody-coco-wholebody-res50-k133':
    'wholebody_2d_keypoint/topdown_heatmap/coco-wholebody/'
    'td-hm_res50_8xb64-210e_coco-wholebody-256x192.py',
}

#: the lines of docs/heads.md's recipe ("Any top-down heatmap config"); the
#: codec's input size is the base's
RECIPE = """
custom_imports = dict(imports=['mmipr'], allow_failed_imports=False)
codec = dict(type='RegressionLabel', input_size={input_size})
model = dict(
    head=dict(
        type='IntegralHead',
        loss=dict(_delete_=True, type='VisibleL1Loss', use_target_weight=True),
        prior_loss=dict(type='KLPriorLoss', sigma=2.0),
        decoder=dict(_delete_=True, **codec)),
    test_cfg=dict(_delete_=True, flip_test=True, shift_coords=True,
                  shift_heatmap=False))
"""

#: the keys MMPose's BaseCocoStyleDataset copies from its metainfo into
#: every sample (``get_data_info``)
METAINFO_KEYS = ('dataset_name', 'upper_body_ids', 'lower_body_ids',
                 'flip_pairs', 'dataset_keypoint_weights', 'flip_indices',
                 'skeleton_links')


def recipe_block(text: str) -> str:
    """The ```python block of docs/heads.md's section ``text``."""
    with open(osp.join(REPO, 'docs', 'heads.md')) as f:
        doc = f.read()
    start = doc.index(text)
    return re.search(r'```python\n(.*?)```', doc[start:], re.S).group(1)


def test_recipe_is_the_documented_one():
    """The test applies exactly the lines docs/heads.md documents."""
    documented = recipe_block('### Any top-down heatmap config')
    expected = RECIPE.format(input_size='(192, 256)').strip()
    assert expected in documented


def stock_config(relpath: str) -> Config:
    cfg = Config.fromfile(osp.join(MMPOSE_CONFIGS, relpath))
    # what makes it a stock top-down heatmap config
    assert cfg.model.type == 'TopdownPoseEstimator'
    assert cfg.model.head.type == 'HeatmapHead'
    assert cfg.model.head.decoder.type == 'MSRAHeatmap'
    return cfg


def apply_recipe(relpath: str, tmp_path) -> Config:
    """The config a user writes from docs/heads.md on MMPose's ``relpath``."""
    base = stock_config(relpath)
    delta = tmp_path / 'integral.py'
    delta.write_text(
        f"_base_ = [{osp.join(MMPOSE_CONFIGS, relpath)!r}]\n"
        + RECIPE.format(input_size=tuple(base.codec.input_size)))
    cfg = Config.fromfile(str(delta))
    # "give GenerateTarget in train_pipeline the new codec". (The merged
    # cfg.codec is not it: MMEngine merges a top-level dict into the base's,
    # so it still holds MSRAHeatmap's sigma and heatmap_size.)
    for step in cfg.train_dataloader.dataset.pipeline:
        if step.type == 'GenerateTarget':
            step.encoder = dict(cfg.model.head.decoder)
    return cfg


def shrink(cfg: Config) -> tuple:
    """Divide the input size by the largest of 4, 2 that leaves both sides
    multiples of 32, everywhere the config uses it; return the new size."""
    w, h = cfg.model.head.decoder.input_size
    div = next(d for d in (4, 2, 1) if (w // d) % 32 == 0 and (h // d) % 32 == 0
               and w % d == 0 and h % d == 0)
    size = (w // div, h // div)
    cfg.model.head.decoder.input_size = size
    for phase in ('train', 'val'):
        for step in cfg[f'{phase}_dataloader'].dataset.pipeline:
            if step.type == 'TopdownAffine':
                step.input_size = size
            if step.type == 'GenerateTarget':
                step.encoder.input_size = size
    return size


def raw_sample(metainfo: dict, num_keypoints: int, input_size: tuple,
               seed: int) -> dict:
    """One instance as a top-down dataset gives it: an image twice the input
    size, a box in its middle, keypoints inside the box (the first three
    unlabelled)."""
    rng = np.random.default_rng(seed)
    w, h = 2 * input_size[0], 2 * input_size[1]
    x1, y1, x2, y2 = w / 4, h / 4, 3 * w / 4, 3 * h / 4
    keypoints = np.stack([rng.uniform(x1, x2, num_keypoints),
                          rng.uniform(y1, y2, num_keypoints)], -1)
    visible = np.ones(num_keypoints, np.float32)
    visible[:3] = 0
    sample = dict(
        img=rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
        img_id=seed, id=seed, category_id=1,
        bbox=np.array([[x1, y1, x2, y2]], np.float32),
        bbox_score=np.ones(1, np.float32),
        keypoints=keypoints[None].astype(np.float32),
        keypoints_visible=visible[None],
        num_keypoints=num_keypoints - 3)
    sample.update({k: metainfo[k] for k in METAINFO_KEYS if k in metainfo})
    return sample


@pytest.mark.parametrize('relpath', FAMILY_CONFIGS.values(),
                         ids=FAMILY_CONFIGS.keys())
def test_drop_in_recipe_on_mmpose_family_config(relpath, tmp_path):
    init_default_scope('mmpose')
    np.random.seed(0)  # MMPose's random transforms draw from numpy
    torch.manual_seed(0)
    base = stock_config(relpath)
    cfg = apply_recipe(relpath, tmp_path)
    input_size = shrink(cfg)
    head = cfg.model.head
    # the base's trunk is kept: only type, losses and codec changed
    for key, value in base.model.head.items():
        if key not in ('type', 'loss', 'decoder'):
            assert head[key] == value, key
    assert head.type == 'IntegralHead'
    assert dict(cfg.model.test_cfg) == dict(
        flip_test=True, shift_coords=True, shift_heatmap=False)

    dataset = cfg.train_dataloader.dataset
    # the dataset's own metainfo (built without reading its annotations)
    metainfo = DATASETS.build(
        dict(dataset, lazy_init=True, pipeline=[])).metainfo
    num_keypoints = metainfo['num_keypoints']
    assert head.out_channels == num_keypoints

    cfg.model.backbone.init_cfg = None  # no ImageNet download
    model = MODELS.build(cfg.model)
    model.init_weights()  # MMPose's head init: final conv std 0.001
    train_pipeline = Compose(dataset.pipeline)
    val_pipeline = Compose(cfg.val_dataloader.dataset.pipeline)
    raws = [raw_sample(metainfo, num_keypoints, input_size, seed)
            for seed in (1, 2)]
    with one_torch_thread():
        batch = pseudo_collate([train_pipeline(dict(r)) for r in raws])
        labels = batch['data_samples'][0].gt_instance_labels
        assert labels.keypoint_labels.shape == (1, num_keypoints, 2)
        model.train()
        losses = model(**model.data_preprocessor(batch, True), mode='loss')
        assert {'loss_kpt', 'loss_prior'} <= set(losses)
        assert all(torch.isfinite(v).all() for v in losses.values())
        sum(v for k, v in losses.items() if k.startswith('loss')).backward()
        stem = next(model.backbone.parameters())
        assert stem.grad is not None and torch.isfinite(stem.grad).all()
        assert stem.grad.abs().sum() > 0

        model.eval()
        batch = pseudo_collate([val_pipeline(dict(r)) for r in raws])
        with torch.no_grad():
            results = model(**model.data_preprocessor(batch, False),
                            mode='predict')
    assert len(results) == 2
    for res in results:
        assert res.metainfo['flip_indices'] == metainfo['flip_indices']
        keypoints = res.pred_instances.keypoints  # image pixels
        scores = res.pred_instances.keypoint_scores
        assert keypoints.shape == (1, num_keypoints, 2)
        assert scores.shape == (1, num_keypoints)
        assert np.isfinite(keypoints).all() and np.isfinite(scores).all()
        assert ((scores >= 0) & (scores <= 1)).all()
        # a confidence, not MMPose's IntegralRegressionHead's constant 1
        # (mmpose#2679): the initialised head's heatmaps are nearly flat
        assert (scores < 0.5).all()
        # an expectation over the heatmap lies inside the crop
        center, scale = res.metainfo['input_center'], res.metainfo['input_scale']
        assert (np.abs(keypoints - center) <= scale / 2 + 1e-3).all()
