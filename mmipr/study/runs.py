"""Train and evaluate config variants in one process, reusing finished runs.

The one training path of the demo and the study (:mod:`mmipr.study.demo`,
:mod:`mmipr.study.study`). Each run is a normal MMEngine training of a config
from ``configs/synthetic/`` (or any config), with its data paths, epoch
count, seed and starting weights overridden; a :class:`StudyProgressHook`
feeds one progress bar for all runs and records the per-epoch validation
metrics, training loss and (with a prior) the prior-to-integral gradient
ratio. A run whose ``result.json`` matches its settings is reused
(:func:`find_finished`); a run killed before it finished resumes from its
checkpoint of the last finished epoch (:func:`resumable_checkpoint`). The
settings key covers the config, the contents of every data file the run
reads, its starting weights and mmipr's version (:func:`settings_key`);
result files are written atomically and an unreadable one is redone.
"""
from __future__ import annotations

import contextlib
import glob
import os
import os.path as osp
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Sequence

from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmengine.runner.checkpoint import find_latest_checkpoint
from tqdm import tqdm

from mmipr.datasets import DETECTION_FILE, MARKER_FILE
from mmipr.engine.preflight import check_data_paths
from mmipr.utils.io import read_json_or_none, write_json_atomic

from .ledger import ledger_key, run_id
from .progress import StudyProgressHook

#: a finished run's record, in its folder
RESULT_FILE = 'result.json'
#: the settings key of the checkpoints in a run's folder
RUN_STATE_FILE = 'run_state.json'


@dataclass
class RunSpec:
    """One training run.

    Args:
        name (str): variant name, e.g. ``'integral_kl2'``.
        config (str): config file path.
        epochs (int): training epochs (lr drops: :func:`lr_drops`).
        seed (int): random seed (MMEngine ``randomness.seed``).
        cfg_options (dict): further overrides, as ``--cfg-options``.
        load_from (str, optional): starting weights (``load_from``), e.g.
            :func:`initial_weights`, so that every variant of a seed starts
            from the same network. Default: None (the config's own init).
        study_epochs (int, optional): the study's T; a run of another length
            has ``_T<epochs>`` in its id (:func:`~mmipr.study.ledger.run_id`).
            Default: None (the run is at the study's length).
    """

    name: str
    config: str
    epochs: int
    seed: int = 0
    cfg_options: dict = field(default_factory=dict)
    load_from: str | None = None
    study_epochs: int | None = None

    @property
    def run_id(self) -> str:
        return run_id(self.name, self.seed, self.epochs,
                      study_epochs=self.study_epochs or self.epochs)


def synthetic_data_options(data_root: str, gt_boxes: bool = False) -> dict:
    """Overrides that point a ``configs/synthetic`` config at ``data_root``.

    Args:
        data_root (str): dataset root (annotations/, train2017/, val2017/).
        gt_boxes (bool): evaluate on ground-truth boxes (pairing by
            annotation id, exact per-instance statistics) instead of the
            dataset's detection file. Default: False (detected boxes, whose
            scores rank instances the same way for every head).
    """
    root = data_root.rstrip('/') + '/'
    ann = root + 'annotations/person_keypoints_val2017.json'
    bbox_file = None if gt_boxes else root + DETECTION_FILE
    options = {
        'train_dataloader.dataset.data_root': root,
        'val_dataloader.dataset.data_root': root,
        'test_dataloader.dataset.data_root': root,
        'val_dataloader.dataset.bbox_file': bbox_file,
        'test_dataloader.dataset.bbox_file': bbox_file,
        'val_evaluator.ann_file': ann,
        'test_evaluator.ann_file': ann,
    }
    return options


#: instance scoring of the study's metrics: prefix -> CocoMetric score_mode
SCORE_RULES = {
    # The shared rule of the Table-1 AP: an instance is ranked by its
    # detected box's score alone, the same for every head, so AP measures
    # localisation only.
    'coco': 'bbox',
    # Each head's own keypoint scores (MMPose's default rescoring: box score
    # times the mean keypoint score above keypoint_score_thr).
    'own': 'bbox_keypoint',
}


