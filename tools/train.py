"""Train a pose model with MMEngine: MMPose's ``tools/train.py``, plus mmipr.

Same arguments as MMPose's tool (``--work-dir``, ``--resume``, ``--amp``,
``--cfg-options``, ``--launcher``, ``--show-dir`` ...), which it imports rather
than copies. Added: mmipr's modules are registered, ``--launcher pytorch``
also works without CUDA (gloo backend), and the config, its data and the
checkpoint to resume from are checked before the Runner starts. The code is
:func:`mmipr.engine.runner_tools.train_main`.
"""
import os.path as osp
import sys

# From a source checkout, run the mmipr beside this script, never an installed
# copy that may be stale (in an installed package this path holds no mmipr).
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmipr  # noqa: F401,E402  (registers mmipr, makes MMPose importable)
from mmipr.engine.runner_tools import run_tool  # noqa: E402
from mmipr.engine.runner_tools import train_main as main  # noqa: E402

if __name__ == '__main__':
    run_tool(main, osp.basename(__file__))
