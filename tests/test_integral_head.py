"""IntegralHead: agreement with MMPose's IntegralRegressionHead, shapes,
scores, flip test, and drop-in use in MMPose's own configs."""
import copy
import os.path as osp

import mmpose
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpose.models.heads import IntegralRegressionHead
from mmpose.registry import MODELS
from mmpose.testing import get_packed_inputs

import mmipr  # noqa: F401  (registers IntegralHead, KLPriorLoss)
from mmipr.models.heads import IntegralHead

CFG_DIR = osp.join(osp.dirname(mmpose.__file__), '.mim', 'configs',
                   'body_2d_keypoint')
TD_HM = osp.join(CFG_DIR, 'topdown_heatmap', 'coco',
                 'td-hm_res50_8xb64-210e_coco-256x192.py')
IPR = osp.join(CFG_DIR, 'integral_regression', 'coco',
               'ipr_res50_8xb64-210e_coco-256x256.py')
L1 = dict(type='L1Loss', use_target_weight=True)


def _samples(B, K, input_size, heatmap_size, seed=0):
    torch.manual_seed(seed)
    np.random.seed(seed)  # get_packed_inputs shuffles flip_indices with it
    return get_packed_inputs(
        B, num_keypoints=K, input_size=input_size, heatmap_size=heatmap_size,
        img_shape=input_size[::-1], with_heatmap=False,
        with_simcc_label=False)['data_samples']


def _codec(input_size):
    return dict(type='RegressionLabel', input_size=input_size)


@pytest.mark.parametrize('debias', [False, True])
def test_same_trunk_weights_give_mmpose_ipr_outputs(debias):
    B, K, C = 2, 5, 32
    W, H = 12, 16  # heatmap, after two deconvolutions of (3, 4) features
    input_size = (48, 64)
    trunk = dict(deconv_out_channels=(16, 16), deconv_kernel_sizes=(4, 4))
    ref = IntegralRegressionHead(
        in_channels=C, in_featuremap_size=(3, 4), num_joints=K,
        debias=debias, loss=L1, decoder=_codec(input_size), **trunk)
    ours = IntegralHead(in_channels=C, out_channels=K, debias=debias,
                        decoder=_codec(input_size), **trunk)
    ref.init_weights()
    state = {k[len('simplebaseline_head.'):]: v
             for k, v in ref.state_dict().items()
             if k.startswith('simplebaseline_head.')}
    ours.load_state_dict(state)
    ref.eval(), ours.eval()

    feats = (torch.randn(B, C, 4, 3) * 50, )  # trained-like logit range
    samples = _samples(B, K, input_size, (W, H))
    coords_ref, hm_ref = ref(feats)
    coords, hm = ours(feats)
    torch.testing.assert_close(coords, coords_ref, rtol=0, atol=1e-6)
    torch.testing.assert_close(hm, hm_ref, rtol=0, atol=1e-6)
    assert coords.std() > 1e-3  # not a degenerate comparison

    loss_ref, loss = ref.loss(feats, samples), ours.loss(feats, samples)
    torch.testing.assert_close(loss['loss_kpt'], loss_ref['loss_kpt'])
    assert loss['acc_pose'] == loss_ref['acc_pose']

    for test_cfg in ({}, dict(flip_test=True, shift_coords=True)):
        f = [feats, (torch.randn(B, C, 4, 3) * 50, )] if test_cfg else feats
        preds_ref = ref.predict(copy.deepcopy(f), samples, test_cfg)
        preds = ours.predict(copy.deepcopy(f), samples, test_cfg)
        for p, q in zip(preds, preds_ref):
            np.testing.assert_allclose(p.keypoints, q.keypoints, atol=1e-4)
            assert p.keypoint_scores.shape == q.keypoint_scores.shape


def _identity_head(K, input_size, **kw):
    """No trunk: the features are the heatmap logits."""
    return IntegralHead(in_channels=K, out_channels=K, deconv_out_channels=None,
                        final_layer=None, decoder=_codec(input_size), **kw)


