"""Train a pose model with MMEngine: MMPose's ``tools/train.py``, plus mmipr.

Same arguments as MMPose's tool (``--work-dir``, ``--resume``, ``--amp``,
``--cfg-options``, ``--launcher``, ``--show-dir`` ...), which it imports rather
than copies. Added: mmipr's modules are registered, and ``--launcher pytorch``
also works without CUDA (gloo backend, see ``mmipr.engine.distributed``), and
the config, its data and the checkpoint to resume from are checked before the
Runner starts (``mmipr.engine.preflight``).
"""
import os.path as osp
import sys

# From a source checkout, run the mmipr beside this script, never an installed
# copy that may be stale (in an installed package this path holds no mmipr).
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import Config  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import mmipr  # noqa: F401,E402  (registers mmipr, makes MMPose importable)
from mmipr.engine import (  # noqa: E402
    check_amp_device,
    check_annotation_files,
    check_checkpoint_matches,
    check_data_paths,
    check_resume,
    check_train_length,
    setup_cpu_distributed,
)
from mmipr.engine.mmpose_tools import load_mmpose_tool  # noqa: E402
from mmipr.engine.preflight import PreflightError  # noqa: E402

mmpose_train = load_mmpose_tool('train')


def main() -> None:
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


if __name__ == '__main__':
    try:
        main()
    except PreflightError as e:  # a problem explained in words: no traceback
        sys.exit(f'{osp.basename(__file__)}: error: {e}')
