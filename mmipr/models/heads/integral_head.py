"""IntegralHead: MMPose's HeatmapHead trunk decoded by integral regression."""
from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.structures import PixelData
from mmpose.evaluation.functional import keypoint_pck_accuracy
from mmpose.models.heads import HeatmapHead
from mmpose.models.utils.tta import flip_coordinates, flip_heatmaps
from mmpose.registry import MODELS
from mmpose.utils.tensor_utils import to_numpy
from mmpose.utils.typing import ConfigType, Features, OptConfigType, OptSampleList, Predictions
from torch import Tensor

from mmipr.heatmap import (
    check_beta,
    debias_gu2021,
    debias_mmpose,
    expectation,
    flat_log_softmax,
    flat_softmax,
)
from mmipr.heatmap.stats import activation_sum
from mmipr.utils.validation import InvalidArgumentError, check_choice, check_number

from .trunk_args import check_trunk_channels

OptIntSeq = Optional[Sequence[int]]


@MODELS.register_module()
class IntegralHead(HeatmapHead):
    """Integral pose regression on the SimpleBaseline heatmap trunk.

    The trunk (deconvolutions, convolutions, final 1x1 conv) is MMPose's
    :class:`HeatmapHead`, with the same arguments. Its logits h are
    normalised by a flat softmax, h~ = softmax(beta * h) over the H * W
    pixels of each joint, and the keypoint is the expectation
    J = sum_p p * h~_p (the paper's Eq. 2), optionally with a bias
    compensation (``debias``: MMPose's form, or Gu et al. 2021's as derived
    on the pixel grid). Training minimises the L1 distance
    between J and the ground truth (Eq. 4) and, optionally, a spatial prior
    on the same h~ (e.g. :class:`KLPriorLoss`, Sec. 4.2); only one softmax is
    computed for both.

    Coordinates follow MMPose's regression heads: J in heatmap pixels divided
    by the heatmap size (W, H), which equals the keypoint in input pixels
    divided by the input size since heatmap pixel i is input pixel
    ``i * stride``. So the codec is ``RegressionLabel`` or
    ``IntegralRegressionLabel`` (its ``keypoint_labels``).

    Flip test (``test_cfg``), exactly what :meth:`predict` reads:
    ``flip_test`` (default False) averages with the flipped input's
    prediction; its coordinates are flipped back by MMPose's
    ``flip_coordinates`` with ``shift_coords`` (default True), as MMPose's
    ``IntegralRegressionHead``. The flipped pass's heatmaps are flipped back
    with ``flip_heatmaps(flip_mode='heatmap', shift_heatmap=...)``, where
    ``shift_heatmap`` is taken from ``test_cfg`` (default False when the key
    is absent; MMPose's heatmap configs set it True, and then it is applied)
    and only changes the heatmaps returned with ``output_heatmaps``, never
    the keypoints or scores. ``flip_mode`` is not read (the heatmaps are
    always flipped as ``'heatmap'``); ``output_heatmaps`` (default False)
    returns the normalised h~.

    Keypoint scores are the activation sum A(s) of the paper's Eq. 6: the mass
    of h~ in the (2s+1) x (2s+1) window around the predicted keypoint
    (s = ``score_window``), a confidence in [0, 1] that COCO's OKS rescoring
    can use (MMPose's ``IntegralRegressionHead`` scores every keypoint 1).

    Args:
        in_channels (int | Sequence[int]): input channels, as HeatmapHead.
        out_channels (int): number of keypoints K.
        deconv_out_channels (Sequence[int], optional): as HeatmapHead.
            Default: (256, 256, 256).
        deconv_kernel_sizes (Sequence[int | tuple], optional): as HeatmapHead.
            Default: (4, 4, 4).
        conv_out_channels (Sequence[int], optional): as HeatmapHead.
        conv_kernel_sizes (Sequence[int | tuple], optional): as HeatmapHead.
        final_layer (dict, optional): as HeatmapHead.
            Default: ``dict(kernel_size=1)``.
        beta (float): softmax scale (the paper's beta), positive and
            finite (beta = 0 makes h~ uniform whatever h: zero gradient into
            the trunk). Default: 1.0, as MMPose's ``IntegralRegressionHead``.
        debias (bool | str): bias compensation of the expectation, in
            training and testing. ``False``: none (the paper's analysis
            assumes the bias negligible). ``True`` (or ``'mmpose'``):
            MMPose's ``IntegralRegressionHead(debias=True)`` formula
            (:func:`mmipr.heatmap.debias_mmpose`), so published MMPose models
            compare. ``'gu2021'``: the compensation derived for zero
            background logits over the H * W pixels, beta included
            (:func:`mmipr.heatmap.debias_gu2021`), exact on such maps.
            Default: False.
        loss (dict): coordinate loss on normalised coordinates, called as
            ``loss(pred (B, K, 2), labels (B, K, 2), weights (B, K))``.
            Default: ``dict(type='L1Loss', use_target_weight=True)`` (Eq. 4).
        prior_loss (dict, optional): a loss on the normalised heatmap, called
            as ``prior_loss(log_heatmaps, keypoints_in_heatmap_px, weights,
            log_normalized=True)``: ``dict(type='KLPriorLoss', sigma=2.0)``
            (the paper's KL(G || h~)), with ``divergence='kl_h_g'`` for
            dsntnn's reverse KL, ``dict(type='JSPriorLoss', sigma=2.0)``
            (DSNT's Jensen-Shannon) or ``dict(type='VarianceRegLoss',
            sigma=2.0)``. Its ``beta``
            defaults to this head's and must equal it. Default: None.
        score_window (int): half-size s of the window of the keypoint score
            A(s), a whole number >= 0 whose window must leave part of the
            heatmap out: 2s + 1 < min(H, W) (a window as large as the
            heatmap scores every keypoint 1, and OKS rescoring silently
            becomes box ranking). Checked against the decoder's heatmap
            size when it has one (``IntegralRegressionLabel``), else at the
            first forward. Default: 2.
        decoder (dict, optional): codec that decodes normalised coordinates
            (``RegressionLabel``, ``IntegralRegressionLabel``).
        init_cfg (dict, optional): as HeatmapHead.
    """

    def __init__(self,
                 in_channels: int | Sequence[int],
                 out_channels: int,
                 deconv_out_channels: OptIntSeq = (256, 256, 256),
                 deconv_kernel_sizes: OptIntSeq = (4, 4, 4),
                 conv_out_channels: OptIntSeq = None,
                 conv_kernel_sizes: OptIntSeq = None,
                 final_layer: Optional[dict] = dict(kernel_size=1),
                 beta: float = 1.0,
                 debias: Union[bool, str] = False,
                 loss: ConfigType = dict(type='L1Loss', use_target_weight=True),
                 prior_loss: OptConfigType = None,
                 score_window: int = 2,
                 decoder: OptConfigType = None,
                 init_cfg: OptConfigType = None):
        check_trunk_channels('IntegralHead', in_channels, out_channels)
        check_beta(beta, 'IntegralHead')
        check_choice(
            'IntegralHead', 'debias', debias, (False, True, 'mmpose', 'gu2021'),
            hint="True or 'mmpose': MMPose's formula; 'gu2021': Gu et al. "
            '2021 as derived on the pixel grid')
        check_number('IntegralHead', 'score_window', score_window,
                     integer=True, low=0,
                     hint='the half-size s of the (2s+1) x (2s+1) window of '
                     'the keypoint score A(s)')
        super().__init__(
            in_channels=in_channels,
            out_channels=out_channels,
            deconv_out_channels=deconv_out_channels,
            deconv_kernel_sizes=deconv_kernel_sizes,
            conv_out_channels=conv_out_channels,
            conv_kernel_sizes=conv_kernel_sizes,
            final_layer=final_layer,
            loss=loss,
            decoder=decoder,
            init_cfg=init_cfg)
        if self.decoder is not None and 'keypoint_labels' not in getattr(
                self.decoder, 'label_mapping_table', {}):
            raise ValueError(
                'IntegralHead predicts coordinates normalised by the input '
                'size; its decoder must be a codec of such coordinates '
                "(type='RegressionLabel' or 'IntegralRegressionLabel'), got "
                f'{type(self.decoder).__name__}')
        self.beta = beta
        self.debias = debias
        self.score_window = score_window
        heatmap_codec = getattr(self.decoder, 'heatmap_codec', None)
        if getattr(heatmap_codec, 'heatmap_size', None) is not None:
            width, height = heatmap_codec.heatmap_size
            self._check_score_window(height, width, 'the decoder')
        if prior_loss is not None:
            prior_loss = dict(prior_loss)
            prior_loss.setdefault('beta', beta)
            if prior_loss['beta'] != beta:
                raise ValueError(
                    f"IntegralHead: prior_loss beta ({prior_loss['beta']}) "
                    f'differs from the head beta ({beta}); the prior acts on '
                    "the head's own softmax, drop `beta` from prior_loss")
            self.prior_loss_module = MODELS.build(prior_loss)
        else:
            self.prior_loss_module = None

    def integrate(self, logits: Tensor, with_log: bool = False
                  ) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
        """Normalise heatmap logits and take their expectation.

        Args:
            logits (Tensor): heatmap logits h, shape (B, K, H, W).
            with_log (bool): also return log h~ (from one log-softmax, h~
                being its exp). Default: False (a plain softmax, faster).

        Returns:
            tuple:
            - coords (Tensor): keypoints (x, y) in heatmap pixels, (B, K, 2).
            - heatmaps (Tensor): h~ = softmax(beta * h), (B, K, H, W).
            - log_heatmaps (Tensor | None): log h~, (B, K, H, W), if
              ``with_log``.
        """
        # Checked here, where the size is first known, so that a training
        # run stops at its first iteration, not at its first validation.
        self._check_score_window(*logits.shape[-2:], 'the trunk')
        if with_log:
            log_heatmaps = flat_log_softmax(logits, self.beta)
            heatmaps = log_heatmaps.exp()
        else:
            log_heatmaps = None
            heatmaps = flat_softmax(logits, self.beta)
        coords = expectation(heatmaps)
        if self.debias == 'gu2021':
            coords = debias_gu2021(coords, logits, self.beta)
        elif self.debias:
            coords = debias_mmpose(coords, logits, self.beta)
        return coords, heatmaps, log_heatmaps

    def _check_score_window(self, height: int, width: int,
                            source: str) -> None:
        """Raise unless the A(s) window leaves part of an H x W heatmap out.

        Args:
            height, width (int): the heatmap size H, W.
            source (str): where the size comes from, for the message.
        """
        largest = (min(height, width) - 2) // 2
        if self.score_window > largest:
            raise InvalidArgumentError(
                f'IntegralHead: score_window must be a whole number >= 0 and '
                f'<= {largest} for the {width}x{height} (W x H) heatmaps of '
                f'{source}, got {self.score_window}: its '
                f'{2 * self.score_window + 1}-pixel window must leave part of '
                'the heatmap out (2s + 1 < min(H, W)), or every keypoint '
                'scores about 1 and OKS rescoring silently turns into box '
                'ranking')

    @staticmethod
    def _heatmap_size(heatmaps: Tensor) -> Tensor:
        H, W = heatmaps.shape[-2:]
        return heatmaps.new_tensor([W, H])

    def forward(self, feats: Tuple[Tensor]) -> Tuple[Tensor, Tensor]:
        """Forward the trunk and integrate.

        Args:
            feats (Tuple[Tensor]): multi-scale features; the last is used.

        Returns:
            tuple:
            - coords (Tensor): keypoints normalised to [0, 1] by the
              heatmap (= input) size, (B, K, 2).
            - heatmaps (Tensor): normalised heatmaps h~, (B, K, H, W).
        """
        coords, heatmaps, _ = self.integrate(super().forward(feats))
        return coords / self._heatmap_size(heatmaps), heatmaps

    def _forward_with_scores(self, feats: Tuple[Tensor]
                             ) -> Tuple[Tensor, Tensor, Tensor]:
        coords, heatmaps = self.forward(feats)
        size = self._heatmap_size(heatmaps)
        scores = activation_sum(heatmaps, coords * size, self.score_window)
        return coords, heatmaps, scores

    def predict(self,
                feats: Features,
                batch_data_samples: OptSampleList,
                test_cfg: ConfigType = {}) -> Predictions:
        """Predict keypoints, scores and (optionally) heatmaps.

        Args:
            feats (Tuple[Tensor] | List[Tuple[Tensor]]): features, or
                ``[feats, feats_of_flipped_input]`` with
                ``test_cfg['flip_test']``.
            batch_data_samples (List[PoseDataSample]): the batch data samples.
            test_cfg (dict): ``flip_test`` (default False), ``shift_coords``
                (default True), ``shift_heatmap`` (default False when absent;
                applied, when set, to the flipped pass's heatmaps before they
                are averaged, so only the returned heatmaps change),
                ``output_heatmaps`` (default False). ``flip_mode`` is not
                read: heatmaps are flipped as ``'heatmap'``.

        Returns:
            List[InstanceData] | Tuple[List[InstanceData], List[PixelData]]:
            per sample ``keypoints`` (1, K, 2) in input pixels and
            ``keypoint_scores`` (1, K); with ``output_heatmaps`` also
            PixelData with the normalised ``heatmaps`` (K, H, W).
        """
        if test_cfg.get('flip_test', False):
            assert isinstance(feats, list) and len(feats) == 2
            flip_indices = batch_data_samples[0].metainfo['flip_indices']
            input_size = batch_data_samples[0].metainfo['input_size']
            _feats, _feats_flip = feats
            coords, heatmaps, scores = self._forward_with_scores(_feats)
            coords_flip, heatmaps_flip, scores_flip = \
                self._forward_with_scores(_feats_flip)
            coords_flip = flip_coordinates(
                coords_flip,
                flip_indices=flip_indices,
                shift_coords=test_cfg.get('shift_coords', True),
                input_size=input_size)
            heatmaps_flip = flip_heatmaps(
                heatmaps_flip,
                flip_mode='heatmap',
                flip_indices=flip_indices,
                shift_heatmap=test_cfg.get('shift_heatmap', False))
            # Scores are taken in each pass's own frame, so the flipped
            # heatmap's misalignment (shift_heatmap) does not affect them.
            coords = (coords + coords_flip) * 0.5
            heatmaps = (heatmaps + heatmaps_flip) * 0.5
            scores = (scores + scores_flip[:, flip_indices]) * 0.5
        else:
            coords, heatmaps, scores = self._forward_with_scores(feats)

        preds = self.decode(coords.unsqueeze(1))  # (B, 1, K, 2)
        for pred, score in zip(preds, to_numpy(scores)):
            pred.keypoint_scores = score[None]

        if test_cfg.get('output_heatmaps', False):
            pred_fields = [PixelData(heatmaps=hm) for hm in heatmaps.detach()]
            return preds, pred_fields
        return preds

    def loss(self,
             feats: Tuple[Tensor],
             batch_data_samples: OptSampleList,
             train_cfg: ConfigType = {}) -> dict:
        """Coordinate loss (``loss_kpt``), prior (``loss_prior``) and
        ``acc_pose`` (PCK@0.05 of normalised coordinates, as MMPose's
        regression heads).

        Args:
            feats (Tuple[Tensor]): multi-scale features.
            batch_data_samples (List[PoseDataSample]): samples whose
                ``gt_instance_labels`` hold ``keypoint_labels`` (B, K, 2),
                normalised by the input size, and ``keypoint_weights`` (B, K).
            train_cfg (dict): unused.

        Returns:
            dict: ``loss_kpt``, ``acc_pose`` and, with a prior,
            ``loss_prior``.
        """
        labels = batch_data_samples[0].gt_instance_labels
        if 'keypoint_labels' not in labels:
            raise ValueError(
                'IntegralHead needs `keypoint_labels` (normalised keypoint '
                'coordinates) in the data samples: encode targets with '
                "GenerateTarget(encoder=dict(type='RegressionLabel', ...)) "
                "or 'IntegralRegressionLabel'")
        coords, heatmaps, log_heatmaps = self.integrate(
            super().forward(feats),
            with_log=self.prior_loss_module is not None)
        size = self._heatmap_size(heatmaps)
        pred_coords = coords / size
        keypoint_labels = torch.cat(
            [d.gt_instance_labels.keypoint_labels for d in batch_data_samples])
        keypoint_weights = torch.cat([
            d.gt_instance_labels.keypoint_weights for d in batch_data_samples
        ])

        losses = dict(
            loss_kpt=self.loss_module(pred_coords, keypoint_labels,
                                      keypoint_weights))
        if self.prior_loss_module is not None:
            losses['loss_prior'] = self.prior_loss_module(
                log_heatmaps,
                keypoint_labels * size,
                keypoint_weights,
                log_normalized=True)

        _, avg_acc, _ = keypoint_pck_accuracy(
            pred=to_numpy(pred_coords),
            gt=to_numpy(keypoint_labels),
            mask=to_numpy(keypoint_weights) > 0,
            thr=0.05,
            norm_factor=np.ones((pred_coords.size(0), 2), dtype=np.float32))
        losses['acc_pose'] = torch.tensor(
            avg_acc, device=keypoint_labels.device)
        return losses
