"""Which neutral start trains both heads fastest (issue 24, item 3).

:func:`compare_starts` pretrains each candidate backbone once (cached by
:func:`~mmipr.study.pretrain.pretrained_backbone`), fine-tunes detection and
integral regression from it with one short recipe (the study's runs,
:func:`~mmipr.study.runs.run`, from :func:`~mmipr.study.setup.
initial_weights` with ``backbone=``), and writes a table of what each start
is worth (:func:`write_starts_document`). The candidates (:data:`STARTS`):

- ``scratch``: the seeded initialisation alone;
- ``silhouette``: the study's start before this comparison, the silhouette
  pretraining (``pretrain_r18_silhouette.py``) on the study's train split;
- ``silhouette_long``: the same, trained longer;
- ``silhouette_more``: the same epochs on a larger train split generated
  with another seed into its own folder (the study's data unchanged);
- ``parts``: the body-part segmentation pretraining
  (``pretrain_r18_parts.py``) on the study's train split.

The two larger pretrainings cost the same (``long_epochs`` epochs of the
study's images against ``pretrain_epochs`` epochs of
``pretrain_images``), so they compare more data with more passes.
"""
from __future__ import annotations

import os.path as osp
import time
from dataclasses import dataclass, field

import numpy as np

from mmipr.datasets import ensure_synthetic_coco
from mmipr.utils.io import atomic_output
from mmipr.utils.validation import InvalidArgumentError, check_number

from .plan import TABLE1, synthetic_config
from .pretrain import pretrained_backbone
from .report import number_text
from .runs import RunSpec, lr_drops, run, synthetic_data_options
from .setup import initial_weights

#: the candidate starts, in the table's order
STARTS = ('scratch', 'silhouette', 'silhouette_long', 'silhouette_more',
          'parts')
#: the pretraining config of each pretrained start
START_CONFIGS = dict(silhouette='pretrain_r18_silhouette.py',
                     silhouette_long='pretrain_r18_silhouette.py',
                     silhouette_more='pretrain_r18_silhouette.py',
                     parts='pretrain_r18_parts.py')
#: the fine-tuned heads: (variant, config) of the study's Table 1
HEADS = tuple((name, config) for name, config, _ in TABLE1[:2])
#: the table's metric columns: (header, metric key of the last epoch)
METRIC_COLUMNS = (('detection AP', 'detection', 'coco/AP'),
                  ('integral AP', 'integral', 'coco/AP'),
                  ('detection AP e/m', 'detection', 'coco/easy_medium/AP'),
                  ('integral AP e/m', 'integral', 'coco/easy_medium/AP'))


@dataclass
class StartsSettings:
    """One comparison of the starts (``tools/analysis/compare_starts.py``).

    Args:
        data_root (str): the study's dataset (generated if absent), whose
            train split fine-tunes every start and pretrains all but
            ``silhouette_more``.
        num_train (int): its train images. Default: 3000 (the study's).
        num_val (int): its val images. Default: 200 (the study's).
        pretrain_root (str): the larger pretraining split's dataset.
        pretrain_images (int): its train images. Default: 5000.
        pretrain_seed (int): its seed (not the study's 0, so its images are
            others). Default: 1.
        pretrain_epochs (int): epochs of ``silhouette``, ``silhouette_more``
            and ``parts``. Default: 6 (the study's).
        long_epochs (int): epochs of ``silhouette_long``. Default: 10.
        finetune_epochs (int): epochs of every fine-tuning run (the study's
            lr drops, :func:`~mmipr.study.runs.lr_drops`). Default: 3.
        seed (int): seed of the fine-tuning runs and their heads' init.
            Default: 0.
        starts (tuple[str]): which of :data:`STARTS` to compare.
        work_dir (str): the fine-tuning runs (``<work_dir>/<run_id>``) and
            initial weights (``<work_dir>/init``).
        cache_dir (str, optional): the pretrainings' cache. Default: the
            study's (``MMIPR_CACHE``), so a pretraining the study made is
            reused.
        doc (str): the Markdown table written.
        command (str): the command line, quoted in the document.
    """

    data_root: str = 'data/synthetic_coco_3k'
    num_train: int = 3000
    num_val: int = 200
    pretrain_root: str = 'data/synthetic_coco_pretrain_5k'
    pretrain_images: int = 5000
    pretrain_seed: int = 1
    pretrain_epochs: int = 6
    long_epochs: int = 10
    finetune_epochs: int = 3
    seed: int = 0
    starts: tuple = STARTS
    work_dir: str = 'work_dirs/starts'
    cache_dir: str | None = None
    doc: str = 'docs/starts.md'
    command: str = 'python tools/analysis/compare_starts.py'

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for name in ('num_train', 'num_val', 'pretrain_images',
                     'pretrain_epochs', 'long_epochs'):
            check_number(owner, name, getattr(self, name), integer=True,
                         low=1)
        check_number(owner, 'finetune_epochs', self.finetune_epochs,
                     integer=True, low=3,
                     hint="the study's schedule shape needs two lr drops "
                     'and an epoch after them (mmipr.study.runs.lr_drops)')
        for name in ('pretrain_seed', 'seed'):
            check_number(owner, name, getattr(self, name), integer=True,
                         low=0)
        unknown = [s for s in self.starts if s not in STARTS]
        if unknown or not self.starts:
            raise InvalidArgumentError(
                f'{owner}: starts must be some of {", ".join(STARTS)}, got '
                f'{list(self.starts)!r}')
        if self.pretrain_seed == 0 and 'silhouette_more' in self.starts:
            raise InvalidArgumentError(
                f'{owner}: pretrain_seed 0 is the study\'s seed: the larger '
                'pretraining split would repeat the study\'s train images '
                '(and its val images would be the study\'s); give another '
                'seed')


