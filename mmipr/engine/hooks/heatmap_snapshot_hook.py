"""Per-epoch PNG snapshots of the heatmaps of a few fixed samples."""
from __future__ import annotations

import os
import os.path as osp
from typing import Optional, Sequence

import cv2
import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpose.registry import HOOKS

from mmipr.analysis.samples import keypoints_in_heatmap
from mmipr.utils.validation import InvalidArgumentError, check_bool, check_number


@HOOKS.register_module()
class HeatmapSnapshotHook(Hook):
    """Save the heatmaps of fixed validation samples as PNG every epoch.

    The paper's Fig. 4 (a) and App. A.8: how the heatmaps of the same images
    evolve during training. After every ``interval`` training epochs (and,
    with ``at_start``, before the first one), the model predicts the samples
    ``indices`` of the validation dataset (``model.test_step`` with
    ``test_cfg.output_heatmaps=True``, in eval mode, restored afterwards) and
    writes, per sample, ``<work_dir>/<out_dir>/epoch_XXX/sample_<index>.png``:
    the input crop, then one panel per keypoint with its heatmap (as the head
    returns it: normalised for ``IntegralHead``, raw for ``HeatmapHead``;
    colours span each map's own min..max, jet colormap) upsampled to the
    crop, and the ground truth (red dot) when the keypoint is labelled. Epoch 000
    is the initialisation. Only the main process writes.

    Enable with ``custom_hooks = [dict(type='HeatmapSnapshotHook',
    indices=(0, 1))]``.

    Args:
        indices (Sequence[int]): indices of the validation dataset (instances
            for top-down datasets). Default: (0, ).
        interval (int): every ``interval`` epochs. Default: 1.
        keypoint_indices (Sequence[int], optional): keypoints to draw; all
            if None.
        at_start (bool): also snapshot before training (epoch 000).
            Default: True.
        out_dir (str): folder under the work dir. Default:
            ``'heatmap_snapshots'``.
        cols (int): panels per row of the PNG. Default: 6.
    """

    priority = 'LOW'

    def __init__(self,
                 indices: Sequence[int] = (0, ),
                 interval: int = 1,
                 keypoint_indices: Optional[Sequence[int]] = None,
                 at_start: bool = True,
                 out_dir: str = 'heatmap_snapshots',
                 cols: int = 6):
        owner = 'HeatmapSnapshotHook'
        if not isinstance(indices, (list, tuple)) or not indices:
            raise InvalidArgumentError(
                f'{owner}: indices must be a non-empty list of whole numbers '
                f'(validation sample indices), got {indices!r}; give at '
                'least one index')
        for index in indices:
            check_number(owner, 'indices', index, integer=True,
                         hint='indices of validation samples')
        check_number(owner, 'interval', interval, integer=True, low=1,
                     hint='snapshot every `interval` epochs')
        if keypoint_indices is not None:
            if not isinstance(keypoint_indices, (list, tuple)):
                raise InvalidArgumentError(
                    f'{owner}: keypoint_indices must be None (all) or a '
                    f'list of whole numbers >= 0, got {keypoint_indices!r}')
            for index in keypoint_indices:
                check_number(owner, 'keypoint_indices', index, integer=True,
                             low=0, hint='indices of keypoints to draw')
        check_bool(owner, 'at_start', at_start)
        if not isinstance(out_dir, str) or not out_dir:
            raise InvalidArgumentError(
                f'{owner}: out_dir must be a folder name (a non-empty str), '
                f'got {out_dir!r}')
        check_number(owner, 'cols', cols, integer=True, low=1,
                     hint='panels per row of the PNG')
        self.indices = list(indices)
        self.interval = interval
        self.keypoint_indices = keypoint_indices
        self.at_start = at_start
        self.out_dir = out_dir
        self.cols = cols

    def before_train(self, runner) -> None:
        if runner.val_loop is None:
            raise ValueError(
                'HeatmapSnapshotHook draws validation samples but the config '
                'has no val_dataloader/val_cfg/val_evaluator; add them or '
                'remove the hook')
        size = len(runner.val_loop.dataloader.dataset)
        bad = [i for i in self.indices if not -size <= i < size]
        if bad:
            raise ValueError(
                f'HeatmapSnapshotHook: indices {bad} out of range for the '
                f'validation dataset of {size} samples')
        if self.at_start:
            self.snapshot(runner, 0)

    def after_train_epoch(self, runner) -> None:
        if self.every_n_epochs(runner, self.interval):
            self.snapshot(runner, runner.epoch + 1)

    def snapshot(self, runner, epoch: int) -> list:
        """Predict the samples and write their PNGs for ``epoch``.

        Returns:
            list[str]: the files written (empty off the main process).
        """
        if not is_main_process():
            return []
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        loader = runner.val_loop.dataloader
        batch = loader.collate_fn(
            [loader.dataset[i] for i in self.indices])
        test_cfg = model.test_cfg
        was_training, had = model.training, test_cfg.get('output_heatmaps')
        model.eval()
        test_cfg['output_heatmaps'] = True
        try:
            with torch.no_grad():
                samples = model.test_step(batch)
        finally:
            model.train(was_training)
            if had is None:
                test_cfg.pop('output_heatmaps')
            else:
                test_cfg['output_heatmaps'] = had
        folder = osp.join(runner.work_dir, self.out_dir, f'epoch_{epoch:03d}')
        os.makedirs(folder, exist_ok=True)
        names = loader.dataset.metainfo.get('keypoint_id2name', {})
        paths = []
        for index, image, sample in zip(self.indices, batch['inputs'],
                                        samples):
            path = osp.join(folder, f'sample_{index}.png')
            self._draw(path, image, sample, names, epoch)
            paths.append(path)
        return paths

    def _draw(self, path: str, image: torch.Tensor, sample, names: dict,
              epoch: int) -> None:
        """One PNG: the input crop, then one panel per keypoint."""
        heatmaps = sample.pred_fields.heatmaps.detach().float().cpu()
        K, H, W = heatmaps.shape
        gt = keypoints_in_heatmap([sample], (W, H))[0].numpy()
        visible = np.asarray(sample.gt_instances.keypoints_visible)[0] > 0
        keypoints = (range(K) if self.keypoint_indices is None else
                     self.keypoint_indices)
        # the packed image is BGR uint8, (C, h, w); panels get its size
        crop = np.ascontiguousarray(
            image.permute(1, 2, 0).cpu().numpy().astype(np.uint8))
        ph, pw = crop.shape[:2]
        scale = (pw / W, ph / H)
        panels = [self._label(crop, f'epoch {epoch}')]
        for k in keypoints:
            hm = heatmaps[k].numpy()
            span = hm.max() - hm.min()
            gray = ((hm - hm.min()) / (span if span > 0 else 1) * 255)
            panel = cv2.applyColorMap(
                cv2.resize(gray.astype(np.uint8), (pw, ph),
                           interpolation=cv2.INTER_NEAREST),
                cv2.COLORMAP_JET)
            if visible[k]:
                # heatmap pixel i covers [i - 0.5, i + 0.5) in map units
                centre = ((gt[k] + 0.5) * scale).round().astype(int)
                cv2.circle(panel, tuple(int(c) for c in centre),
                           max(2, pw // 40), (0, 0, 255), -1)
            panels.append(self._label(panel, names.get(k, str(k))))
        cols = min(len(panels), self.cols)
        blank = np.full_like(panels[0], 255)
        panels += [blank] * (-len(panels) % cols)
        rows = [np.hstack(panels[i:i + cols])
                for i in range(0, len(panels), cols)]
        cv2.imwrite(path, np.vstack(rows))

    @staticmethod
    def _label(panel: np.ndarray, text: str) -> np.ndarray:
        """The panel with a white caption strip above it, and a margin."""
        strip = np.full((14, panel.shape[1], 3), 255, np.uint8)
        cv2.putText(strip, text[:16], (2, 11), cv2.FONT_HERSHEY_SIMPLEX,
                    0.35, (0, 0, 0), 1, cv2.LINE_AA)
        out = np.vstack([strip, panel])
        return cv2.copyMakeBorder(out, 2, 2, 2, 2, cv2.BORDER_CONSTANT,
                                  value=(255, 255, 255))
