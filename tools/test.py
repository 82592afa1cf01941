"""Test (and evaluate) a pose model: MMPose's ``tools/test.py``, plus mmipr.

Same arguments as MMPose's tool (``--work-dir``, ``--out``, ``--dump``,
``--cfg-options``, ``--show-dir``, ``--launcher`` ...), which it imports rather
than copies. Added: mmipr's modules are registered, ``--launcher pytorch``
works without CUDA (gloo), and a checkpoint that does not fit the config's
model fails before testing starts, naming the mismatch.
"""
import mmengine
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

import mmipr  # noqa: F401  (registers mmipr, makes MMPose importable)
from mmipr.engine import check_checkpoint_matches, setup_cpu_distributed
from mmipr.engine.mmpose_tools import load_mmpose_tool

mmpose_test = load_mmpose_tool('test')


class SaveMetricHook(Hook):
    """Dump the test metrics to ``out_file`` (MMPose's ``--out``)."""

    def __init__(self, out_file: str):
        self.out_file = out_file

    def after_test_epoch(self, runner, metrics=None) -> None:
        if metrics is not None:
            mmengine.dump(metrics, self.out_file)


def main() -> None:
    args = mmpose_test.parse_args()
    cfg = mmpose_test.merge_args(Config.fromfile(args.config), args)
    setup_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg)
    check_checkpoint_matches(runner.model, args.checkpoint)
    if args.out:
        runner.register_hook(SaveMetricHook(args.out), 'LOWEST')
    runner.test()


if __name__ == '__main__':
    main()