@dataclass
class StartResult:
    """One start's row of the table.

    Args:
        name (str): one of :data:`STARTS`.
        pretraining (dict, optional): the pretraining's record
            (:func:`~mmipr.study.pretrain.pretrained_backbone`); None for
            ``scratch``.
        pretrain_images (int): images of the pretraining's train split (0
            for ``scratch``).
        runs (dict): head variant -> its run's result
            (:func:`~mmipr.study.runs.run`).
    """

    name: str
    pretraining: dict | None
    pretrain_images: int
    runs: dict = field(default_factory=dict)

    def metric(self, head: str, key: str) -> float:
        """The last epoch's ``key`` of ``head``'s run (nan if absent)."""
        return float(self.runs[head]['metrics'].get(key, np.nan))


def pretraining_of(name: str, settings: StartsSettings) -> tuple:
    """(config file, data root, epochs, train images) of start ``name``'s
    pretraining; None for ``scratch``."""
    if name == 'scratch':
        return None
    epochs = settings.long_epochs if name == 'silhouette_long' \
        else settings.pretrain_epochs
    if name == 'silhouette_more':
        root, images = settings.pretrain_root, settings.pretrain_images
    else:
        root, images = settings.data_root, settings.num_train
    return synthetic_config(START_CONFIGS[name]), root, epochs, images


def compare_starts(settings: StartsSettings) -> list[StartResult]:
    """Pretrain each start (or reuse its cached backbone), fine-tune both
    heads from it, and write :attr:`StartsSettings.doc`.

    Every fine-tuning run is the study's run (:class:`~mmipr.study.runs.
    RunSpec`, reused when finished with the same settings): the study's
    config, data, geometry and schedule shape, ``finetune_epochs`` epochs,
    evaluated on the val split's detected boxes.

    Args:
        settings (StartsSettings): the comparison.

    Returns:
        list[StartResult]: one per start, in :data:`STARTS` order.
    """
    ensure_synthetic_coco(settings.data_root, num_train=settings.num_train,
                          num_val=settings.num_val, seed=0)
    if 'silhouette_more' in settings.starts:
        # its own folder: the study's train and val data stay as they are
        # (one val image: the split must not be empty, and is never used)
        ensure_synthetic_coco(settings.pretrain_root,
                              num_train=settings.pretrain_images, num_val=1,
                              seed=settings.pretrain_seed)
    results = []
    for name in (s for s in STARTS if s in settings.starts):
        pretraining = pretraining_of(name, settings)
        backbone, record, images = None, None, 0
        if pretraining is not None:
            config, root, epochs, images = pretraining
            tic = time.perf_counter()
            backbone, record = pretrained_backbone(
                config, root, epochs, seed=settings.seed,
                cache_dir=settings.cache_dir)
            print(f'{name}: pretrained backbone '
                  f'{"reused" if record["reused"] else "trained"} '
                  f'({time.perf_counter() - tic:.0f} s): {backbone}',
                  flush=True)
        weights = initial_weights(synthetic_config(HEADS[0][1]),
                                  settings.seed,
                                  osp.join(settings.work_dir, 'init'),
                                  backbone=backbone)
        result = StartResult(name, record, images)
        for head, config in HEADS:
            spec = RunSpec(f'{head}_{name}', synthetic_config(config),
                           epochs=settings.finetune_epochs,
                           seed=settings.seed,
                           cfg_options=synthetic_data_options(
                               settings.data_root),
                           load_from=weights)
            result.runs[head] = run(spec, settings.work_dir)
            done = result.runs[head]
            print(f'{spec.run_id}: AP {result.metric(head, "coco/AP"):.3f} '
                  f'({"reused" if done.get("reused") else "trained"}, '
                  f'{done["wall_seconds"]:.0f} s)', flush=True)
        results.append(result)
    write_starts_document(settings, results)
    return results