def test_flip_test_is_consistent_with_mmpose_pixel_convention():
    # With stride 1 (input size = heatmap size) flipping the image flips the
    # heatmap exactly, so for an equivariant "network" (no trunk) flip test
    # must reproduce the unflipped prediction.
    B, K, H, W = 2, 6, 16, 12
    samples = _samples(B, K, (W, H), (W, H))
    flip_indices = [1, 0, 2, 4, 3, 5]  # left/right pairs: an involution
    for s in samples:
        s.set_metainfo(dict(flip_indices=flip_indices))
    logits = torch.randn(B, K, H, W) * 4
    logits_flip = logits.flip(-1)[:, flip_indices]
    head = _identity_head(K, (W, H))
    plain = head.predict((logits, ), samples)
    flipped = head.predict([(logits, ), (logits_flip, )], samples,
                           dict(flip_test=True, shift_coords=True))
    for p, q in zip(plain, flipped):
        np.testing.assert_allclose(q.keypoints, p.keypoints, atol=1e-4)
        np.testing.assert_allclose(q.keypoint_scores, p.keypoint_scores,
                                   atol=1e-6)
    unshifted = head.predict([(logits, ), (logits_flip, )], samples,
                             dict(flip_test=True, shift_coords=False))
    np.testing.assert_allclose(
        unshifted[0].keypoints[..., 0] - plain[0].keypoints[..., 0], 0.5,
        atol=1e-4)


def test_scores_are_the_activation_sum_around_the_prediction():
    K, H, W = 3, 64, 48
    logits = torch.zeros(1, K, H, W)
    logits[0, 0, 40, 30] = 20.0  # delta
    logits[0, 1] = -((torch.arange(W) - 10.0)**2)[None] / 8 \
        - ((torch.arange(H) - 20.0)**2)[:, None] / 8  # sigma 2 Gaussian
    # joint 2: flat
    head = _identity_head(K, (W * 4, H * 4), score_window=2)
    pred, = head.predict((logits, ), _samples(1, K, (W * 4, H * 4), (W, H)))
    np.testing.assert_allclose(pred.keypoints[0, 0], [120, 160], atol=1e-3)
    s = pred.keypoint_scores[0]
    assert s[0] > 0.999
    g = torch.exp(-torch.arange(-2, 3.0)**2 / 8)
    full = torch.exp(-torch.arange(-60, 61.0)**2 / 8)
    np.testing.assert_allclose(s[1], (g.sum() / full.sum())**2, rtol=1e-4)
    np.testing.assert_allclose(s[2], 25 / (H * W), rtol=1e-4)