#: MMPose's schedule shape: lr x0.1 after these fractions of training
#: (epochs 170 and 200 of 210), after a linear warm-up
LR_DROP_FRACTIONS = (170 / 210, 200 / 210)
#: validated epochs per run (and the last), enough points for Fig. 4(b)
VALIDATIONS_PER_RUN = 10


def lr_drops(epochs: int) -> list[int]:
    """The epochs after which a study run's lr is x0.1: MMPose's schedule
    shape, 170/210 and 200/210 of training.

    Rounding: each fraction of ``epochs`` is rounded to the nearest whole
    epoch (Python's ``round``), then the second drop is moved to at most
    ``epochs - 1`` (at least one epoch at the lowest lr) and the first to at
    most one epoch before the second; so at least 3 epochs are needed.

    Examples:
        >>> lr_drops(210), lr_drops(30), lr_drops(10), lr_drops(3)
        ([170, 200], [24, 29], [8, 9], [1, 2])
    """
    if epochs < 3:
        raise ValueError(f'epochs={epochs}: a study run needs at least 3 '
                         'epochs (two lr drops and an epoch after them)')
    first, second = (round(f * epochs) for f in LR_DROP_FRACTIONS)
    second = min(second, epochs - 1)
    return [min(first, second - 1), second]


def val_interval(epochs: int) -> int:
    """Validate every ``val_interval(epochs)`` epochs (and after the last):
    about :data:`VALIDATIONS_PER_RUN` validations per run, each epoch's for
    runs of fewer epochs.

    Examples:
        >>> val_interval(10), val_interval(30), val_interval(25)
        (1, 3, 2)
    """
    return max(1, epochs // VALIDATIONS_PER_RUN)


def validated_epochs(epochs: int) -> list[int]:
    """The epochs a run of ``epochs`` validates after (MMEngine validates
    every :func:`val_interval` epochs and after the last)."""
    every = val_interval(epochs)
    return [e for e in range(1, epochs + 1) if e % every == 0 or e == epochs]


def build_config(spec: RunSpec, work_dir: str) -> Config:
    """The config of ``spec``: its file plus the run's overrides."""
    cfg = Config.fromfile(spec.config)
    cfg.merge_from_dict(spec.cfg_options)
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=spec.seed)
    cfg.train_cfg.max_epochs = spec.epochs
    cfg.train_cfg.val_interval = val_interval(spec.epochs)
    for scheduler in cfg.param_scheduler:
        if scheduler.type == 'MultiStepLR':
            scheduler.end = spec.epochs
            scheduler.milestones = lr_drops(spec.epochs)
    cfg.model.test_cfg.output_heatmaps = True
    if spec.load_from is not None:
        cfg.load_from = spec.load_from
    # One normalisation for both heads' A(2): the positive part over its sum
    # is the identity on integral heatmaps; footnote 2's softmax (beta 1)
    # flattens detection heatmaps (values in [0, 1]) to near-uniform maps.
    metric = dict(cfg.val_evaluator, heatmap_normalization='sum')
    cfg.val_evaluator = [dict(metric, prefix=prefix, score_mode=mode)
                         for prefix, mode in SCORE_RULES.items()]
    if cfg.model.head.get('prior_loss'):
        cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
            dict(type='PriorGradientRatioHook', interval=25)]
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=spec.epochs, max_keep_ckpts=1)
    cfg.default_hooks.logger.interval = 10
    cfg.log_level = 'WARNING'
    return cfg


def build_runner(cfg: Config) -> Runner:
    """MMEngine's runner of ``cfg``, with a visualizer of its own."""
    # MMPose names its visualizer 'visualizer' and MMEngine reuses a named
    # instance: runs in one process would all write to the first run's dir.
    cfg = cfg.copy()
    cfg.visualizer.name = f'visualizer_{cfg.work_dir}_{time.time_ns()}'
    return Runner.from_cfg(cfg)