def _method(settings: StartsSettings) -> list[str]:
    s = settings
    return [
        'Each start is a backbone the study could begin from; each is '
        'fine-tuned into both heads by the same recipe and scored the same '
        'way, so the table ranks the starts by what a short training makes '
        'of them.',
        '',
        '- **scratch**: the seeded initialisation alone.',
        f'- **silhouette**: the study\'s start before this comparison, '
        f'`configs/synthetic/pretrain_r18_silhouette.py` (the instance\'s '
        f'silhouette) for {s.pretrain_epochs} epochs on the study\'s '
        f'{s.num_train} train images.',
        f'- **silhouette_long**: the same for {s.long_epochs} epochs.',
        f'- **silhouette_more**: the same {s.pretrain_epochs} epochs on '
        f'{s.pretrain_images} train images of another seed '
        f'({s.pretrain_seed}, in `{s.pretrain_root}`): '
        f'{s.pretrain_images * s.pretrain_epochs} image-epochs, as '
        f'silhouette_long\'s {s.num_train * s.long_epochs}.',
        f'- **parts**: `configs/synthetic/pretrain_r18_parts.py`, the '
        f'instance\'s body parts (head, torso, upper and lower limbs, left '
        f'and right told apart; per-pixel cross-entropy over 11 classes) '
        f'for {s.pretrain_epochs} epochs on the study\'s train images.',
        '',
        'No pretraining supervises a keypoint, a joint heatmap or a '
        'coordinate. Fine-tuning: the study\'s detection and integral '
        f'configs (`sbl_r18_detection.py`, `sbl_r18_integral.py`), seed '
        f'{s.seed}, {s.finetune_epochs} epochs of the study\'s '
        f'{s.num_train} train images with the study\'s lr drops (x0.1 '
        f'after epochs {lr_drops(s.finetune_epochs)}, '
        '`mmipr.study.runs.lr_drops`), validated every epoch, from the detection model built '
        'under the seed with the start\'s backbone loaded over it '
        '(`mmipr.study.setup.initial_weights`), so both heads of a start '
        'begin from the same network. AP is on the '
        f'{s.num_val} val images\' detected boxes with the shared box-score '
        'rule (`coco/AP`), after the last epoch; AP e/m on the easy and '
        'medium instances. Pretraining seconds are the pretraining\'s '
        'training iterations; its loss is the mean of its last epoch.',
    ]


def starts_table(results: list[StartResult]) -> list[str]:
    """The Markdown table of :func:`compare_starts`' results."""
    lines = ['| start | pretraining images | pretraining epochs | '
             'pretraining seconds | pretraining final loss | ' +
             ' | '.join(h for h, _, _ in METRIC_COLUMNS) + ' |',
             '| --- ' * (5 + len(METRIC_COLUMNS)) + '|']
    for r in results:
        p = r.pretraining or {}
        losses = p.get('epoch_losses') or [None]
        cells = [r.name, str(r.pretrain_images or '-'),
                 str(p.get('epochs', '-')),
                 number_text(p.get('train_seconds'), 0),
                 number_text(losses[-1], 4)]
        cells += [number_text(r.metric(head, key)) for _, head, key in
                  METRIC_COLUMNS]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return lines


def write_starts_document(settings: StartsSettings,
                          results: list[StartResult] | None) -> str:
    """Write the comparison's Markdown document to ``settings.doc``.

    Args:
        settings (StartsSettings): the comparison.
        results (list[StartResult], optional): its results; None writes the
            method and the command only ("not measured yet").

    Returns:
        str: the document's text.
    """
    lines = ['# Which neutral start trains both heads fastest', '',
             'Made by (from the repository root):', '', '```bash',
             settings.command, '```', ''] + _method(settings) + ['']
    if results is None:
        lines += ['Not measured yet: the command above writes the table '
                  'here.']
    else:
        lines += starts_table(results)
    text = '\n'.join(lines) + '\n'
    with atomic_output(settings.doc) as tmp, open(tmp, 'w') as f:
        f.write(text)
    return text
