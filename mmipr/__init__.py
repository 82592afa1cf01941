"""mmipr: integral pose regression for MMPose.

``import mmipr`` (or ``custom_imports = dict(imports=['mmipr'])`` in a config)
makes MMPose importable with mmcv-lite (a placeholder ``mmcv.ops`` when the
compiled ops are missing: :mod:`mmipr.compat`), makes MMEngine's checkpoint
loader of local files and http(s) downloads an allowlisting one that runs no
pickled code and loads MMEngine's and MMPose's checkpoints under PyTorch >=
2.6 (:mod:`mmipr.checkpoint_loader`; a file the user trusts is opted in with
the environment variable ``MMIPR_TRUSTED_CHECKPOINTS``), and registers every
mmipr module into MMPose's registries (MODELS, METRICS, HOOKS, TRANSFORMS,
OPTIM_WRAPPERS) as soon as MMPose is loaded (:mod:`mmipr.registration`):
at once if it already is, else right after the first import of
``mmpose.registry``. So the pure layers (``mmipr.heatmap``,
``mmipr.evaluation.splits``, ``mmipr.evaluation.oks``, ``mmipr.utils``)
import without MMPose. Subpackages load on first use (``mmipr.models``).
"""
from .checkpoint_loader import register_safe_checkpoint_loaders
from .compat import ensure_mmcv_ops
from .version import __version__

ensure_mmcv_ops()
register_safe_checkpoint_loaders()

from .registration import register_when_mmpose_loads  # noqa: E402

register_when_mmpose_loads()

_SUBPACKAGES = ('analysis', 'datasets', 'engine', 'evaluation', 'heatmap',
                'models', 'study', 'utils')


def __getattr__(name: str):
    """``mmipr.models`` and the other subpackages, imported on first use."""
    if name in _SUBPACKAGES:
        import importlib
        return importlib.import_module(f'{__name__}.{name}')
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


__all__ = ['__version__']
