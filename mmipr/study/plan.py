"""What the study and the demo train: the paper's variants, their numbers and
the order the runs start in.

The study (:func:`study_plan`) trains the variants of the paper's Table 1
(detection sigma 2; integral regression; integral + prior sigma 0.5-4) and
Fig. 2(d) (detection sigma 0.5, 1, 3), ``seeds`` seeds of the three main
variants, a detection run from scratch that measures what the pretraining
is worth, and beyond the paper the alternatives to its prior that MMPose
users have (:data:`BEYOND`). The demo (:func:`demo_plan`) trains the three main variants.
Every run of a seed starts from the same initial weights
(:meth:`~mmipr.study.setup.Start.weights`).
"""
from __future__ import annotations

import os.path as osp
from dataclasses import dataclass, field
from typing import Callable

from mmipr.utils.validation import InvalidArgumentError, check_bool, check_number

from .committed_weights import WEIGHTS_DIR
from .ledger import LEDGER_DIR, SOURCE_ROOT
from .runs import RunSpec, synthetic_data_options

#: (variant, config, paper AP (Table 1)), in priority order
TABLE1 = (
    ('detection', 'sbl_r18_detection.py', 71.3),
    ('integral', 'sbl_r18_integral.py', 67.1),
    ('integral_kl2', 'sbl_r18_integral_kl2.py', 71.4),
    ('integral_kl0.5', 'sbl_r18_integral_kl0.5.py', 65.1),
    ('integral_kl4', 'sbl_r18_integral_kl4.py', 66.9),
    ('integral_kl1', 'sbl_r18_integral_kl1.py', 68.5),
    ('integral_kl3', 'sbl_r18_integral_kl3.py', 69.8),
)
#: (variant, config, paper AP): the Fig. 2(d) sweep of detection's sigma
FIG2D = (
    ('detection_sigma0.5', 'sbl_r18_detection_sigma0.5.py', None),
    ('detection_sigma1', 'sbl_r18_detection_sigma1.py', None),
    ('detection_sigma3', 'sbl_r18_detection_sigma3.py', None),
)
#: (variant, config, None): beyond the paper, the alternatives MMPose users
#: have, at one seed: integral regression debiased as Gu et al. 2021 derive
#: it, DSNT's Jensen-Shannon prior (sigma 2), and MMPose's debias formula
#: with the paper's KL prior (sigma 2)
BEYOND = (
    ('integral_gu2021', 'sbl_r18_integral_gu2021.py', None),
    ('integral_js2', 'sbl_r18_integral_js2.py', None),
    ('integral_debias_kl2', 'sbl_r18_integral_debias_kl2.py', None),
)
#: MMPose's published COCO val2017 AP of the integral models beside them
#: (ResNet-50, 256x256, from a heatmap model: ``configs/README.md``)
MMPOSE_INTEGRAL_AP = dict(IPR=63.3, DSNT=67.4, debias=67.5)
#: the control of the pretraining: detection from seeded weights alone
SCRATCH = ('detection_scratch', 'sbl_r18_detection.py', None)
#: variants trained with several seeds, whose spread defines a tie
SEEDED = ('detection', 'integral', 'integral_kl2')
#: the demo's variants: the three main ones
DEMO_VARIANTS = TABLE1[:3]
#: the neutral backbone pretraining (:mod:`mmipr.study.pretrain`): the
#: body-part segmentation, which trained both heads at least as fast as every
#: other start compared in ``docs/starts.md`` for the least pretraining time
PRETRAIN_CONFIG = 'pretrain_r18_parts.py'
#: what that pretraining teaches, in words for the demo and the report
PRETRAIN_TASK = ('segmenting the body parts of the person of each top-down '
                 'crop (head, torso, upper and lower limbs, left and right '
                 'told apart; the generator\'s exact part shapes at 64x48, '
                 'per-pixel cross-entropy)')
#: the integral baseline's A(1) threshold of Table V (localised / dispersed)
TABLE5_A1 = 0.34
#: the fewest epochs of a study's T (:func:`~mmipr.study.runs.lr_drops`
#: needs 3: two lr drops and an epoch after them)
MIN_STUDY_EPOCHS = 4
#: the hint of a too-small T
MIN_EPOCHS_HINT = 'two lr drops and at least one epoch after them'
#: the variants whose saturation the study judges (a T/2 run each)
SATURATION_VARIANTS = SEEDED
#: AP against training length (the target regime): a T/4 run of each of
#: these, beside their T/2 runs ...
QUARTER_VARIANTS = SEEDED
#: ... and a 2T run of these (the longest runs of the study: planned last)
DOUBLE_VARIANTS = ('detection', )
#: the early-training study this one replaces (detection AP 0.118): the
#: commit that holds its document, and its recipe (that document's Setup)
EARLY_STUDY = dict(
    commit='ab3ccdd16298d69487aee31abe0e013277b95394',
    path='docs/reproduction.md',
    recipe='10 epochs, bfloat16 autocast, lr x0.1 after epochs 6 and 8, a '
    'backbone pretrained on person silhouettes; the same data, models, '
    'seeds and scoring rules')
