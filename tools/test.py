"""Test (and evaluate) a pose model: MMPose's ``tools/test.py``, plus mmipr.

Same arguments as MMPose's tool (``--work-dir``, ``--out``, ``--dump``,
``--cfg-options``, ``--show-dir``, ``--launcher`` ...), which it imports rather
than copies. Added: mmipr's modules are registered, ``--launcher pytorch``
works without CUDA (gloo), and a checkpoint that does not fit the config's
model fails before testing starts, naming the mismatch.
"""
import os.path as osp
import sys

# From a source checkout, run the mmipr beside this script, never an installed
# copy that may be stale (in an installed package this path holds no mmipr).
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmengine  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.dist import master_only  # noqa: E402
from mmengine.hooks import Hook  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import mmipr  # noqa: F401,E402  (registers mmipr, makes MMPose importable)
from mmipr.engine import (  # noqa: E402
    check_annotation_files,
    check_checkpoint_matches,
    check_data_paths,
    checkpoint_problem,
    setup_cpu_distributed,
)
from mmipr.engine.mmpose_tools import load_mmpose_tool  # noqa: E402
from mmipr.engine.preflight import (  # noqa: E402
    PreflightError,
    PreflightFileNotFoundError,
)

mmpose_test = load_mmpose_tool('test')


class SaveMetricHook(Hook):
    """Dump the test metrics to ``out_file`` (MMPose's ``--out``); every
    process holds the same metrics, the main one writes them."""

    def __init__(self, out_file: str):
        self.out_file = out_file

    @master_only
    def after_test_epoch(self, runner, metrics=None) -> None:
        if metrics is not None:
            mmengine.dump(metrics, self.out_file)


def main() -> None:
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


if __name__ == '__main__':
    try:
        main()
    except PreflightError as e:  # a problem explained in words: no traceback
        sys.exit(f'{osp.basename(__file__)}: error: {e}')
