"""ONNX export of a top-down pose model with its decoding included.

The exported graph maps a batch of crops to keypoints in input (crop) pixels,
keypoint scores, the head's own, and the latent heatmaps they come from:

- :class:`~mmipr.models.heads.IntegralHead`: flat softmax, expectation (and
  the head's bias compensation), and the activation sum A(s) of the
  normalised heatmap around the keypoint (``score_window``), exactly the
  head's ``_forward_with_scores``;
- :class:`~mmipr.models.heads.ArgmaxHead` with an ``MSRAHeatmap`` decoder:
  the argmax with the quarter-pixel shift, or DARK when the codec has
  ``unbiased=True`` (:mod:`mmipr.deploy.decode`), scaled by the codec's
  ``input_size / heatmap_size``; the score is the heatmap maximum.

The heatmaps output is the normalised h~ = softmax(beta h) for IntegralHead
(the map the paper studies) and the raw heatmap for ArgmaxHead.

Export goes through ``torch.onnx.export(dynamo=True)`` (``torch.export``):
it refuses data-dependent Python branches instead of tracing one side of
them, as the TorchScript exporter (``dynamo=False``) would silently do, and
the TorchScript exporter fails on the argmax decoding here ("tensor does not
have a device"). The batch size is fixed at export (``batch_size``): the
first-maximum search specialises on it.

Not in the graph: the data preprocessor (the input is the crop after
``TopdownAffine``, converted to RGB and normalised by the model's
``data_preprocessor`` mean and std, as in MMPose's ``mode='tensor'`` and
mmdeploy), the flip test (``test_cfg.flip_test``: one pass only) and the
mapping from the crop back to the image (the box's affine transform).
"""
from __future__ import annotations

import os.path as osp
from typing import Optional, Tuple

import cv2
import torch
from mmpose.codecs import MSRAHeatmap
from torch import Tensor, nn

from mmipr.deploy.decode import decode_argmax_traceable
from mmipr.models.heads import ArgmaxHead, IntegralHead
from mmipr.utils.io import atomic_output
from mmipr.utils.validation import InvalidArgumentError, check_number

#: the exported graph's input and output names
INPUT_NAMES = ('inputs', )
OUTPUT_NAMES = ('keypoints', 'keypoint_scores', 'heatmaps')


class DecodedPoseEstimator(nn.Module):
    """A top-down pose estimator and its head's decoding as one module.

    Args:
        model (nn.Module): a built ``TopdownPoseEstimator`` whose head is an
            ``IntegralHead`` (with a coordinate codec, e.g.
            ``RegressionLabel``) or an ``ArgmaxHead`` with an
            ``MSRAHeatmap`` codec.

    Raises:
        InvalidArgumentError: another head or codec, named.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        head = getattr(model, 'head', None)
        codec = getattr(head, 'decoder', None)
        if isinstance(head, IntegralHead):
            if codec is None or not hasattr(codec, 'input_size'):
                raise InvalidArgumentError(
                    'IntegralHead export needs the head\'s decoder (a '
                    "coordinate codec with input_size, e.g. type="
                    "'RegressionLabel') to map its normalised coordinates "
                    f'to input pixels; got decoder={codec!r}')
            # RegressionLabel.decode: normalised coordinates * (w, h)
            scale = torch.tensor(codec.input_size, dtype=torch.float32)
        elif isinstance(head, ArgmaxHead):
            if type(codec) is not MSRAHeatmap:
                raise InvalidArgumentError(
                    'ArgmaxHead export decodes MSRAHeatmap heatmaps (argmax '
                    '+ quarter-pixel shift, or DARK with unbiased=True); '
                    f'this model\'s decoder is {type(codec).__name__}. '
                    "Use model.head.decoder=dict(type='MSRAHeatmap', ...)")
            scale = torch.tensor(codec.scale_factor, dtype=torch.float32)
            # the kernel ArgmaxHead.decode and MMPose's codec blur with
            self.register_buffer('blur_kernel', torch.from_numpy(
                cv2.getGaussianKernel(codec.blur_kernel_size,
                                      0).ravel()).float())
            self.unbiased = bool(codec.unbiased)
        else:
            raise InvalidArgumentError(
                'ONNX export with decoding covers IntegralHead and '
                f'ArgmaxHead; the model\'s head is {type(head).__name__}')
        self.model = model
        self.register_buffer('scale', scale)

    @property
    def input_size(self) -> Tuple[int, int]:
        """(w, h) of the crops the model takes."""
        return tuple(self.model.head.decoder.input_size)

    def forward(self, inputs: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Keypoints and scores of a batch of normalised crops.

        Args:
            inputs (Tensor): crops normalised by the data preprocessor,
                shape (B, 3, h, w).

        Returns:
            tuple:
            - keypoints (Tensor): (x, y) in input pixels, shape (B, K, 2).
            - keypoint_scores (Tensor): shape (B, K).
            - heatmaps (Tensor): h~ (IntegralHead) or the heatmaps
              (ArgmaxHead), shape (B, K, H, W).
        """
        feats = self.model.extract_feat(inputs)
        head = self.model.head
        if isinstance(head, IntegralHead):
            coords, heatmaps, scores = head._forward_with_scores(feats)
            return coords * self.scale, scores, heatmaps
        heatmaps = head.forward(feats).float()
        keypoints, scores = decode_argmax_traceable(
            heatmaps, self.unbiased, self.blur_kernel)
        return keypoints * self.scale, scores, heatmaps


