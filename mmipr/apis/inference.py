"""Inference on an image with given person boxes, and its visualisation.

A thin layer over MMPose: :func:`init_inferencer` builds MMPose's own
``MMPoseInferencer`` for an mmipr config and checkpoint, and
:func:`infer_with_boxes` runs its model on given boxes with MMPose's
``inference_topdown`` and draws the keypoints and the latent heatmap with
the inferencer's ``PoseLocalVisualizer`` (``draw_heatmap``).

Two facts of the installed stack shape it:

- **No detector with mmcv-lite.** A top-down ``MMPoseInferencer`` builds
  MMPose's default person detector (RTMDet, from MMDetection), which needs
  MMCV's compiled ops (its NMS) and downloads its weights. With mmcv-lite
  neither is available, so the inferencer is built with
  ``det_model='whole_image'``: without boxes, the whole image is one box.
- **``bboxes=`` is discarded by MMPose 1.3.2's inferencer.**
  ``Pose2DInferencer.preprocess_single`` resets ``bboxes = []`` before
  looking at the detector, so ``inferencer(img, bboxes=[...])`` predicts on
  the whole image. Given boxes therefore go through ``inference_topdown``,
  MMPose's function that honours them, with the inferencer's model and
  visualiser.

The heatmap drawn is what the head returns with
``test_cfg['output_heatmaps']`` (set by the inferencer's ``draw_heatmap``):
the normalised h~ = softmax(beta h) for ``IntegralHead``, the heatmap for
``ArgmaxHead``; MMPose warps it back into the image and draws, over the
image, the maximum over keypoints (per instance, then over instances).
"""
from __future__ import annotations

from typing import Optional, Sequence

import mmcv
import numpy as np
from mmpose.apis import MMPoseInferencer, inference_topdown
from mmpose.structures import PoseDataSample, merge_data_samples

#: ``det_model`` of an inferencer without a detector (the whole image is the
#: box): MMPose's default detector needs full MMCV (see the module doc)
WHOLE_IMAGE = 'whole_image'


def init_inferencer(config: str, checkpoint: Optional[str] = None,
                    device: str = 'cpu',
                    det_model: str = WHOLE_IMAGE) -> MMPoseInferencer:
    """MMPose's ``MMPoseInferencer`` for an mmipr pose model.

    Args:
        config (str): the pose model's config (e.g.
            ``configs/synthetic/sbl_r18_integral_kl2.py``).
        checkpoint (str, optional): its checkpoint (None: initial weights).
        device (str): torch device. Default: ``'cpu'``.
        det_model (str): the person detector; the default,
            :data:`WHOLE_IMAGE`, uses none (see the module doc). With full
            MMCV installed, pass an MMDetection config (or None for MMPose's
            default RTMDet).

    Returns:
        MMPoseInferencer: call it as MMPose documents
        (``next(inferencer(img, draw_heatmap=True, vis_out_dir=...))``), or
        pass it to :func:`infer_with_boxes`.
    """
    return MMPoseInferencer(pose2d=config, pose2d_weights=checkpoint,
                            device=device, det_model=det_model)


def infer_with_boxes(inferencer: MMPoseInferencer,
                     image: str | np.ndarray,
                     bboxes: Optional[Sequence[Sequence[float]]] = None,
                     draw_heatmap: bool = True,
                     out_file: Optional[str] = None,
                     kpt_thr: float = 0.0) -> PoseDataSample:
    """Predict the poses in given boxes and (optionally) draw them.

    Args:
        inferencer (MMPoseInferencer): from :func:`init_inferencer`.
        image (str | np.ndarray): image file or BGR image (H, W, 3).
        bboxes (Sequence, optional): person boxes (x1, y1, x2, y2) in image
            pixels, shape (N, 4). Default: the whole image.
        draw_heatmap (bool): return the head's heatmaps in
            ``pred_fields`` and draw them under the keypoint image.
            Default: True.
        out_file (str, optional): where to write the drawing (keypoints
            over the image, and below it the heatmap over the image).
        kpt_thr (float): keypoints scoring at most this are not drawn.
            Default: 0.0 (all): IntegralHead's scores are activation sums
            A(s), lower than heatmap maxima, and MMPose's usual 0.3 would
            hide most of them.

    Returns:
        PoseDataSample: the merged prediction: ``pred_instances`` with
        ``keypoints`` (N, K, 2) in image pixels, ``keypoint_scores`` (N, K)
        and ``bboxes`` (N, 4); with ``draw_heatmap``, ``pred_fields.heatmaps``
        (K, H_img, W_img), the instances' heatmaps warped into the image.
    """
    pose2d = inferencer.inferencer
    pose2d.update_model_visualizer_settings(draw_heatmap=draw_heatmap)
    if bboxes is not None:
        bboxes = np.asarray(bboxes, dtype=np.float32).reshape(-1, 4)
    samples = inference_topdown(pose2d.model, image, bboxes,
                                bbox_format='xyxy')
    merged = merge_data_samples(samples)
    if out_file is not None:
        img = mmcv.imread(image, channel_order='rgb') if isinstance(
            image, str) else mmcv.bgr2rgb(image)
        pose2d.visualizer.add_datasample(
            'prediction', img, merged, draw_gt=False,
            draw_heatmap=draw_heatmap, draw_bbox=True, kpt_thr=kpt_thr,
            out_file=out_file)
    return merged
