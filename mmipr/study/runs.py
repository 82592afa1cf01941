"""Train and evaluate config variants in one process, reusing finished runs.

Used by ``tools/demo.py`` (the README's main job) and ``tools/reproduce.py``
(the paper's study in miniature). Each run is a normal MMEngine training of a
config from ``configs/synthetic/`` (or any config), with its data paths, epoch
count and seed overridden; a :class:`StudyProgressHook` feeds one progress bar
for all runs and records the per-epoch validation metrics and training loss.
A run whose ``result.json`` matches its settings is reused, so an interrupted
study resumes where it stopped.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import os.path as osp
import time
from dataclasses import asdict, dataclass, field

from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner
from tqdm import tqdm

from mmipr.engine.preflight import check_data_paths


@dataclass
class RunSpec:
    """One training run.

    Args:
        name (str): variant name, e.g. ``'integral_kl2'``.
        config (str): config file path.
        epochs (int): training epochs (the lr drop is kept at 80 %).
        seed (int): random seed (MMEngine ``randomness.seed``).
        cfg_options (dict): further overrides, as ``--cfg-options``.
    """

    name: str
    config: str
    epochs: int
    seed: int = 0
    cfg_options: dict = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return f'{self.name}_seed{self.seed}'


class StudyProgressHook(Hook):
    """Advance a shared progress bar and record the learning curves.

    Args:
        progress (tqdm, optional): the bar to advance once per training and
            validation iteration.
        label (str): shown beside the bar.
    """

    priority = 'VERY_LOW'

    def __init__(self, progress: tqdm | None = None, label: str = ''):
        self.progress = progress
        self.label = label
        self.epoch_losses: list[float] = []
        self.val_metrics: list[dict] = []
        self.train_seconds = 0.0
        self._losses: list[float] = []
        self._tic = 0.0

    def _advance(self) -> None:
        if self.progress is not None:
            self.progress.update(1)

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

    def after_val_iter(self, runner, batch_idx, data_batch=None,
                       outputs=None) -> None:
        self._advance()

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.val_metrics.append(
            dict(epoch=runner.epoch, **{k: float(v)
                                        for k, v in (metrics or {}).items()}))


def synthetic_data_options(data_root: str, gt_boxes: bool = True) -> dict:
    """Overrides that point a ``configs/synthetic`` config at ``data_root``.

    Args:
        data_root (str): dataset root (annotations/, train2017/, val2017/).
        gt_boxes (bool): evaluate on ground-truth boxes (pairing by
            annotation id, exact per-instance statistics) instead of the
            dataset's detection file.
    """
    root = data_root.rstrip('/') + '/'
    ann = root + 'annotations/person_keypoints_val2017.json'
    options = {
        'train_dataloader.dataset.data_root': root,
        'val_dataloader.dataset.data_root': root,
        'test_dataloader.dataset.data_root': root,
        'val_evaluator.ann_file': ann,
        'test_evaluator.ann_file': ann,
    }
    if gt_boxes:
        options['val_dataloader.dataset.bbox_file'] = None
        options['test_dataloader.dataset.bbox_file'] = None
    return options


def build_config(spec: RunSpec, work_dir: str) -> Config:
    """The config of ``spec``: its file plus the run's overrides."""
    cfg = Config.fromfile(spec.config)
    cfg.merge_from_dict(spec.cfg_options)
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=spec.seed)
    cfg.train_cfg.max_epochs = spec.epochs
    cfg.train_cfg.val_interval = 1
    drop = max(1, round(0.8 * spec.epochs))
    for scheduler in cfg.param_scheduler:
        if scheduler.type == 'MultiStepLR':
            scheduler.end = spec.epochs
            scheduler.milestones = [drop]
    cfg.model.test_cfg.output_heatmaps = True
    # One normalisation for both heads' A(2): the positive part over its sum
    # is the identity on integral heatmaps; footnote 2's softmax (beta 1)
    # flattens detection heatmaps (values in [0, 1]) to near-uniform maps.
    cfg.val_evaluator.heatmap_normalization = 'sum'
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=spec.epochs, max_keep_ckpts=1)
    cfg.default_hooks.logger.interval = 10
    cfg.log_level = 'WARNING'
    return cfg


