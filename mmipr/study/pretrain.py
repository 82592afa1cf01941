"""The study's neutral backbone pretraining (its stand-in for ImageNet).

The paper starts both heads from an ImageNet backbone; none can be downloaded
here, and training each variant from scratch leaves it far from convergence
in a CPU budget. :func:`pretrained_backbone` trains the synthetic configs'
backbone once on a task neither head is trained on, segmenting the person of
each top-down crop (``configs/synthetic/pretrain_r18_silhouette.py``), keeps
only the backbone's weights and caches them outside the clone, keyed by the
pretraining's settings (:func:`pretraining_key`). Every variant then starts
from them, with its head layers seeded identically (:func:`~mmipr.study.runs.
initial_weights`), so detection and integral regression start from the same
network. A killed pretraining resumes from its last epoch, and its record
still covers every epoch. The cached weights are checked against their
record (size and sha256) before use; a bad file is named, set aside and
retrained (:mod:`mmipr.study.cache`).
"""
from __future__ import annotations

import contextlib
import hashlib
import math
import os.path as osp
import shutil
import time

from mmengine.config import Config
from mmengine.hooks import Hook
from tqdm import tqdm

from mmipr.checkpoint_loader import load_checkpoint_file
from mmipr.datasets import transforms as _transforms
from mmipr.utils.io import atomic_output, file_digest, read_json_or_none, write_json_atomic

from .cache import cache_root, cache_setting, cached_file_ok, file_record
from .committed_weights import record_path, save_weights, verify_weights
from .ledger import source_commit
from .progress import StudyProgressHook
from .runs import build_runner, settings_key
from .workdir import StudyError, usable_folder, work_dir_lock


class NotPretrainedError(StudyError, FileNotFoundError):
    """No cached pretraining matches, and training one was not allowed."""


