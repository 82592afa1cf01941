"""ArgmaxHead against MMPose's HeatmapHead with the same weights."""
import os.path as osp

import mmpose
import numpy as np
import pytest
import torch
from mmpose.models.heads import HeatmapHead
from mmpose.registry import MODELS
from mmpose.structures import PoseDataSample
from mmpose.testing import get_packed_inputs

import mmipr  # noqa: F401  (registers; conftest imports it first)
from mmipr.models.heads import argmax_head
from mmipr.models.heads.argmax_head import ArgmaxHead

MMPOSE_CONFIG = osp.join(
    osp.dirname(mmpose.__file__), '.mim', 'configs', 'body_2d_keypoint',
    'topdown_heatmap', 'coco', 'td-hm_res50_8xb64-210e_coco-256x192.py')


def head_pair(K, heatmap_size, deconv, unbiased=False, codec_type=None):
    """An ArgmaxHead with random weights and a HeatmapHead loaded from it."""
    W, H = heatmap_size
    decoder = {
        'type': codec_type or 'MSRAHeatmap',
        'input_size': (W * 4, H * 4),
        'heatmap_size': heatmap_size,
        'sigma': 2}
    if codec_type is None:
        decoder.update(unbiased=unbiased, blur_kernel_size=11)
    cfg = {
        'in_channels': 8,
        'out_channels': K,
        'deconv_out_channels': (8, 8) if deconv else None,
        'deconv_kernel_sizes': (4, 4) if deconv else None,
        'decoder': decoder}
    head = MODELS.build(dict(type='ArgmaxHead', **cfg))
    ref = MODELS.build(dict(type='HeatmapHead', **cfg))
    torch.manual_seed(K)
    with torch.no_grad():
        for p in head.parameters():
            p.normal_()
    ref.load_state_dict(head.state_dict())
    return head.eval(), ref.eval()


