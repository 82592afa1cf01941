"""The study's neutral backbone pretraining (its stand-in for ImageNet).

The paper starts both heads from an ImageNet backbone; none can be downloaded
here, and training each variant from scratch leaves it far from convergence
in a CPU budget. :func:`pretrained_backbone` trains the synthetic configs'
backbone once on a task neither head is trained on, segmenting the person of
each top-down crop (``configs/synthetic/pretrain_r18_silhouette.py``), keeps
only the backbone's weights and caches them outside the clone, keyed by the
pretraining's settings (config text, the contents of its data files, the
dataset's generation marker, mmipr's version). Every variant then starts from
them, with its head layers seeded identically (:func:`~mmipr.study.runs.
initial_weights`), so detection and integral regression start from the same
network. A killed pretraining resumes from its last epoch.
"""
from __future__ import annotations

import contextlib
import os
import os.path as osp

from mmengine.config import Config
from tqdm import tqdm

from .io import read_json_or_none, write_json_atomic
from .runs import StudyProgressHook, _build_runner, settings_key


def cache_root() -> str:
    """Folder of the study's caches outside the clone: ``$MMIPR_CACHE``, or
    ``~/.cache/mmipr``."""
    return os.environ.get('MMIPR_CACHE') or osp.join(
        osp.expanduser('~'), '.cache', 'mmipr')


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


def pretrained_backbone(config: str, data_root: str, epochs: int,
                        seed: int = 0, cache_dir: str | None = None,
                        progress: tqdm | None = None,
                        allow_training: bool = True) -> tuple[str, dict]:
    """Backbone weights pretrained by ``config``, trained once and cached.

    Args:
        config (str): the pretraining config.
        data_root (str): dataset root (its train split is used).
        epochs (int): pretraining epochs.
        seed (int): random seed. Default: 0.
        cache_dir (str, optional): Default: :func:`cache_root`.
        progress (tqdm, optional): a bar to advance per iteration (its
            total is set if it has none).
        allow_training (bool): train when no cached weights match; if
            False, raise ``FileNotFoundError`` instead. Default: True.

    Returns:
        tuple[str, dict]: the path of the backbone's ``state_dict`` (keys
        without the ``backbone.`` prefix), and its record: ``settings_key``,
        ``epochs``, ``train_seconds``, ``epoch_losses``, ``reused``.
    """
    import torch

    cfg = pretraining_config(config, data_root, epochs, seed)
    key = settings_key(cfg)
    folder = osp.join(cache_dir or cache_root(), 'pretrain')
    name = osp.splitext(osp.basename(config))[0]
    weights = osp.join(folder, f'{name}_{key}.pth')
    record_file = osp.join(folder, f'{name}_{key}.json')
    if osp.exists(weights) and osp.exists(record_file):
        record = read_json_or_none(record_file, 'the pretraining record')
        if record is not None and record.get('settings_key') == key:
            return weights, dict(record, reused=True)
    if not allow_training:
        raise FileNotFoundError(
            f'no pretrained backbone of {config} on {data_root} with '
            f'{epochs} epochs in {folder} (settings key {key}); run without '
            '--reuse-only to train it, or pass --pretrain-epochs 0')
    cfg.work_dir = osp.join(folder, f'work_{name}_{key}')
    # Resume a pretraining that was killed (MMEngine starts afresh when the
    # folder holds no checkpoint).
    cfg.resume = True
    os.makedirs(cfg.work_dir, exist_ok=True)
    runner = _build_runner(cfg)
    if progress is not None and progress.total is None:
        progress.reset(total=len(runner.train_loop.dataloader) * epochs)
    hook = StudyProgressHook(progress, label='pretraining')
    runner.register_hook(hook)
    with open(osp.join(cfg.work_dir, 'stdout.log'), 'a') as log, \
            contextlib.redirect_stdout(log):
        runner.train()
    state = torch.load(osp.join(cfg.work_dir, f'epoch_{epochs}.pth'),
                       map_location='cpu', weights_only=False)['state_dict']
    backbone = {k[len('backbone.'):]: v.contiguous()
                for k, v in state.items() if k.startswith('backbone.')}
    if not backbone:
        raise RuntimeError(f'the pretraining of {config} saved no backbone '
                           f'weights (checkpoint in {cfg.work_dir})')
    tmp = f'{weights}.tmp-{os.getpid()}'
    torch.save(dict(state_dict=backbone,
                    meta=dict(config=config, settings_key=key)), tmp)
    os.replace(tmp, weights)
    record = dict(settings_key=key, config=osp.basename(config),
                  epochs=epochs, train_seconds=hook.train_seconds,
                  epoch_losses=hook.epoch_losses)
    write_json_atomic(record_file, record)
    return weights, dict(record, reused=False)
