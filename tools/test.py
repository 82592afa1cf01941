"""Test (and evaluate) a pose model: MMPose's ``tools/test.py``, plus mmipr.

Same arguments as MMPose's tool (``--work-dir``, ``--out``, ``--dump``,
``--cfg-options``, ``--show-dir``, ``--launcher`` ...), which it imports rather
than copies. Added: mmipr's modules are registered, ``--launcher pytorch``
works without CUDA (gloo), and a checkpoint that is missing, truncated,
refused by the allowlisting loader or does not fit the config's model fails
before testing starts, naming the problem. The code is
:func:`mmipr.engine.runner_tools.test_main`.
"""
import os.path as osp
import sys

# From a source checkout, run the mmipr beside this script, never an installed
# copy that may be stale (in an installed package this path holds no mmipr).
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmipr  # noqa: F401,E402  (registers mmipr, makes MMPose importable)
from mmipr.engine.runner_tools import run_tool  # noqa: E402
from mmipr.engine.runner_tools import test_main as main  # noqa: E402

if __name__ == '__main__':
    run_tool(main, osp.basename(__file__))