#: the target regime on the study's val split: detection's AP and AP e/m
TARGET_AP = {'coco/AP': 0.5, 'coco/easy_medium/AP': 0.7}


def config_dir() -> str:
    """``configs/synthetic`` of this source tree (or of the installed
    package's ``.mim`` copy)."""
    package = osp.dirname(osp.dirname(osp.abspath(__file__)))
    for root in (osp.dirname(package), osp.join(package, '.mim')):
        folder = osp.join(root, 'configs', 'synthetic')
        if osp.isdir(folder):
            return folder
    raise FileNotFoundError(
        f'configs/synthetic is neither beside {package} nor in its .mim '
        'folder: run from a clone of mmipr, or reinstall it')


def synthetic_config(name: str) -> str:
    """Path of ``configs/synthetic/<name>``."""
    return osp.join(config_dir(), name)


@dataclass
class StudySettings:
    """One invocation of the study (``tools/reproduce.py``) or the demo.

    Args:
        data_root (str): synthetic dataset root (generated if absent).
        work_dir (str): the runs' folder; ``<work_dir>/<run_id>`` per run.
        num_train (int): train images to generate.
        num_val (int): val images to generate.
        epochs (int): epochs per run.
        pretrain_epochs (int): epochs of the neutral backbone pretraining
            (0: none, every run from seeded weights alone).
        seeds (int): seeds of :data:`SEEDED` (the study) or the one seed
            (the demo: ``seeds=1``, ``first_seed``).
        first_seed (int): the first seed. Default: 0.
        budget (float, optional): minutes; no run starts that is not
            expected to finish within them. Default: None (no limit).
        reuse_only (bool): start no run: use only the ledger's records
            (the study) or finished runs of the work dir (the demo).
        doc (str): the study's document (Markdown).
        command (str): the command line, quoted in the document.
        ledger_dir (str, optional): the ledger's folder
            (:class:`~mmipr.study.ledger.Ledger`); None: no ledger (the
            demo: its runs are reused from the work dir only). Default:
            the source tree's ``docs/study/runs``.
        weights_dir (str): committed weights (:mod:`~mmipr.study.
            committed_weights`): the pretrained backbone is taken from here
            when its record's settings key matches. Default: the source
            tree's ``weights``.
        commit_weights (bool): write a (re)trained backbone to
            ``weights_dir``. Default: False.
        half_runs (bool): plan a run of T // 2 epochs (seed ``first_seed``)
            of each :data:`SATURATION_VARIANTS`, for the saturation
            criterion. Default: True.
        length_runs (bool): plan the other points of AP against training
            length (seed ``first_seed``): T // 4 epochs of each
            :data:`QUARTER_VARIANTS`, 2T of each :data:`DOUBLE_VARIANTS`.
            Default: True.
        variants (tuple, optional): train only these variants
            (:func:`variant_names`). Default: all.
        cfg_options (dict): overrides of every run's config (as
            ``--cfg-options``; part of each run's settings key).
    """

    data_root: str = 'data/synthetic_coco_3k'
    work_dir: str = 'work_dirs/study'
    num_train: int = 3000
    num_val: int = 200
    epochs: int = 10
    pretrain_epochs: int = 6
    seeds: int = 2
    first_seed: int = 0
    budget: float | None = 120.0
    reuse_only: bool = False
    doc: str = 'docs/reproduction.md'
    command: str = 'python tools/reproduce.py'
    ledger_dir: str | None = osp.join(SOURCE_ROOT, LEDGER_DIR)
    weights_dir: str = osp.join(SOURCE_ROOT, WEIGHTS_DIR)
    commit_weights: bool = False
    half_runs: bool = True
    length_runs: bool = True
    variants: tuple | None = None
    cfg_options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for name in ('num_train', 'num_val', 'epochs', 'seeds'):
            check_number(owner, name, getattr(self, name), integer=True,
                         low=1)
        for name in ('pretrain_epochs', 'first_seed'):
            check_number(owner, name, getattr(self, name), integer=True,
                         low=0)
        check_number(owner, 'budget', self.budget, low=0, allow_none=True)
        for name in ('reuse_only', 'commit_weights', 'half_runs',
                     'length_runs'):
            check_bool(owner, name, getattr(self, name))
        known = variant_names()
        unknown = sorted(set(self.variants or ()) - set(known))
        if unknown:
            raise InvalidArgumentError(
                f'{owner}: variants {unknown} are not variants of the study; '
                f'choose among {known}')


