"""Train a pose model with MMEngine: MMPose's ``tools/train.py``, plus mmipr.

Same arguments as MMPose's tool (``--work-dir``, ``--resume``, ``--amp``,
``--cfg-options``, ``--launcher``, ``--show-dir`` ...), which it imports rather
than copies. Added: mmipr's modules are registered, and ``--launcher pytorch``
also works without CUDA (gloo backend, see ``mmipr.engine.distributed``).
"""
from mmengine.config import Config
from mmengine.runner import Runner

import mmipr  # noqa: F401  (registers mmipr, makes MMPose importable)
from mmipr.engine import setup_cpu_distributed
from mmipr.engine.mmpose_tools import load_mmpose_tool

mmpose_train = load_mmpose_tool('train')


def main() -> None:
    args = mmpose_train.parse_args()
    cfg = mmpose_train.merge_args(Config.fromfile(args.config), args)
    setup_cpu_distributed(cfg)
    if 'preprocess_cfg' in cfg:
        cfg.model.setdefault('data_preprocessor', cfg.get('preprocess_cfg', {}))
    runner = Runner.from_cfg(cfg)
    runner.train()


if __name__ == '__main__':
    main()
