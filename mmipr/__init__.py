"""mmipr: integral pose regression for MMPose.

``import mmipr`` (or ``custom_imports = dict(imports=['mmipr'])`` in a config)
makes MMPose importable with mmcv-lite and lets MMEngine load its checkpoints
under PyTorch >= 2.6 (see :mod:`mmipr.compat`), and registers
every mmipr module into MMPose's registries (MODELS, METRICS, HOOKS,
TRANSFORMS, OPTIM_WRAPPERS).
"""
from .compat import ensure_mmcv_ops, load_mmengine_checkpoints_with_pickle
from .version import __version__

ensure_mmcv_ops()
load_mmengine_checkpoints_with_pickle()

from . import engine, evaluation, models  # noqa: E402,F401  (registration)
from .datasets import transforms  # noqa: E402,F401  (registration)
from .evaluation import metrics  # noqa: E402,F401  (registers the metric)

__all__ = ['__version__']
