"""What ``tools/train.py`` and ``tools/test.py`` run: MMPose's tools, plus mmipr.

Each takes MMPose's own arguments (its ``parse_args`` and ``merge_args`` are
imported, not copied: ``--work-dir``, ``--resume``, ``--amp``,
``--cfg-options``, ``--launcher``, ``--show-dir``, ``--out``, ``--dump`` ...)
from ``sys.argv``. Added: ``--launcher pytorch`` works without CUDA (gloo, see
:mod:`mmipr.engine.distributed`), and the config, its data, the checkpoint to
test and the run to resume are checked before the Runner starts
(:mod:`mmipr.engine.preflight`, :mod:`mmipr.datasets.annotation_checks`,
:mod:`mmipr.engine.checkpoint`); their errors are printed as a message, not a
traceback (:func:`run_tool`).
"""
from __future__ import annotations

import sys
from typing import Callable, Optional

import mmengine
from mmengine.config import Config
from mmengine.dist import master_only
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmipr.datasets.annotation_checks import check_annotation_files
from mmipr.utils.errors import PreflightError, PreflightFileNotFoundError

from .checkpoint import check_checkpoint_matches, check_resume, checkpoint_problem
from .distributed import setup_cpu_distributed
from .mmpose_tools import load_mmpose_tool
from .preflight import check_amp_device, check_data_paths, check_train_length


def train_main() -> None:
    """Train as MMPose's ``tools/train.py`` does, after the preflight checks
    (arguments from ``sys.argv``).

    Raises:
        PreflightError: a problem of the config, data or checkpoint, found
            before the Runner is built (nothing is written).
    """
    mmpose_train = load_mmpose_tool('train')
    args = mmpose_train.parse_args()
    cfg = mmpose_train.merge_args(Config.fromfile(args.config), args)
    check_data_paths(cfg, phases=('train', 'val'))
    check_annotation_files(cfg, phases=('train', 'val'))
    check_amp_device(cfg)
    check_train_length(cfg)
    check_resume(cfg)
    setup_cpu_distributed(cfg)
    if 'preprocess_cfg' in cfg:
        cfg.model.setdefault('data_preprocessor', cfg.get('preprocess_cfg', {}))
    runner = Runner.from_cfg(cfg)
    if cfg.get('load_from') and not cfg.get('resume'):
        check_checkpoint_matches(runner.model, cfg.load_from)
    runner.train()


class SaveMetricHook(Hook):
    """Dump the test metrics to ``out_file`` (MMPose's ``--out``); every
    process holds the same metrics, the main one writes them.

    Args:
        out_file (str): the file to write (a format ``mmengine.dump`` knows
            by its extension, e.g. ``.json``).
    """

    def __init__(self, out_file: str):
        self.out_file = out_file

    @master_only
    def after_test_epoch(self, runner, metrics: Optional[dict] = None
                         ) -> None:
        if metrics is not None:
            mmengine.dump(metrics, self.out_file)


def test_main() -> None:
    """Test as MMPose's ``tools/test.py`` does, after the preflight checks
    (arguments from ``sys.argv``).

    Raises:
        PreflightError: a problem of the config, data or checkpoint (a
            missing, truncated or refused file, or one that does not fit the
            model), found before testing starts.
    """
    mmpose_test = load_mmpose_tool('test')
    args = mmpose_test.parse_args()
    cfg = mmpose_test.merge_args(Config.fromfile(args.config), args)
    check_data_paths(cfg, phases=('test', ))
    check_annotation_files(cfg, phases=('test', ))
    problem = (None if '://' in args.checkpoint
               else checkpoint_problem(args.checkpoint))
    if problem:
        raise PreflightFileNotFoundError(
            f'The checkpoint {args.checkpoint} {problem}: give the path of a '
            'complete checkpoint (e.g. work_dirs/<config>/best_*.pth or '
            'epoch_*.pth).')
    setup_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg)
    check_checkpoint_matches(runner.model, args.checkpoint)
    if args.out:
        runner.register_hook(SaveMetricHook(args.out), 'LOWEST')
    runner.test()


# pytest would collect ``test_main`` from a test module's namespace
test_main.__test__ = False


def run_tool(main: Callable[[], None], prog: str) -> None:
    """Run a tool's ``main``; a :class:`PreflightError` exits with status 1
    and its message (``<prog>: error: ...``), without a traceback.

    Args:
        main (callable): :func:`train_main` or :func:`test_main`.
        prog (str): the tool's name for the message, e.g. ``'train.py'``.
    """
    try:
        main()
    except PreflightError as e:  # a problem explained in words
        sys.exit(f'{prog}: error: {e}')
