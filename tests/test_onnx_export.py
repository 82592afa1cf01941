"""ONNX export with decoding (mmipr.deploy, tools/deploy/export_onnx.py).

The exported file is run with onnxruntime and compared with PyTorch on the
same inputs, for both heads. Tolerances: heatmaps and scores 1e-5 (float32
convolutions in two libraries), keypoints 1e-3 input pixels.
"""
import importlib.util
import os.path as osp

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import torch
from conftest import REPO

from mmipr.deploy import DecodedPoseEstimator, export_onnx, export_onnx_from_config
from mmipr.deploy.decode import (
    decode_argmax_traceable,
    refine_keypoints_dark_traceable,
)
from mmipr.heatmap import gaussian_heatmaps
from mmipr.heatmap.decode import decode_argmax, get_heatmap_maximum, refine_keypoints_dark
from mmipr.utils.validation import InvalidArgumentError

INTEGRAL = 'configs/synthetic/sbl_r18_integral_kl2.py'
DETECTION = 'configs/synthetic/sbl_r18_detection.py'
GU2021 = 'configs/synthetic/sbl_r18_integral_gu2021.py'
BATCH = 2


def load_tool(path: str):
    """A tool script of the repo as a module (its ``main(argv)``)."""
    spec = importlib.util.spec_from_file_location(
        osp.splitext(osp.basename(path))[0], osp.join(REPO, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seeded_model(config: str, **cfg_options):
    from mmpose.apis import init_model
    torch.manual_seed(0)
    return init_model(osp.join(REPO, config), None, device='cpu',
                      cfg_options=cfg_options or None)


def run_onnx(path: str, inputs: torch.Tensor) -> list:
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    return session.run(None, {'inputs': inputs.numpy()})


def crops(model) -> torch.Tensor:
    """A batch of normalised crops: a generated-looking image (smooth random
    colours) through the model's own data preprocessor."""
    w, h = model.head.decoder.input_size
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (BATCH, h // 8, w // 8, 3), np.uint8)
    images = [torch.from_numpy(cv2.resize(im, (w, h))).permute(2, 0, 1)
              for im in small]
    from mmpose.structures import PoseDataSample
    return model.data_preprocessor(dict(
        inputs=images, data_samples=[PoseDataSample() for _ in images]))[
            'inputs']


@pytest.mark.parametrize('config', [INTEGRAL, GU2021],
                         ids=['integral_kl2', 'gu2021'])
def test_integral_head_onnx_equals_pytorch(config, tmp_path):
    """Softmax, expectation (with Gu et al. 2021's compensation, whose gain
    grows on flat maps: the delicate case) and A(2), against predict()."""
    model = seeded_model(config)
    path = export_onnx(model, str(tmp_path / 'integral.onnx'),
                       batch_size=BATCH)
    inputs = crops(model)
    keypoints, scores, heatmaps = run_onnx(path, inputs)

    # PyTorch: the head's own prediction (predict, decoded by its codec),
    # one pass (the exported graph has no flip test)
    model.test_cfg = dict(flip_test=False, output_heatmaps=True)
    with torch.no_grad():
        feats = model.extract_feat(inputs)
        preds, fields = model.head.predict(feats, [None] * BATCH,
                                           model.test_cfg)
    expected_kpts = np.concatenate([p.keypoints for p in preds])
    expected_scores = np.concatenate([p.keypoint_scores for p in preds])
    expected_maps = torch.stack([f.heatmaps for f in fields]).numpy()

    assert keypoints.shape == (BATCH, 17, 2) and scores.shape == (BATCH, 17)
    np.testing.assert_allclose(keypoints, expected_kpts, atol=1e-3)
    np.testing.assert_allclose(scores, expected_scores, atol=1e-5)
    np.testing.assert_allclose(heatmaps, expected_maps, atol=1e-5)
    assert np.allclose(heatmaps.sum((-2, -1)), 1, atol=1e-4)  # h~


@pytest.mark.parametrize('unbiased', [False, True], ids=['quarter', 'dark'])
def test_argmax_head_onnx_equals_pytorch(unbiased, tmp_path):
    """The graph's heatmaps and scores equal PyTorch's; its keypoints equal
    ArgmaxHead.decode of the same heatmaps. (End to end the keypoints of an
    untrained model under DARK are ill-conditioned: its maps are nearly flat,
    and the Newton step on their log amplifies 1e-7 differences to tenths
    of a pixel; test_dark_traceable_* checks DARK on peaked maps.)"""
    model = seeded_model(DETECTION,
                         **{'model.head.decoder.unbiased': unbiased})
    assert model.head.decoder.unbiased == unbiased
    path = export_onnx(model, str(tmp_path / 'argmax.onnx'),
                       batch_size=BATCH)
    inputs = crops(model)
    keypoints, scores, heatmaps = run_onnx(path, inputs)
    with torch.no_grad():
        expected_maps = model.head.forward(model.extract_feat(inputs))
    np.testing.assert_allclose(heatmaps, expected_maps.numpy(), atol=1e-5)

    decoded = model.head.decode(torch.from_numpy(heatmaps))
    expected_kpts = np.concatenate([d.keypoints for d in decoded])
    expected_scores = np.concatenate([d.keypoint_scores for d in decoded])
    np.testing.assert_allclose(scores, expected_scores, atol=1e-6)
    if not unbiased:
        np.testing.assert_allclose(keypoints, expected_kpts, atol=1e-3)
    else:
        # the joints whose DARK decoding is stable under a perturbation of
        # the maps at float32's resolution must agree; the others are the
        # ill-conditioned ones above, whose answer depends on the processor
        gen = torch.Generator().manual_seed(0)
        noise = torch.randn(heatmaps.shape, generator=gen) * 1e-6 \
            * float(np.abs(heatmaps).max())
        perturbed = np.concatenate([d.keypoints for d in model.head.decode(
            torch.from_numpy(heatmaps) + noise)])
        stable = np.abs(perturbed - expected_kpts).max(-1) < 1e-4
        assert stable.mean() >= 0.25, stable  # not a vacuous check
        np.testing.assert_allclose(keypoints[stable], expected_kpts[stable],
                                   atol=1e-3)


def peaked_heatmaps(n: int = 4) -> torch.Tensor:
    """Gaussian peaks (sigma 2, random centres and heights) with noise:
    heatmaps like a trained model's, shape (n, 17, 64, 48)."""
    gen = torch.Generator().manual_seed(0)
    centers = torch.rand(n, 17, 2, generator=gen) * torch.tensor([47., 63.])
    heights = 0.5 + torch.rand(n, 17, 1, 1, generator=gen)
    noise = 0.01 * torch.randn(n, 17, 64, 48, generator=gen)
    return gaussian_heatmaps(centers, (48, 64), 2.0) * heights + noise


def opencv_kernel(size: int = 11) -> torch.Tensor:
    return torch.from_numpy(cv2.getGaussianKernel(size, 0).ravel()).float()


def test_dark_traceable_equals_refine_keypoints_dark():
    heatmaps = peaked_heatmaps()
    locs, _ = get_heatmap_maximum(heatmaps)
    expected = refine_keypoints_dark(locs, heatmaps, opencv_kernel())
    actual = refine_keypoints_dark_traceable(locs, heatmaps, opencv_kernel())
    assert (expected != locs).any()  # DARK did move the keypoints
    torch.testing.assert_close(actual, expected, atol=1e-4, rtol=0)


def test_dark_onnx_decoding_equals_pytorch(tmp_path):
    """DARK's exported decoding on peaked heatmaps against
    decode_argmax (what ArgmaxHead.decode runs)."""
    class Decode(torch.nn.Module):
        def forward(self, heatmaps):
            return decode_argmax_traceable(heatmaps, True, opencv_kernel())

    heatmaps = peaked_heatmaps()
    path = str(tmp_path / 'dark.onnx')
    torch.onnx.export(Decode(), (heatmaps, ), path, dynamo=True,
                      input_names=['inputs'], verbose=False)
    keypoints, scores = run_onnx(path, heatmaps)
    expected_kpts, expected_scores = decode_argmax(heatmaps, True,
                                                   opencv_kernel())
    np.testing.assert_allclose(keypoints, expected_kpts.numpy(), atol=1e-4)
    np.testing.assert_allclose(scores, expected_scores.numpy(), atol=1e-6)


def test_export_refuses_other_heads_and_codecs():
    with pytest.raises(InvalidArgumentError, match='UDPHeatmap'):
        DecodedPoseEstimator(seeded_model(DETECTION, **{
            'model.head.decoder': dict(
                _delete_=True, type='UDPHeatmap', input_size=(96, 128),
                heatmap_size=(48, 64), sigma=2)}))
    with pytest.raises(InvalidArgumentError, match='batch_size'):
        export_onnx(seeded_model(INTEGRAL), 'unused.onnx', batch_size=0)
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        export_onnx_from_config(osp.join(REPO, INTEGRAL), 'missing.pth')


def test_export_cli_writes_the_file(tmp_path, capsys):
    model = seeded_model(INTEGRAL)
    checkpoint = str(tmp_path / 'model.pth')
    torch.save({'state_dict': model.state_dict(),
                'meta': {'dataset_meta': model.dataset_meta}}, checkpoint)
    export_cli = load_tool('tools/deploy/export_onnx.py')
    export_cli.main([osp.join(REPO, INTEGRAL), checkpoint])
    onnx_file = str(tmp_path / 'model.onnx')
    assert f'wrote {onnx_file}' in capsys.readouterr().out
    inputs = crops(model)[:1]
    keypoints, scores, _ = run_onnx(onnx_file, inputs)
    with torch.no_grad():
        expected = DecodedPoseEstimator(model).eval()(inputs)
    np.testing.assert_allclose(keypoints, expected[0].numpy(), atol=1e-3)
    np.testing.assert_allclose(scores, expected[1].numpy(), atol=1e-5)