def variant_names() -> list[str]:
    """Every variant the study trains, in :func:`study_plan`'s order of
    kinds (Table 1, Fig. 2(d), the scratch control, beyond the paper)."""
    return [n for n, _, _ in TABLE1 + FIG2D + (SCRATCH, ) + BEYOND]


def _specs(variants, settings: StudySettings,
           weights: Callable[[int, bool], str], seeds,
           pretrained: bool = True, epochs: int | None = None
           ) -> list[RunSpec]:
    wanted = settings.variants
    options = dict(synthetic_data_options(settings.data_root),
                   **settings.cfg_options)
    return [RunSpec(name, synthetic_config(config),
                    epochs=epochs or settings.epochs, seed=seed,
                    cfg_options=options,
                    load_from=weights(seed, pretrained),
                    study_epochs=settings.epochs)
            for seed in seeds for name, config, _ in variants
            if wanted is None or name in wanted]


def half_epochs(epochs: int) -> int | None:
    """T // 2, the length of a saturation pair's shorter run; None when it
    is below 3 epochs (:func:`~mmipr.study.runs.lr_drops`)."""
    return _shortened(epochs, 2)


def quarter_epochs(epochs: int) -> int | None:
    """T // 4, the shortest point of AP against training length; None when
    it is below 3 epochs."""
    return _shortened(epochs, 4)


def _shortened(epochs: int, factor: int) -> int | None:
    # lr_drops needs two drops and an epoch after them
    return epochs // factor if epochs // factor >= 3 else None


def study_plan(settings: StudySettings,
               weights: Callable[[int, bool], str],
               pretrained: bool) -> list[RunSpec]:
    """The study's runs in priority order: Table 1's three seeded variants,
    their T/2 runs (``half_runs``) and T/4 runs (``length_runs``), the
    Fig. 2(d) sweep, the pretraining's control (with a pretrained backbone
    only; at T/2 too with ``half_runs``), the prior sweep, the alternatives beyond the paper
    (:data:`BEYOND`), then the 2T runs (``length_runs``); only
    ``settings.variants`` where given.

    Args:
        settings (StudySettings): the invocation.
        weights (callable): ``weights(seed, pretrained) -> path`` of the
            initial weights (:meth:`~mmipr.study.setup.Start.weights`).
        pretrained (bool): whether a pretrained backbone exists (then the
            control from scratch is planned).

    Returns:
        list[RunSpec]: the runs.
    """
    first = settings.first_seed
    seeds = range(first, first + settings.seeds)
    specs = _specs(TABLE1[:3], settings, weights, seeds)
    half = half_epochs(settings.epochs)
    if settings.half_runs and half is not None:
        specs += _specs(_variants(SATURATION_VARIANTS), settings, weights,
                        [first], epochs=half)
    quarter = quarter_epochs(settings.epochs)
    if settings.length_runs and quarter is not None:
        specs += _specs(_variants(QUARTER_VARIANTS), settings, weights,
                        [first], epochs=quarter)
    specs += _specs(FIG2D, settings, weights, [first])
    if pretrained:
        specs += _specs([SCRATCH], settings, weights, [first],
                        pretrained=False)
        if settings.half_runs and half is not None:
            specs += _specs([SCRATCH], settings, weights, [first],
                            pretrained=False, epochs=half)
    specs += _specs(TABLE1[3:], settings, weights, [first])
    specs += _specs(BEYOND, settings, weights, [first])
    if settings.length_runs:
        specs += _specs(_variants(DOUBLE_VARIANTS), settings, weights,
                        [first], epochs=2 * settings.epochs)
    return specs


def _variants(names) -> list[tuple]:
    return [v for v in TABLE1 if v[0] in names]


def demo_plan(settings: StudySettings,
              weights: Callable[[int, bool], str]) -> list[RunSpec]:
    """The demo's runs: :data:`DEMO_VARIANTS` under ``first_seed``."""
    return _specs(DEMO_VARIANTS, settings, weights, [settings.first_seed])