def export_onnx(model: nn.Module, output_file: str, batch_size: int = 1,
                opset_version: int = 18) -> str:
    """Export ``model`` with its decoding to an ONNX file.

    Args:
        model (nn.Module): a built ``TopdownPoseEstimator`` (see
            :class:`DecodedPoseEstimator`), on the CPU.
        output_file (str): the ``.onnx`` file to write (atomically: a failed
            export leaves any earlier file as it was).
        batch_size (int): the batch size B of the graph. Default: 1.
        opset_version (int): ONNX opset. Default: 18.

    Returns:
        str: ``output_file``. The graph takes ``inputs`` (B, 3, h, w) float32
        and returns ``keypoints`` (B, K, 2) in input pixels,
        ``keypoint_scores`` (B, K) and ``heatmaps`` (B, K, H, W).
    """
    import onnx

    check_number('export_onnx', 'batch_size', batch_size, integer=True,
                 low=1)
    wrapper = DecodedPoseEstimator(model).eval()
    w, h = wrapper.input_size
    example = torch.zeros(batch_size, 3, h, w)
    with atomic_output(output_file) as tmp, torch.no_grad():
        program = torch.onnx.export(
            wrapper, (example, ), dynamo=True, input_names=INPUT_NAMES,
            output_names=OUTPUT_NAMES, opset_version=opset_version,
            external_data=False, verbose=False)
        program.save(tmp, external_data=False)
        onnx.checker.check_model(tmp)
    return output_file


def export_onnx_from_config(config: str, checkpoint: str, output_file:
                            Optional[str] = None, batch_size: int = 1,
                            opset_version: int = 18,
                            cfg_options: Optional[dict] = None) -> str:
    """Build a model from ``config`` and ``checkpoint`` and export it.

    Args:
        config (str): the model's config file.
        checkpoint (str): its checkpoint.
        output_file (str, optional): the ONNX file. Default: the checkpoint's
            path with ``.onnx`` for ``.pth``.
        batch_size (int): see :func:`export_onnx`.
        opset_version (int): see :func:`export_onnx`.
        cfg_options (dict, optional): overrides of the config.

    Returns:
        str: the written file.
    """
    from mmpose.apis import init_model

    for name, path in (('config', config), ('checkpoint', checkpoint)):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{name} file not found: {path}')
    model = init_model(config, checkpoint, device='cpu',
                       cfg_options=cfg_options)
    if output_file is None:
        output_file = osp.splitext(checkpoint)[0] + '.onnx'
    return export_onnx(model, output_file, batch_size, opset_version)