def pretraining_config(config: str, data_root: str, epochs: int,
                       seed: int = 0) -> Config:
    """The pretraining config of ``config`` on ``data_root``'s train split.

    Args:
        config (str): e.g. ``configs/synthetic/pretrain_r18_silhouette.py``.
        data_root (str): dataset root.
        epochs (int): training epochs; the lr drop (x0.1) stays at two
            thirds.
        seed (int): random seed. Default: 0.

    Returns:
        Config: the config to train (``work_dir`` not set).
    """
    cfg = Config.fromfile(config)
    cfg.train_dataloader.dataset.data_root = data_root.rstrip('/') + '/'
    cfg.train_cfg.max_epochs = epochs
    for scheduler in cfg.param_scheduler:
        if scheduler.type == 'MultiStepLR':
            scheduler.end = epochs
            scheduler.milestones = [max(1, 2 * epochs // 3)]
    cfg.randomness = dict(seed=seed)
    cfg.default_hooks.logger.interval = 50
    cfg.log_level = 'WARNING'
    return cfg


def pretraining_key(cfg: Config) -> str:
    """What determines a pretraining, the same in any clone:
    :func:`~mmipr.study.runs.settings_key` (the config with data paths
    relative to the dataset root, data file contents, dataset marker, the
    study version), the
    code of its target transform (``mmipr/datasets/transforms.py``) and the
    torch and MMPose versions: the cache outlives the clone, so a changed
    transform or library must not reuse an old backbone."""
    import mmpose
    import torch
    digest = hashlib.sha256(settings_key(cfg).encode())
    digest.update(file_digest(_transforms.__file__).encode())
    digest.update(f'{torch.__version__} {mmpose.__version__}'.encode())
    return digest.hexdigest()[:16]


class PretrainingLogHook(Hook):
    """Write each finished epoch's mean loss and training seconds to a JSON
    file, before that epoch's checkpoint is saved, so that a resumed
    pretraining's record covers the epochs trained before the kill.

    Args:
        path (str): the JSON file (``{"epochs": [{"epoch", "loss",
            "seconds"}, ...]}``).
    """

    # above the checkpoint hook's VERY_LOW: an epoch is logged before its
    # checkpoint exists
    priority = 'LOW'

    def __init__(self, path: str) -> None:
        self.path = path
        self._losses: list[float] = []
        self._seconds = 0.0
        self._tic = 0.0

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self._tic = time.perf_counter()

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        self._seconds += time.perf_counter() - self._tic
        if outputs and 'loss' in outputs:
            self._losses.append(float(outputs['loss'].detach()))

    def after_train_epoch(self, runner) -> None:
        done = runner.epoch + 1  # MMEngine counts the epoch after this hook
        log = [e for e in read_epoch_log(self.path) if e['epoch'] < done]
        log.append(dict(epoch=done, seconds=self._seconds,
                        loss=(sum(self._losses) / len(self._losses)
                              if self._losses else math.nan)))
        write_json_atomic(self.path, dict(epochs=log))
        self._losses, self._seconds = [], 0.0


def read_epoch_log(path: str) -> list[dict]:
    """The epochs :class:`PretrainingLogHook` logged to ``path`` (none if the
    file is absent or unreadable)."""
    return (read_json_or_none(path, 'the pretraining log') or {}).get(
        'epochs', [])


def committed_backbone(weights: str, key: str) -> dict | None:
    """The record of the committed backbone ``weights`` if its settings key
    is ``key`` (its file checked against the record: size and sha256), else
    None (absent, or made with other settings: then it is retrained).

    Raises:
        WeightsMismatchError: the file does not match its record (restore it
            with git, or retrain it with the record's command).
    """
    record = read_json_or_none(record_path(weights),
                               'the committed backbone\'s record')
    if record is None or not osp.exists(weights):
        return None
    if record.get('settings_key') != key:
        print(f'{weights} was pretrained with settings key '
              f'{record.get("settings_key")}, not {key}: not used')
        return None
    return verify_weights(weights)


def pretrained_backbone(config: str, data_root: str, epochs: int,
                        seed: int = 0, cache_dir: str | None = None,
                        progress: tqdm | None = None,
                        allow_training: bool = True,
                        weights_dir: str | None = None,
                        commit_weights: bool = False,
                        command: str = '',
                        commit: str | None = None) -> tuple[str, dict]:
    """Backbone weights pretrained by ``config``: committed, cached, or
    trained once.

    Looked for first in ``weights_dir`` (``weights/<config name>.pth``, a
    committed file whose record's settings key matches), then in the cache;
    trained when neither matches, and then (``commit_weights``) written to
    ``weights_dir`` with its record (:func:`~mmipr.study.committed_weights.
    save_weights`: float16, sha256, the command, commit and seconds).

    Args:
        config (str): the pretraining config.
        data_root (str): dataset root (its train split is used).
        epochs (int): pretraining epochs.
        seed (int): random seed. Default: 0.
        cache_dir (str, optional): Default: :func:`cache_root`.
        progress (tqdm, optional): a bar to advance per iteration (its
            total is set if it has none).
        allow_training (bool): train when no cached weights match; if
            False, raise :class:`NotPretrainedError` (a
            ``FileNotFoundError``) instead. Default: True.
        weights_dir (str, optional): the committed weights' folder.
            Default: None (the cache only).
        commit_weights (bool): write the backbone (trained, or found in the
            cache) to ``weights_dir``. Default: False.
        command (str): the command that trains it, for the committed record.
        commit (str, optional): the source commit it trains at, for the
            committed record. Default: the commit when this is called
            (before training: commits made while it trains are not its
            code's).

    Returns:
        tuple[str, dict]: the path of the backbone's ``state_dict`` (keys
        without the ``backbone.`` prefix), and its record: ``settings_key``,
        ``epochs``, ``train_seconds``, ``epoch_losses``, ``size`` and
        ``sha256`` of the weights file, ``reused``, ``committed`` (whether
        the path is the committed file).

    Raises:
        InvalidArgumentError: the cache folder (``MMIPR_CACHE``) is not a
            usable folder.
    """
    commit = commit or source_commit()
    cfg = pretraining_config(config, data_root, epochs, seed)
    key = pretraining_key(cfg)
    name = osp.splitext(osp.basename(config))[0]
    committed_file = osp.join(weights_dir, f'{name}.pth') \
        if weights_dir else None
    if committed_file is not None:
        record = committed_backbone(committed_file, key)
        if record is not None:
            return committed_file, dict(record, reused=True, committed=True)
    weights, record = _cached_or_trained(cfg, config, data_root, epochs,
                                         key, name, cache_dir, progress,
                                         allow_training)
    if commit_weights and committed_file is not None:
        state = load_checkpoint_file(weights, map_location='cpu')
        committed_record = save_weights(
            committed_file, state['state_dict'],
            dict(command=command, commit=commit, settings_key=key,
                 seconds=record['train_seconds'],
                 final=dict(loss=record['epoch_losses'][-1]),
                 config=record['config'], epochs=epochs,
                 train_seconds=record['train_seconds'],
                 epoch_losses=record['epoch_losses']),
            meta=dict(config=record['config'], settings_key=key))
        print(f'wrote {committed_file} (commit it with its record)')
        return committed_file, dict(committed_record,
                                    reused=record['reused'], committed=True)
    return weights, dict(record, committed=False)


def _cached_or_trained(cfg: Config, config: str, data_root: str,
                       epochs: int, key: str, name: str,
                       cache_dir: str | None, progress: tqdm | None,
                       allow_training: bool) -> tuple[str, dict]:
    """The cached backbone of ``key``, or a newly trained one (cached)."""
    setting = 'cache_dir' if cache_dir else cache_setting()
    folder = osp.join(usable_folder(cache_dir or cache_root(), setting),
                      'pretrain')
    weights = osp.join(folder, f'{name}_{key}.pth')
    record_file = osp.join(folder, f'{name}_{key}.json')
    record = read_json_or_none(record_file, 'the pretraining record')
    if record is not None and record.get('settings_key') == key and \
            cached_file_ok(weights, record, 'the pretrained backbone'):
        if 'sha256' not in record:  # a record of an older mmipr
            record.update(file_record(weights))
            write_json_atomic(record_file, record)
        return weights, dict(record, reused=True)
    if not allow_training:
        raise NotPretrainedError(
            f'no pretrained backbone of {config} on {data_root} with '
            f'{epochs} epochs in {folder} (settings key {key}), so the runs '
            'made from it cannot be matched either; run without --reuse-only '
            'to train it (the runs are then redone from the new weights)')
    cfg.work_dir = osp.join(folder, f'work_{name}_{key}')
    # Resume a pretraining that was killed (MMEngine starts afresh when the
    # folder holds no checkpoint; a finished one trains no further).
    cfg.resume = True
    with work_dir_lock(cfg.work_dir, f'the pretraining folder of {setting}'):
        state = _pretrain(cfg, config, epochs, progress)
        backbone = {k[len('backbone.'):]: v.contiguous()
                    for k, v in state.items() if k.startswith('backbone.')}
        if not backbone:
            raise RuntimeError(f'the pretraining of {config} saved no '
                               f'backbone weights (checkpoint in '
                               f'{cfg.work_dir})')
        import torch
        with atomic_output(weights) as tmp:
            torch.save(dict(state_dict=backbone,
                            meta=dict(config=config, settings_key=key)), tmp)
        log = read_epoch_log(osp.join(cfg.work_dir, 'epochs.json'))
        record = dict(settings_key=key, config=osp.basename(config),
                      epochs=epochs,
                      train_seconds=sum(e['seconds'] for e in log),
                      epoch_losses=[e['loss'] for e in log],
                      **file_record(weights))
        write_json_atomic(record_file, record)
        # The weights and the record are all that is kept.
        shutil.rmtree(cfg.work_dir, ignore_errors=True)
    return weights, dict(record, reused=False)


def _pretrain(cfg: Config, config: str, epochs: int,
              progress: tqdm | None) -> dict:
    """Train (or finish) the pretraining of ``cfg``; its last ``state_dict``.
    """
    log_file = osp.join(cfg.work_dir, 'epochs.json')
    runner = build_runner(cfg)
    if progress is not None and progress.total is None:
        progress.reset(total=len(runner.train_loop.dataloader) * epochs)
    runner.register_hook(StudyProgressHook(progress, label='pretraining'))
    runner.register_hook(PretrainingLogHook(log_file))
    with open(osp.join(cfg.work_dir, 'stdout.log'), 'a') as log, \
            contextlib.redirect_stdout(log):
        runner.train()
    log = read_epoch_log(log_file)
    if [e['epoch'] for e in log] != list(range(1, epochs + 1)):
        raise RuntimeError(
            f'the pretraining log {log_file} covers epochs '
            f'{[e["epoch"] for e in log]}, not 1-{epochs}: delete '
            f'{cfg.work_dir} to pretrain afresh')
    return load_checkpoint_file(osp.join(cfg.work_dir, f'epoch_{epochs}.pth'),
                                map_location='cpu')['state_dict']