def data_files(cfg: Config) -> list[str]:
    """Every file a run of ``cfg`` reads besides its images and starting
    weights: the train, val and test annotation files, detection files and
    the evaluators' annotation files, and for a synthetic dataset its
    generation marker (which covers the images: they are drawn from the
    recorded settings)."""
    from mmipr.datasets.data_files import IMAGE_DIR, config_data_files
    files = [f.path for f in config_data_files(cfg) if f.kind != IMAGE_DIR]
    files += [osp.join(r, MARKER_FILE) for r in data_roots(cfg)
              if osp.exists(osp.join(r, MARKER_FILE))]
    return sorted(set(osp.normpath(f) for f in files))


def data_roots(cfg: Config) -> list[str]:
    """The train and val dataset roots of ``cfg`` (sorted, no empties)."""
    return sorted({(cfg.get(f'{p}_dataloader') or {}).get('dataset', {}).get(
        'data_root') or '' for p in ('train', 'val')} - {''})


def settings_key(cfg: Config) -> str:
    """Hash of everything that determines a run's result, the same on any
    machine and in any clone (:func:`~mmipr.study.ledger.ledger_key`).

    The config after inheritance (data paths relative to the dataset root,
    ``work_dir`` left out), the contents of every file of :func:`data_files`,
    the tensors of the starting weights (``load_from``) and the study's
    version (:data:`~mmipr.study.ledger.STUDY_VERSION`).
    """
    roots = data_roots(cfg)
    return ledger_key(cfg.to_dict(), roots[0] if roots else '',
                      data_files(cfg))


def iterations_per_run(cfg: Config) -> int:
    """Training + validation iterations of one run of ``cfg`` (for the bar)."""
    runner = build_runner(cfg)
    epochs = cfg.train_cfg.max_epochs
    return (len(runner.train_loop.dataloader) * epochs
            + len(runner.val_loop.dataloader) * len(validated_epochs(epochs)))


@dataclass
class Finished:
    """What :func:`find_finished` found for one run.

    Args:
        result (dict, optional): the stored result (as :func:`run` returns
            it, with ``reused=True``); None when no finished run matches.
        reason (str): why none matches (empty when one does).
    """

    result: dict | None
    reason: str = ''


def find_finished(spec: RunSpec, work_root: str) -> Finished:
    """The stored result of ``spec`` if a run with the same settings finished.

    Args:
        spec (RunSpec): the run.
        work_root (str): runs are written to ``work_root/<run_id>``.

    Returns:
        Finished: the result, or why there is none (no ``result.json``, an
        unreadable one, other settings, a missing checkpoint).
    """
    work_dir = osp.join(work_root, spec.run_id)
    result_file = osp.join(work_dir, RESULT_FILE)
    if not osp.exists(result_file):
        return Finished(None, f'no {result_file} (never finished there)')
    cached = read_json_or_none(result_file, f'the result of run {spec.run_id}')
    if cached is None:
        return Finished(None, f'{result_file} is unreadable')
    cfg = build_config(spec, work_dir)
    check_data_paths(cfg, phases=('train', 'val'))
    key = settings_key(cfg)
    if cached.get('settings_key') != key:
        return Finished(None, (
            f'{result_file} was made with settings key '
            f'{cached.get("settings_key")}, not {key}: the config, a data '
            'file, the starting weights or mmipr\'s version changed'))
    if not osp.exists(cached.get('checkpoint', '')):
        return Finished(None, f'its checkpoint {cached.get("checkpoint")} '
                        'is missing')
    return Finished(dict(cached, reused=True))


def resumable_checkpoint(work_dir: str, key: str) -> str | None:
    """The checkpoint a killed run of settings ``key`` can resume from.

    The run's folder records the settings key its checkpoints were made
    with (:data:`RUN_STATE_FILE`); checkpoints of other settings (or of no
    record) are removed, with a warning, so that they are never resumed.

    Args:
        work_dir (str): the run's folder.
        key (str): the run's settings key (:func:`settings_key`).

    Returns:
        str | None: the latest checkpoint, or None (train from the start).
    """
    state_file = osp.join(work_dir, RUN_STATE_FILE)
    state = read_json_or_none(state_file, 'the run state') or {}
    latest = find_latest_checkpoint(work_dir)
    if state.get('settings_key') == key and latest and osp.exists(latest):
        return latest
    stale = glob.glob(osp.join(work_dir, 'epoch_*.pth')) + glob.glob(
        osp.join(work_dir, '.epoch_*.pth.part'))
    if stale:
        warnings.warn(
            f'{work_dir} holds checkpoints of other settings (or of no '
            f'recorded settings): {", ".join(sorted(stale))}; they are '
            'removed and the run trains from its starting weights.')
    for path in stale + [osp.join(work_dir, 'last_checkpoint')]:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
    write_json_atomic(state_file, dict(settings_key=key))
    return None