def _build_runner(cfg: Config) -> Runner:
    # MMPose names its visualizer 'visualizer' and MMEngine reuses a named
    # instance: runs in one process would all write to the first run's dir.
    cfg = cfg.copy()
    cfg.visualizer.name = f'visualizer_{cfg.work_dir}_{time.time_ns()}'
    return Runner.from_cfg(cfg)


def _settings_key(cfg: Config, data_root: str) -> str:
    """Hash of everything that determines a run's result."""
    ann = osp.join(data_root, 'annotations', 'person_keypoints_train2017.json')
    digest = hashlib.sha256(cfg.pretty_text.encode())
    digest.update(str(osp.getsize(ann)).encode())
    return digest.hexdigest()[:16]


def iterations_per_run(cfg: Config) -> int:
    """Training + validation iterations of one run of ``cfg`` (for the bar)."""
    runner = _build_runner(cfg)
    per_epoch = len(runner.train_loop.dataloader) + len(
        runner.val_loop.dataloader)
    return per_epoch * cfg.train_cfg.max_epochs


def finished_result(spec: RunSpec, data_root: str,
                    work_root: str) -> dict | None:
    """The stored result of ``spec`` if a run with the same settings finished.

    Args:
        spec (RunSpec): the run.
        data_root (str): dataset root.
        work_root (str): runs are written to ``work_root/<run_id>``.

    Returns:
        dict | None: the result (as :func:`run` returns it, with
        ``reused=True``), or None when no finished run matches the settings.
    """
    work_dir = osp.join(work_root, spec.run_id)
    result_file = osp.join(work_dir, 'result.json')
    if not osp.exists(result_file):
        return None
    with open(result_file) as f:
        cached = json.load(f)
    cfg = build_config(spec, work_dir)
    check_data_paths(cfg, phases=('train', 'val'))
    key = _settings_key(cfg, data_root)
    if cached.get('settings_key') != key or not osp.exists(
            cached['checkpoint']):
        return None
    return dict(cached, reused=True)


def run(spec: RunSpec, data_root: str, work_root: str,
        progress: tqdm | None = None) -> dict:
    """Train and evaluate one variant, or reuse its finished result.

    Args:
        spec (RunSpec): the run.
        data_root (str): dataset root.
        work_root (str): runs are written to ``work_root/<run_id>``.
        progress (tqdm, optional): a bar to advance (by the run's iteration
            count when the run is reused).

    Returns:
        dict: ``name``, ``seed``, ``config``, ``work_dir``, ``checkpoint``,
        ``train_seconds``, ``epoch_losses``, ``val_metrics`` (per epoch),
        ``metrics`` (the last epoch's) and, for a reused run, ``reused``.
    """
    cached = finished_result(spec, data_root, work_root)
    if cached is not None:
        if progress is not None:
            progress.update(cached['iterations'])
        return cached
    work_dir = osp.join(work_root, spec.run_id)
    cfg = build_config(spec, work_dir)
    check_data_paths(cfg, phases=('train', 'val'))
    key = _settings_key(cfg, data_root)
    result_file = osp.join(work_dir, 'result.json')
    os.makedirs(work_dir, exist_ok=True)
    cfg.dump(osp.join(work_dir, osp.basename(spec.config)))
    runner = _build_runner(cfg)
    hook = StudyProgressHook(progress, label=spec.run_id)
    runner.register_hook(hook)
    tic = time.perf_counter()
    # COCOeval prints its summaries; keep them in the run's dir, off the bar.
    with open(osp.join(work_dir, 'stdout.log'), 'a') as log, \
            contextlib.redirect_stdout(log):
        runner.train()
    result = dict(
        asdict(spec),
        run_id=spec.run_id,
        work_dir=work_dir,
        checkpoint=osp.join(work_dir, f'epoch_{spec.epochs}.pth'),
        settings_key=key,
        iterations=(len(runner.train_loop.dataloader) +
                    len(runner.val_loop.dataloader)) * spec.epochs,
        wall_seconds=time.perf_counter() - tic,
        train_seconds=hook.train_seconds,
        epoch_losses=hook.epoch_losses,
        val_metrics=hook.val_metrics,
        metrics=hook.val_metrics[-1] if hook.val_metrics else {})
    with open(result_file, 'w') as f:
        json.dump(result, f, indent=1)
    return result
