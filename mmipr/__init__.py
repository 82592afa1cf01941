"""mmipr: integral pose regression for MMPose.

``import mmipr`` (or ``custom_imports = dict(imports=['mmipr'])`` in a config)
makes MMPose importable with mmcv-lite and lets MMEngine load its checkpoints
under PyTorch >= 2.6 (see :mod:`mmipr.compat`), and registers
every mmipr module into MMPose's registries (MODELS, METRICS, HOOKS,
TRANSFORMS, OPTIM_WRAPPERS).
"""
from .checkpoint_loader import register_safe_checkpoint_loaders
from .compat import ensure_mmcv_ops
from .version import __version__

ensure_mmcv_ops()
register_safe_checkpoint_loaders()

from . import engine, evaluation, models  # noqa: E402,F401  (registration)
from .datasets import transforms  # noqa: E402,F401  (registration)

__all__ = ['__version__']
