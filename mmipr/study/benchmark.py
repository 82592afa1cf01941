"""Where a study run's wall time goes (``tools/benchmark/bench_study_run.py``).

:func:`measure_study_run` trains one short study run (the study's detection
config, model, geometry, recipe and evaluation) through the study's own
path (:func:`~mmipr.study.runs.run`) with :class:`RunTimeProfileHook`, and
splits its wall time into the pure training steps (``train_step``: data
preprocessor, forward, loss, backward, optimizer step), waiting for the next
batch, validation, the rest of each epoch (checkpoints, hooks) and the
set-up before the first epoch (the runner, the datasets, the initial
weights).
"""
from __future__ import annotations

import tempfile
import time

from mmengine.hooks import Hook

from .plan import TABLE1, synthetic_config
from .runs import RunSpec, run, synthetic_data_options


class RunTimeProfileHook(Hook):
    """Wall seconds of a run's phases.

    Attributes:
        seconds (dict): ``setup`` (runner built to the first epoch),
            ``steps`` (``train_step``), ``data`` (waiting for batches),
            ``val`` (validation loops), ``epoch_rest`` (the remainder of
            each epoch: checkpoints, hooks) and ``after`` (after the last
            epoch).
    """

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self.seconds = dict(setup=0.0, steps=0.0, data=0.0, val=0.0,
                            epoch_rest=0.0, after=0.0)
        self._built = time.perf_counter()
        self._mark = self._built

    def _since(self) -> float:
        now = time.perf_counter()
        elapsed, self._mark = now - self._mark, now
        return elapsed

    def before_train(self, runner) -> None:
        self.seconds['setup'] += self._since()

    def before_train_epoch(self, runner) -> None:
        self.seconds['epoch_rest'] += self._since()

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self.seconds['data'] += self._since()

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        self.seconds['steps'] += self._since()

    def before_val_epoch(self, runner) -> None:
        self.seconds['epoch_rest'] += self._since()

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.seconds['val'] += self._since()

    def after_train(self, runner) -> None:
        self.seconds['epoch_rest'] += self._since()

    def after_run(self, runner) -> None:
        self.seconds['after'] += self._since()


def measure_study_run(data_root: str, epochs: int = 3,
                      variant: str = 'detection') -> dict:
    """Train one short study run and split its wall time.

    Args:
        data_root (str): a synthetic dataset (e.g. a few hundred train
            images).
        epochs (int): the run's epochs (at least 3: the lr drops).
            Default: 3.
        variant (str): a Table 1 variant. Default: ``'detection'``.

    Returns:
        dict: ``wall`` (the run's wall seconds, as its result records them,
        set-up included), ``steps`` (pure training steps), ``ratio``
        (wall / steps), ``iterations`` and the phases of
        :class:`RunTimeProfileHook` (seconds).
    """
    config = dict((n, c) for n, c, _ in TABLE1)[variant]
    spec = RunSpec(variant, synthetic_config(config), epochs=epochs,
                   cfg_options=synthetic_data_options(data_root))
    profile = RunTimeProfileHook()
    with tempfile.TemporaryDirectory() as work_root:
        tic = time.perf_counter()
        result = run(spec, work_root, hooks=[profile])
        wall = time.perf_counter() - tic
    return dict(wall=wall, steps=profile.seconds['steps'],
                ratio=wall / profile.seconds['steps'],
                iterations=result['iterations'],
                recorded_wall=result['wall_seconds'],
                recorded_train=result['train_seconds'], **{
                    f'phase_{k}': v for k, v in profile.seconds.items()})