def features(K, heatmap_size, deconv, B=3):
    W, H = heatmap_size
    scale = 4 if deconv else 1
    g = torch.Generator().manual_seed(K + W)
    return (torch.randn(B, 8, H // scale, W // scale, generator=g), )


def samples(K, B=3):
    flip_indices = list(range(K))[::-1]
    return [PoseDataSample(metainfo={'flip_indices': flip_indices})] * B


def test_is_a_registered_heatmap_head():
    assert MODELS.get('ArgmaxHead') is ArgmaxHead
    assert issubclass(ArgmaxHead, HeatmapHead)


@pytest.mark.parametrize('K', [14, 16, 21])
@pytest.mark.parametrize('heatmap_size', [(48, 64), (64, 64)])
@pytest.mark.parametrize('deconv', [True, False])
def test_predict_equals_heatmap_head(K, heatmap_size, deconv):
    head, ref = head_pair(K, heatmap_size, deconv)
    feats = features(K, heatmap_size, deconv)
    flip_feats = [feats, tuple(f.flip(-1) for f in feats)]
    test_cfg = {'flip_test': True, 'flip_mode': 'heatmap', 'shift_heatmap': True}
    with torch.no_grad():
        preds = head.predict(flip_feats, samples(K), test_cfg)
        ref_preds = ref.predict(flip_feats, samples(K), test_cfg)
    assert len(preds) == len(ref_preds) == 3
    for p, r in zip(preds, ref_preds):
        assert isinstance(p.keypoints, np.ndarray)
        assert p.keypoints.shape == r.keypoints.shape == (1, K, 2)
        assert p.keypoint_scores.shape == r.keypoint_scores.shape == (1, K)
        np.testing.assert_allclose(p.keypoints, r.keypoints, atol=1e-4)
        np.testing.assert_allclose(
            p.keypoint_scores, r.keypoint_scores, rtol=1e-6)


def blobs(B, K, H, W):
    """Trained-like heatmaps: a Gaussian (sigma 2) per map, plus noise."""
    g = torch.Generator().manual_seed(K)
    centre = torch.rand(B, K, 2, 1, 1, generator=g) * torch.tensor(
        [W - 1., H - 1.]).view(2, 1, 1)
    xs = torch.arange(W, dtype=torch.float32)
    ys = torch.arange(H, dtype=torch.float32)[:, None]
    d2 = (xs - centre[:, :, 0])**2 + (ys - centre[:, :, 1])**2
    return torch.exp(-d2 / 8) + 0.01 * torch.randn(B, K, H, W, generator=g)


@pytest.mark.parametrize('K', [14, 21])
@pytest.mark.parametrize('heatmap_size', [(48, 64), (64, 64)])
def test_dark_decode_matches_heatmap_head(K, heatmap_size):
    """Codec ``unbiased=True`` selects DARK, as in MMPose."""
    head, ref = head_pair(K, heatmap_size, True, unbiased=True)
    heatmaps = blobs(16, K, heatmap_size[1], heatmap_size[0])
    preds = head.decode(heatmaps)
    ref_preds = ref.decode(heatmaps)
    keypoints = np.concatenate([p.keypoints for p in preds])
    ref_keypoints = np.concatenate([r.keypoints for r in ref_preds])
    assert np.abs(keypoints - ref_keypoints).mean() < 0.01
    # Not the plain decoding, whose quarter-pixel grid at stride 4 gives
    # whole input pixels.
    assert (keypoints % 1 != 0).mean() > 0.5
    np.testing.assert_array_equal(
        np.concatenate([p.keypoint_scores for p in preds]),
        np.concatenate([r.keypoint_scores for r in ref_preds]))


def test_output_heatmaps_as_heatmap_head():
    head, ref = head_pair(17, (48, 64), True)
    feats = features(17, (48, 64), True)
    with torch.no_grad():
        _, fields = head.predict(feats, samples(17), {'output_heatmaps': True})
        _, ref_fields = ref.predict(feats, samples(17),
                                    {'output_heatmaps': True})
    for f, r in zip(fields, ref_fields):
        assert f.heatmaps.shape == (17, 64, 48)
        torch.testing.assert_close(f.heatmaps, r.heatmaps)


def test_other_codec_falls_back_to_its_own_decode(monkeypatch):
    logged = []
    monkeypatch.setattr(argmax_head, 'print_log',
                        lambda msg, **kw: logged.append(msg))
    head, ref = head_pair(17, (48, 64), True, codec_type='UDPHeatmap')
    feats = features(17, (48, 64), True)
    with torch.no_grad():
        for _ in range(2):
            preds = head.predict(feats, samples(17))
        ref_preds = ref.predict(feats, samples(17))
    for p, r in zip(preds, ref_preds):
        np.testing.assert_array_equal(p.keypoints, r.keypoints)
    assert len(logged) == 1 and 'UDPHeatmap' in logged[0]


def test_drop_in_for_mmpose_config():
    """MMPose's own SBL-R50 config with head.type = 'ArgmaxHead'."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    cfg = Config.fromfile(MMPOSE_CONFIG)
    cfg.model.backbone.init_cfg = None  # no download
    cfg.model.head.type = 'ArgmaxHead'
    with DefaultScope.overwrite_default_scope('mmpose'):
        model = MODELS.build(cfg.model)
        cfg.model.head.type = 'HeatmapHead'
        ref = MODELS.build(cfg.model)
    ref.load_state_dict(model.state_dict())
    assert type(model.head) is ArgmaxHead and cfg.model.test_cfg.flip_test

    packed = get_packed_inputs(1, num_keypoints=17)
    torch.manual_seed(0)
    data = model.data_preprocessor(packed, training=True)
    losses = model(**data, mode='loss')
    assert torch.isfinite(losses['loss_kpt'])

    model.eval()
    ref.eval()
    data = model.data_preprocessor(packed, training=False)
    with torch.no_grad():
        results = model(**data, mode='predict')
        ref_results = ref(**data, mode='predict')
    for res, ref_res in zip(results, ref_results):
        kpts = res.pred_instances.keypoints
        h, w = res.metainfo['img_shape']
        assert kpts.shape == (1, 17, 2) and np.isfinite(kpts).all()
        assert (kpts >= 0).all() and (kpts[..., 0] <= w).all() and (
            kpts[..., 1] <= h).all()
        np.testing.assert_allclose(
            kpts, ref_res.pred_instances.keypoints, atol=1e-4)
        np.testing.assert_allclose(
            res.pred_instances.keypoint_scores,
            ref_res.pred_instances.keypoint_scores, rtol=1e-6)


@pytest.mark.parametrize('codec', [
    dict(type='RegressionLabel', input_size=(192, 256)),
    dict(type='IntegralRegressionLabel', input_size=(192, 256),
         heatmap_size=(48, 64), sigma=2),
    dict(type='SimCCLabel', input_size=(192, 256)),
])
def test_coordinate_codec_rejected_at_build_time(codec):
    with pytest.raises(ValueError, match=(
            f"heatmap codec .*got {codec['type']}.*IntegralHead")):
        MODELS.build(dict(type='ArgmaxHead', in_channels=8, out_channels=17,
                          decoder=codec))


@pytest.mark.parametrize('codec_type', ['MSRAHeatmap', 'UDPHeatmap',
                                        'MegviiHeatmap'])
def test_heatmap_codecs_accepted(codec_type):
    decoder = dict(type=codec_type, input_size=(192, 256),
                   heatmap_size=(48, 64))
    decoder.update(kernel_size=11) if codec_type == 'MegviiHeatmap' else (
        decoder.update(sigma=2))
    head = MODELS.build(dict(type='ArgmaxHead', in_channels=8,
                             out_channels=17, decoder=decoder))
    assert type(head.decoder).__name__ == codec_type
    assert MODELS.build(dict(type='ArgmaxHead', in_channels=8,
                             out_channels=17)).decoder is None


def test_fast_instance_data_equals_constructor():
    k = np.arange(34, dtype=np.float32).reshape(1, 17, 2)
    s = np.ones((1, 17), np.float32)
    fast = argmax_head._instance_data(keypoints=k, keypoint_scores=s)
    ref = argmax_head.InstanceData(keypoints=k, keypoint_scores=s)
    assert fast.__dict__.keys() == ref.__dict__.keys()
    assert fast._data_fields == ref._data_fields
    assert fast._metainfo_fields == ref._metainfo_fields
    assert len(fast) == len(ref) == 1
    assert sorted(fast.keys()) == sorted(ref.keys())
    fast.keypoints_visible = np.ones((1, 17))  # later fields: usual checks
    with pytest.raises(AssertionError):
        fast.bboxes = np.zeros((2, 4))
    merged = argmax_head.InstanceData.cat([fast, fast])
    assert merged.keypoints.shape == (2, 17, 2)