def runtime_config(cfg: Config, resume_from: str | None) -> Config:
    """What only the running of ``cfg`` adds, outside its settings key: a
    kill-safe checkpoint every epoch (the last one kept), and resumption
    from ``resume_from`` (its validation redone if a kill cut it off)."""
    cfg = cfg.copy()
    cfg.default_hooks.checkpoint = dict(
        type='AtomicCheckpointHook', interval=1, max_keep_ckpts=1)
    if not any(h.get('type') == 'ResumeValidationHook'
               for h in cfg.get('custom_hooks', [])):
        cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
            dict(type='ResumeValidationHook')]
    if resume_from is not None:
        cfg.resume = True
        cfg.load_from = resume_from
    return cfg


def run(spec: RunSpec, work_root: str, progress: tqdm | None = None,
        hooks: Sequence[Hook] = ()) -> dict:
    """Train and evaluate one variant, or reuse its finished result.

    A checkpoint is saved after every epoch (only the last is kept), and a
    run killed before it finished resumes from it: a kill loses at most
    the epoch in progress.

    Args:
        spec (RunSpec): the run.
        work_root (str): runs are written to ``work_root/<run_id>``.
        progress (tqdm, optional): a bar to advance (by the run's iteration
            count when the run is reused).
        hooks (Sequence[Hook]): further hooks of a trained run (e.g. a
            profile, :mod:`mmipr.study.benchmark`). Default: none.

    Returns:
        dict: ``name``, ``seed``, ``config``, ``work_dir``, ``checkpoint``,
        ``train_seconds``, ``wall_seconds``, ``epoch_losses``, ``lr``,
        ``lr_drop_epochs``, ``val_interval``, ``val_metrics`` (per
        validated epoch, with its ``epoch``), ``metrics`` (the last's),
        ``resumed_after`` (the epochs after which a killed run was resumed)
        and, for a reused run, ``reused``.
    """
    cached = find_finished(spec, work_root).result
    if cached is not None:
        if progress is not None:
            progress.update(cached['iterations'])
        return cached
    work_dir = osp.join(work_root, spec.run_id)
    cfg = build_config(spec, work_dir)
    check_data_paths(cfg, phases=('train', 'val'))
    key = settings_key(cfg)
    os.makedirs(work_dir, exist_ok=True)
    cfg = runtime_config(cfg, resumable_checkpoint(work_dir, key))
    cfg.dump(osp.join(work_dir, osp.basename(spec.config)))
    runner = build_runner(cfg)
    hook = StudyProgressHook(progress, label=spec.run_id)
    runner.register_hook(hook)
    for extra in hooks:
        runner.register_hook(extra)
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
        iterations=(len(runner.train_loop.dataloader) * spec.epochs
                    + len(runner.val_loop.dataloader)
                    * len(validated_epochs(spec.epochs))),
        wall_seconds=hook.wall_seconds_before + time.perf_counter() - tic,
        train_seconds=hook.train_seconds,
        epoch_losses=hook.epoch_losses,
        grad_ratios=hook.grad_ratios,
        lr=cfg.optim_wrapper.optimizer.lr,
        lr_drop_epochs=lr_drops(spec.epochs),
        val_interval=val_interval(spec.epochs),
        val_metrics=hook.val_metrics,
        metrics=hook.val_metrics[-1] if hook.val_metrics else {},
        resumed_after=hook.resumed_after)
    write_json_atomic(osp.join(work_dir, RESULT_FILE), result)
    return result