@pytest.mark.parametrize('K', [14, 16, 21])
@pytest.mark.parametrize('heatmap_size', [(48, 64), (64, 64)])
@pytest.mark.parametrize('deconv', [True, False])
def test_any_k_size_and_trunk(K, heatmap_size, deconv):
    W, H = heatmap_size
    input_size = (4 * W, 4 * H)
    if deconv:
        trunk = dict(deconv_out_channels=(16, 16, 16))
        feats = (torch.rand(2, 24, H // 8, W // 8), )
    else:
        trunk = dict(deconv_out_channels=None)
        feats = (torch.rand(2, 24, H, W), )
    head = IntegralHead(
        in_channels=24, out_channels=K, decoder=_codec(input_size),
        prior_loss=dict(type='KLPriorLoss', sigma=2.0), **trunk)
    head.init_weights()
    samples = _samples(2, K, input_size, heatmap_size)
    losses = head.loss(feats, samples)
    assert set(losses) == {'loss_kpt', 'loss_prior', 'acc_pose'}
    (losses['loss_kpt'] + losses['loss_prior']).backward()
    assert all(torch.isfinite(p.grad).all() for p in head.parameters())

    head.eval()
    preds, fields = head.predict(
        [feats, (feats[0].flip(-1), )], samples,
        dict(flip_test=True, output_heatmaps=True))
    for pred, field in zip(preds, fields):
        assert pred.keypoints.shape == (1, K, 2)
        assert pred.keypoint_scores.shape == (1, K)
        assert ((pred.keypoints >= 0) & (pred.keypoints <= input_size)).all()
        assert ((pred.keypoint_scores > 0) & (pred.keypoint_scores <= 1)).all()
        assert field.heatmaps.shape == (K, H, W)
        torch.testing.assert_close(field.heatmaps.sum(dim=(1, 2)),
                                   torch.ones(K))


def test_prior_uses_the_heads_softmax():
    K, H, W = 4, 16, 12
    head = _identity_head(K, (W, H), beta=3.0,
                          prior_loss=dict(type='KLPriorLoss', sigma=1.0,
                                          loss_weight=1.0))
    logits = torch.randn(2, K, H, W)
    samples = _samples(2, K, (W, H), (W, H))
    labels = torch.cat([d.gt_instance_labels.keypoint_labels for d in samples])
    standalone = MODELS.build(dict(type='KLPriorLoss', sigma=1.0, beta=3.0,
                                   loss_weight=1.0))
    expected = standalone(logits, labels * torch.tensor([W, H]),
                          torch.ones(2, K))
    torch.testing.assert_close(head.loss((logits, ), samples)['loss_prior'],
                               expected)
    with pytest.raises(ValueError, match='beta'):
        _identity_head(K, (W, H), beta=3.0,
                       prior_loss=dict(type='KLPriorLoss', beta=1.0))


def test_bad_configuration_raises_clear_errors():
    with pytest.raises(ValueError, match='RegressionLabel'):
        IntegralHead(in_channels=8, out_channels=3, decoder=dict(
            type='MSRAHeatmap', input_size=(48, 64), heatmap_size=(12, 16),
            sigma=2))
    head = _identity_head(3, (12, 16))
    samples = _samples(1, 3, (12, 16), (12, 16))
    del samples[0].gt_instance_labels.keypoint_labels
    with pytest.raises(ValueError, match='keypoint_labels'):
        head.loss((torch.zeros(1, 3, 16, 12), ), samples)


def _drop_in(cfg_file, head_changes, codec):
    """Model config of an MMPose config with only the listed changes."""
    cfg = Config.fromfile(cfg_file)
    model = cfg.model
    model.backbone.init_cfg = None  # no pretrained weights offline
    model.init_cfg = None
    head = model.head
    for key in ('in_featuremap_size', 'num_joints'):
        head.pop(key, None)
    # item assignment replaces; ConfigDict.update would merge into the
    # base's loss and codec dicts
    for key, value in dict(type='IntegralHead', out_channels=17,
                           decoder=codec, **head_changes).items():
        head[key] = value
    return model


DROP_IN = [
    (TD_HM, dict(type='RegressionLabel', input_size=(192, 256))),
    (IPR, dict(type='IntegralRegressionLabel', input_size=(256, 256),
               heatmap_size=(64, 64), sigma=2.0, normalize=True)),
]
HEAD_CHANGES = dict(loss=dict(type='L1Loss', use_target_weight=True),
                    prior_loss=dict(type='KLPriorLoss', sigma=2.0))


@pytest.mark.parametrize('cfg_file,codec', DROP_IN)
def test_drop_in_mmpose_configs_resnet18(cfg_file, codec):
    """As the slow test below, with ResNet-18 instead of 50 for speed."""
    model_cfg = _drop_in(cfg_file, HEAD_CHANGES, codec)
    model_cfg.backbone.depth = 18
    model_cfg.head.in_channels = 512
    _check_drop_in(model_cfg, codec)


@pytest.mark.slow
@pytest.mark.parametrize('cfg_file,codec', DROP_IN)
def test_drop_in_mmpose_configs(cfg_file, codec):
    _check_drop_in(_drop_in(cfg_file, HEAD_CHANGES, codec), codec)


def _check_drop_in(model_cfg, codec):
    init_default_scope('mmpose')
    model = MODELS.build(model_cfg)
    model.init_weights()
    input_size = codec['input_size']
    packed = get_packed_inputs(
        2, input_size=input_size, img_shape=input_size[::-1],
        heatmap_size=tuple(s // 4 for s in input_size),
        with_heatmap=codec['type'] == 'IntegralRegressionLabel',
        with_simcc_label=False)
    data = model.data_preprocessor(packed, training=True)
    losses = model(**data, mode='loss')
    assert {'loss_kpt', 'loss_prior', 'acc_pose'} <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values())

    model.eval()
    assert model.test_cfg['flip_test']
    with torch.no_grad():
        results = model(**model.data_preprocessor(packed), mode='predict')
    for res in results:
        kpts = res.pred_instances.keypoints  # image space
        # inside the crop the bbox was warped from
        center = res.metainfo['input_center']
        scale = res.metainfo['input_scale']
        assert (np.abs(kpts - center) <= scale / 2 + 1e-3).all()
        scores = res.pred_instances.keypoint_scores
        assert scores.shape == (1, 17) and ((scores > 0) & (scores <= 1)).all()
