"""The one set-up of the demo and the study: the synthetic dataset, the
neutral backbone pretraining and the initial weights of each seed.

:func:`prepare` generates the dataset if absent
(:func:`~mmipr.datasets.ensure_synthetic_coco`), takes the pretrained
backbone from ``weights/`` when its committed record's settings key matches,
else from the cache, else pretrains it once
(:func:`~mmipr.study.pretrain.pretrained_backbone`) and returns
a :class:`Start` whose :meth:`Start.weights` gives every run of a seed the
same initial network (:func:`initial_weights`).
"""
from __future__ import annotations

import contextlib
import hashlib
import os.path as osp
from dataclasses import dataclass

from mmengine.config import Config
from tqdm import tqdm

from mmipr.datasets import ensure_synthetic_coco
from mmipr.utils.io import atomic_output, file_digest, read_json_or_none, write_json_atomic

from .cache import cached_file_ok, file_record
from .plan import PRETRAIN_CONFIG, TABLE1, StudySettings, synthetic_config
from .pretrain import pretrained_backbone


def initial_weights(config: str, seed: int, out_dir: str,
                    backbone: str | None = None) -> str:
    """Starting weights shared by every variant trained with ``seed``.

    The model of ``config`` (the detection config: the heads share the
    trunk's layers, names and shapes) is built under ``seed`` and its state
    written once to ``out_dir``, keyed by the model settings, the seed and
    the torch version; a study passes it as every run's ``load_from``, so
    that detection and integral regression start from identical weights.
    Beside it a record (``.json``) holds its size and sha256: a cached file
    that does not match is named, set aside and rebuilt.

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
    record_file = osp.splitext(path)[0] + '.json'
    # a file of an older mmipr has no record: checked by loading it
    record = read_json_or_none(record_file, 'the initial weights\' record')
    if cached_file_ok(path, record or {}, 'the initial weights'):
        if record is None:
            write_json_atomic(record_file, file_record(path))
        return path
    set_random_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    if backbone:
        model.backbone.load_state_dict(
            torch.load(backbone, map_location='cpu',
                       weights_only=True)['state_dict'])
    with atomic_output(path) as tmp:
        torch.save(dict(state_dict=model.state_dict(),
                        meta=dict(seed=seed, config=config,
                                  backbone=backbone)), tmp)
    write_json_atomic(record_file, file_record(path))
    return path


@dataclass
class Start:
    """Where every run of the demo or the study starts.

    Args:
        dataset (str): ``'generated'`` or ``'present'``
            (:func:`~mmipr.datasets.ensure_synthetic_coco`).
        backbone (str, optional): the pretrained backbone's weights (None:
            no pretraining).
        pretraining (dict, optional): its record
            (:func:`~mmipr.study.pretrain.pretrained_backbone`).
        init_dir (str): folder of the initial weights.
    """

    dataset: str
    backbone: str | None
    pretraining: dict | None
    init_dir: str

    def weights(self, seed: int, pretrained: bool = True) -> str:
        """The initial weights of every run of ``seed``: the detection
        model built under ``seed``, with the pretrained backbone loaded over
        its backbone when ``pretrained`` (and one exists)."""
        return initial_weights(
            synthetic_config(TABLE1[0][1]), seed, self.init_dir,
            backbone=self.backbone if pretrained else None)


def prepare(settings: StudySettings, show_progress: bool = False,
            commit: str | None = None) -> Start:
    """The dataset, the pretrained backbone and the initial weights' folder.

    Args:
        settings (StudySettings): the invocation (``data_root``,
            ``num_train``, ``num_val``, ``pretrain_epochs``, ``work_dir``,
            ``weights_dir``, ``commit_weights``; with ``reuse_only`` no
            pretraining is started).
        show_progress (bool): show a progress bar for the pretraining.
        commit (str, optional): the source commit, for a committed
            backbone's record. Default: the commit when this is called.

    Returns:
        Start: the set-up.
    """
    dataset = ensure_synthetic_coco(
        settings.data_root, num_train=settings.num_train,
        num_val=settings.num_val, seed=0, workers=2)
    if dataset == 'generated':
        print(f'Generated the synthetic dataset in {settings.data_root}.')
    backbone, pretraining = None, None
    if settings.pretrain_epochs > 0:
        with contextlib.ExitStack() as stack:
            progress = stack.enter_context(tqdm(
                desc='pretraining', unit='it', dynamic_ncols=True)) \
                if show_progress else None
            backbone, pretraining = pretrained_backbone(
                synthetic_config(PRETRAIN_CONFIG), settings.data_root,
                settings.pretrain_epochs, progress=progress,
                allow_training=not settings.reuse_only,
                weights_dir=settings.weights_dir,
                commit_weights=settings.commit_weights,
                command=settings.command, commit=commit)
    return Start(dataset, backbone, pretraining,
                 osp.join(settings.work_dir, 'init'))
