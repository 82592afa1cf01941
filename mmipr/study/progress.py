"""The study's progress bar and learning curves, kept across a resume."""
from __future__ import annotations

import math
import time

from mmengine.hooks import Hook
from tqdm import tqdm

#: the scalar PriorGradientRatioHook writes to the message hub
GRAD_RATIO_KEY = 'train/prior_integral_grad_ratio'
#: the checkpoint meta key of :class:`StudyProgressHook`'s records
PROGRESS_META = 'study_progress'


class StudyProgressHook(Hook):
    """Advance a shared progress bar and record the learning curves.

    The records travel in every checkpoint's ``meta`` (``study_progress``):
    a run resumed from its checkpoint of epoch E continues the curves of
    epochs 1-E instead of starting them afresh. Its priority is above the
    checkpoint hook's, so an epoch's loss is recorded before that epoch's
    checkpoint is written.

    Args:
        progress (tqdm, optional): the bar to advance once per training and
            validation iteration.
        label (str): shown beside the bar.
    """

    priority = 'LOW'

    def __init__(self, progress: tqdm | None = None, label: str = ''):
        self.progress = progress
        self.label = label
        self.epoch_losses: list[float] = []
        self.val_metrics: list[dict] = []
        self.grad_ratios: list[float] = []
        self.train_seconds = 0.0
        #: wall seconds of earlier invocations of a resumed run
        self.wall_seconds_before = 0.0
        #: the epochs a run was resumed after
        self.resumed_after: list[int] = []
        self._losses: list[float] = []
        self._ratios_seen = 0
        self._tic = 0.0
        self._started = time.perf_counter()

    def _advance(self, steps: int = 1) -> None:
        if self.progress is not None:
            self.progress.update(steps)

    def before_run(self, runner) -> None:
        self._started = time.perf_counter()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})[PROGRESS_META] = dict(
            epoch_losses=self.epoch_losses, val_metrics=self.val_metrics,
            grad_ratios=self.grad_ratios, train_seconds=self.train_seconds,
            wall_seconds=self.wall_seconds_before
            + time.perf_counter() - self._started,
            resumed_after=self.resumed_after)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        saved = (checkpoint.get('meta') or {}).get(PROGRESS_META)
        if saved is None:  # starting weights, not a resumed run
            return
        self.epoch_losses = list(saved['epoch_losses'])
        self.val_metrics = list(saved['val_metrics'])
        self.grad_ratios = list(saved['grad_ratios'])
        self.train_seconds = saved['train_seconds']
        self.wall_seconds_before = saved['wall_seconds']
        self.resumed_after = list(saved['resumed_after']) + [
            len(self.epoch_losses)]
        val_iters = len(runner.val_dataloader) \
            if runner.val_loop is not None else 0
        self._advance(len(self.epoch_losses) * len(runner.train_dataloader)
                      + len(self.val_metrics) * val_iters)

    def before_train(self, runner) -> None:
        # a resumed run's message hub holds the ratios of earlier epochs
        ratios = runner.message_hub.log_scalars.get(GRAD_RATIO_KEY)
        self._ratios_seen = len(ratios.data[0]) if ratios is not None else 0

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self._tic = time.perf_counter()

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        self.train_seconds += time.perf_counter() - self._tic
        loss = float(outputs['loss']) if outputs and 'loss' in outputs \
            else math.nan
        self._losses.append(loss)
        self._advance()
        if self.progress is not None:
            self.progress.set_postfix_str(
                f'{self.label} epoch {runner.epoch + 1} loss {loss:.4g}')

    def after_train_epoch(self, runner) -> None:
        self.epoch_losses.append(sum(self._losses) / max(len(self._losses), 1))
        self._losses = []
        ratios = runner.message_hub.log_scalars.get(GRAD_RATIO_KEY)
        if ratios is not None:
            history = ratios.data[0]
            new = history[self._ratios_seen:]
            self._ratios_seen = len(history)
            self.grad_ratios.append(float(new.mean()) if len(new)
                                    else math.nan)

    def after_val_iter(self, runner, batch_idx, data_batch=None,
                       outputs=None) -> None:
        self._advance()

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.val_metrics.append(
            dict(epoch=runner.epoch, **{k: float(v)
                                        for k, v in (metrics or {}).items()}))
