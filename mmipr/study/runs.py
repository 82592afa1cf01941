"""Train and evaluate config variants in one process, reusing finished runs.

Used by ``tools/demo.py`` (the README's main job) and ``tools/reproduce.py``
(the paper's study in miniature). Each run is a normal MMEngine training of a
config from ``configs/synthetic/`` (or any config), with its data paths, epoch
count, seed and starting weights overridden; a :class:`StudyProgressHook`
feeds one progress bar for all runs and records the per-epoch validation
metrics, training loss and (with a prior) the prior-to-integral gradient
ratio. A run whose ``result.json`` matches its settings is reused, so an
interrupted study resumes where it stopped. The settings key covers the
config, the contents of every data file the run reads, its starting weights
and mmipr's version (:func:`settings_key`); result files are written
atomically and an unreadable one is redone.
"""
from __future__ import annotations

import contextlib
import hashlib
import math
import os
import os.path as osp
import time
from dataclasses import asdict, dataclass, field

from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner
from tqdm import tqdm

from mmipr.datasets import DETECTION_FILE, MARKER_FILE
from mmipr.engine.preflight import check_data_paths
from mmipr.utils.io import file_digest, read_json_or_none, write_json_atomic
from mmipr.version import __version__

#: the scalar PriorGradientRatioHook writes to the message hub
GRAD_RATIO_KEY = 'train/prior_integral_grad_ratio'


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
    """

    name: str
    config: str
    epochs: int
    seed: int = 0
    cfg_options: dict = field(default_factory=dict)
    load_from: str | None = None

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
        self.grad_ratios: list[float] = []
        self.train_seconds = 0.0
        self._losses: list[float] = []
        self._ratios_seen = 0
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


def lr_drops(epochs: int) -> list[int]:
    """The epochs after which the study's lr is x0.1: MMPose's recipe shape
    (two drops, as at epochs 170 and 200 of 210), placed so that the last
    quarter of training (the convergence criterion's q = round(T / 4)
    epochs) lies after the second drop, and the first drop q epochs earlier.

    Examples:
        >>> lr_drops(10), lr_drops(9), lr_drops(4)
        ([6, 8], [5, 7], [2, 3])
    """
    quarter = max(1, round(epochs / 4))
    last = max(1, epochs - quarter)
    return sorted({max(1, last - quarter), last})


def last_lr_drop(epochs: int) -> int:
    """The epoch after which the study's last lr drop happens
    (:func:`lr_drops`)."""
    return lr_drops(epochs)[-1]


def build_config(spec: RunSpec, work_dir: str) -> Config:
    """The config of ``spec``: its file plus the run's overrides."""
    cfg = Config.fromfile(spec.config)
    cfg.merge_from_dict(spec.cfg_options)
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=spec.seed)
    cfg.train_cfg.max_epochs = spec.epochs
    cfg.train_cfg.val_interval = 1
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


def _build_runner(cfg: Config) -> Runner:
    # MMPose names its visualizer 'visualizer' and MMEngine reuses a named
    # instance: runs in one process would all write to the first run's dir.
    cfg = cfg.copy()
    cfg.visualizer.name = f'visualizer_{cfg.work_dir}_{time.time_ns()}'
    return Runner.from_cfg(cfg)


def data_files(cfg: Config) -> list[str]:
    """Every file a run of ``cfg`` reads besides its images: the train, val
    and test annotation files, detection files, the evaluators' annotation
    files and the starting weights (``load_from``)."""
    from mmipr.datasets.data_files import IMAGE_DIR, config_data_files
    files = [f.path for f in config_data_files(cfg) if f.kind != IMAGE_DIR]
    if cfg.get('load_from'):
        files.append(cfg.load_from)
    return sorted(set(osp.normpath(f) for f in files))


def settings_key(cfg: Config) -> str:
    """Hash of everything that determines a run's result.

    The config's text, mmipr's version and the contents of every file of
    :func:`data_files`; for a synthetic dataset, also its generation marker
    (which covers the images: they are drawn from the recorded settings).
    """
    digest = hashlib.sha256(cfg.pretty_text.encode())
    digest.update(__version__.encode())
    paths = data_files(cfg)
    roots = {(cfg.get(f'{p}_dataloader') or {}).get('dataset', {}).get(
        'data_root') or '' for p in ('train', 'val')}
    paths += [osp.join(r, MARKER_FILE) for r in sorted(roots)
              if osp.exists(osp.join(r, MARKER_FILE))]
    for path in paths:
        digest.update(path.encode())
        digest.update(file_digest(path).encode())
    return digest.hexdigest()[:16]


def initial_weights(config: str, seed: int, out_dir: str,
                    backbone: str | None = None) -> str:
    """Starting weights shared by every variant trained with ``seed``.

    The model of ``config`` (the detection config: the heads share the
    trunk's layers, names and shapes) is built under ``seed`` and its state
    written once to ``out_dir``, keyed by the model settings, the seed and
    the torch version; a study passes it as every run's ``load_from``, so
    that detection and integral regression start from identical weights.

    Args:
        config (str): config file whose model is built.
        seed (int): random seed of the initialisation.
        out_dir (str): folder of the cached weights.
        backbone (str, optional): pretrained backbone weights (a
            ``state_dict`` without the ``backbone.`` prefix, e.g.
            :func:`~mmipr.study.pretrain.pretrained_backbone`) loaded over the
            seeded backbone; the head keeps its seeded initialisation.
            Default: None (all seeded).

    Returns:
        str: path of the checkpoint (``state_dict`` and ``meta``).
    """
    import torch
    from mmengine.runner import set_random_seed
    from mmpose.registry import MODELS

    cfg = Config.fromfile(config)
    model_text = Config(dict(model=cfg.model)).pretty_text
    backbone_digest = file_digest(backbone) if backbone else ''
    key = hashlib.sha256(
        f'{model_text}{seed}{torch.__version__}{backbone_digest}'.encode()
    ).hexdigest()[:12]
    path = osp.join(out_dir, f'init_seed{seed}_{key}.pth')
    if osp.exists(path):
        return path
    set_random_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    if backbone:
        model.backbone.load_state_dict(
            torch.load(backbone, map_location='cpu',
                       weights_only=False)['state_dict'])
    os.makedirs(out_dir, exist_ok=True)
    tmp = f'{path}.tmp-{os.getpid()}'
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(seed=seed, config=config, backbone=backbone)),
               tmp)
    os.replace(tmp, path)
    return path


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
    cached = read_json_or_none(osp.join(work_dir, 'result.json'),
                               f'the result of run {spec.run_id}')
    if cached is None:
        return None
    cfg = build_config(spec, work_dir)
    check_data_paths(cfg, phases=('train', 'val'))
    if cached.get('settings_key') != settings_key(cfg) or not osp.exists(
            cached.get('checkpoint', '')):
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
    key = settings_key(cfg)
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
        grad_ratios=hook.grad_ratios,
        lr_drop_epoch=last_lr_drop(spec.epochs),
        lr_drop_epochs=lr_drops(spec.epochs),
        val_metrics=hook.val_metrics,
        metrics=hook.val_metrics[-1] if hook.val_metrics else {})
    write_json_atomic(result_file, result)
    return result
