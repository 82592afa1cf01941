"""ArgmaxHead: MMPose's HeatmapHead with batched on-device decoding."""
from __future__ import annotations

import logging

import cv2
import torch
from mmengine.logging import print_log
from mmengine.structures import InstanceData
from mmpose.codecs import MSRAHeatmap
from mmpose.models.heads import HeatmapHead
from mmpose.registry import MODELS
from mmpose.utils.typing import InstanceList
from torch import Tensor

from mmipr.heatmap.decode import decode_argmax

from .trunk_args import check_trunk_channels


def _instance_data(**fields) -> InstanceData:
    """``InstanceData(**fields)`` for fields of one instance each (arrays of
    length 1), without the per-field checks of ``__setattr__``.

    The result is the same object as the constructor's (the same
    ``_metainfo_fields`` / ``_data_fields`` bookkeeping and attributes), and
    later fields go through the usual checks; building a batch of them is
    several times faster, which matters next to batched decoding
    (``tools/benchmark/bench_decode.py``).

    Args:
        **fields: data fields, each of length 1.

    Returns:
        InstanceData: the instance.
    """
    data = InstanceData.__new__(InstanceData)
    data.__dict__.update(_metainfo_fields=set(), _data_fields=set(fields),
                         **fields)
    return data


#: label fields of codecs that encode coordinates, not heatmaps
_COORDINATE_LABELS = ('keypoint_labels', 'keypoint_x_labels',
                      'keypoint_y_labels')


def check_heatmap_codec(codec) -> None:
    """Raise unless ``codec`` decodes one heatmap per keypoint (top-down).

    ArgmaxHead (as MMPose's HeatmapHead) predicts K heatmaps and decodes them
    with its codec's ``decode(heatmaps)``: the codec must encode exactly a
    ``heatmaps`` field (``MSRAHeatmap``, ``UDPHeatmap``, ``MegviiHeatmap``).
    A coordinate codec (``RegressionLabel``, ``IntegralRegressionLabel``,
    ``SimCCLabel``) or a bottom-up one would fail, or decode garbage, only
    at the first validation.

    Args:
        codec: the built codec, or None (no decoding).

    Raises:
        ValueError: for any other codec, naming it and the fix.
    """
    if codec is None:
        return
    fields = set(getattr(codec, 'field_mapping_table', {}) or {})
    labels = set(getattr(codec, 'label_mapping_table', {}) or {})
    if fields != {'heatmaps'} or labels & set(_COORDINATE_LABELS):
        raise ValueError(
            'ArgmaxHead predicts one heatmap per keypoint and decodes it by '
            "argmax; its decoder must be a heatmap codec (type='MSRAHeatmap', "
            f"'UDPHeatmap' or 'MegviiHeatmap'), got {type(codec).__name__}. "
            'For coordinate codecs (RegressionLabel, '
            "IntegralRegressionLabel) use type='IntegralHead'.")


@MODELS.register_module()
class ArgmaxHead(HeatmapHead):
    """Detection head of the paper (SimpleBaseline, decoded by argmax).

    The trunk, the loss (pixel-wise MSE to the codec's Gaussian heatmaps,
    ``KeypointMSELoss``), the flip test (``flip_heatmaps`` with the batch's
    ``flip_indices``, ``flip_mode`` and ``shift_heatmap`` from ``test_cfg``)
    and ``test_cfg=dict(output_heatmaps=True)`` are MMPose's
    :class:`~mmpose.models.heads.HeatmapHead`, unchanged; the constructor
    takes the same arguments, so a config switches by changing ``type``.

    Only decoding differs: for an ``MSRAHeatmap`` decoder the whole batch is
    decoded at once on the heatmaps' device (:func:`mmipr.heatmap.decode.
    decode_argmax`) instead of one instance at a time in numpy, with the
    same result: the argmax with the quarter-pixel shift, or DARK when the
    codec has ``unbiased=True`` (with the codec's ``blur_kernel_size`` and
    OpenCV's Gaussian kernel, as the codec uses). Keypoints are scaled to the
    input (crop) space by the codec's ``input_size / heatmap_size``; scores
    are the heatmap maxima. Other decoders (e.g. ``UDPHeatmap``) keep their
    own per-instance decoding, with a warning on first use.

    Args:
        in_channels (int | Sequence[int]): channels of the input feature map.
        out_channels (int): number of heatmaps K.
        deconv_out_channels (Sequence[int], optional): output channels of the
            deconv layers. Defaults to ``(256, 256, 256)``.
        deconv_kernel_sizes (Sequence[int | tuple], optional): kernel sizes of
            the deconv layers. Defaults to ``(4, 4, 4)``.
        conv_out_channels (Sequence[int], optional): output channels of the
            intermediate conv layers. Defaults to ``None``.
        conv_kernel_sizes (Sequence[int | tuple], optional): their kernel
            sizes. Defaults to ``None``.
        final_layer (dict): arguments of the final Conv2d layer. Defaults to
            ``dict(kernel_size=1)``.
        loss (Config): the heatmap loss. Defaults to
            ``dict(type='KeypointMSELoss', use_target_weight=True)``.
        decoder (Config, optional): the codec that decodes the heatmaps: a
            heatmap codec, checked at construction
            (:func:`check_heatmap_codec`).
        init_cfg (Config, optional): initialisation; HeatmapHead's default.
    """

    _warned_fallback = False

    def __init__(self, in_channels, out_channels, *args, **kwargs) -> None:
        check_trunk_channels('ArgmaxHead', in_channels, out_channels)
        super().__init__(in_channels, out_channels, *args, **kwargs)
        check_heatmap_codec(self.decoder)

    def decode(self, batch_outputs: Tensor) -> InstanceList:
        """Decode keypoints from a batch of heatmaps.

        Args:
            batch_outputs (Tensor): heatmaps, shape (B, K, H, W).

        Returns:
            List[InstanceData]: one per sample, with ``keypoints`` (np.ndarray,
            shape (1, K, 2), input-space pixels) and ``keypoint_scores``
            (np.ndarray, shape (1, K)), as :meth:`HeatmapHead.decode`.
        """
        codec = self.decoder
        # Exact type: a subclass may decode differently.
        if type(codec) is not MSRAHeatmap:
            if codec is not None and not self._warned_fallback:
                print_log(
                    f'ArgmaxHead decodes {type(codec).__name__} with the '
                    'codec\'s own per-instance decoding; batched decoding '
                    'covers MSRAHeatmap only.',
                    logger='current',
                    level=logging.WARNING)
                self._warned_fallback = True
            return super().decode(batch_outputs)

        heatmaps = batch_outputs.detach().float()
        blur_kernel = torch.from_numpy(
            cv2.getGaussianKernel(codec.blur_kernel_size, 0).ravel())
        keypoints, scores = decode_argmax(
            heatmaps, unbiased=codec.unbiased,
            blur_kernel=blur_kernel.to(heatmaps.device))
        keypoints = keypoints * keypoints.new_tensor(codec.scale_factor)
        # (B, 1, K, 2) and (B, 1, K): each sample's arrays are one view
        keypoints = keypoints.cpu().numpy()[:, None]
        scores = scores.cpu().numpy()[:, None]
        return [_instance_data(keypoints=k, keypoint_scores=s)
                for k, s in zip(keypoints, scores)]
