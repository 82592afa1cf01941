"""Make MMPose importable with ``mmcv-lite`` (MMCV without compiled ops).

MMPose 1.3.2 imports ``mmcv.ops`` at registration time
(``mmpose/models/heads/transformer_heads/edpose_head.py``), and ``mmcv.ops``
fails with ``No module named 'mmcv._ext'`` when MMCV was installed without its
compiled extensions (``mmcv-lite``, or a CPU-only source build that skipped
them). Nothing in mmipr's models needs those ops, so when - and only when -
``import mmcv.ops`` fails for that reason, :func:`ensure_mmcv_ops` installs a
placeholder package at ``sys.modules['mmcv.ops']``. Every attribute of the
placeholder (and of its submodules) is a class that raises
:class:`MissingMMCVOpError` naming the op as soon as it is used. With full MMCV
nothing is touched.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types

FULL_MMCV_HINT = (
    'It needs the compiled ops of full MMCV, but this environment has '
    'mmcv-lite (or an MMCV build without ops). Install full MMCV matching '
    'your PyTorch/CUDA, e.g. `pip uninstall -y mmcv-lite && mim install '
    '"mmcv==2.1.0"` (see README, "Installation on a GPU machine").')


class MissingMMCVOpError(RuntimeError):
    """Raised when a placeholder for a compiled MMCV op is used."""


class _MissingOp:
    """Base of the placeholder ops: constructing or calling one raises.

    A class rather than a function so that library code which subclasses an
    op at import time (``class X(MultiScaleDeformableAttention)``) still
    imports; function-style ops (``nms(...)``) fail the same way when called.
    """

    _op_name = 'mmcv.ops'

    def __new__(cls, *args, **kwargs):
        raise MissingMMCVOpError(f'{cls._op_name} is not available. '
                                 f'{FULL_MMCV_HINT}')


def _missing_op(qualname: str) -> type:
    module, name = qualname.rsplit('.', 1)
    return type(name, (_MissingOp, ), {
        '_op_name': qualname,
        '__module__': module
    })


class _PlaceholderModule(types.ModuleType):
    """A module whose every public attribute is a failing placeholder op."""

    def __init__(self, name: str, reason: str):
        super().__init__(name, f'Placeholder for {name}: {reason}')
        self.__path__ = []  # a package, so submodule imports resolve
        self.__mmipr_placeholder__ = True
        self.__mmipr_reason__ = reason

    def __getattr__(self, attr: str):
        if attr.startswith('__') and attr.endswith('__'):
            raise AttributeError(attr)
        op = _missing_op(f'{self.__name__}.{attr}')
        setattr(self, attr, op)
        return op


class _PlaceholderFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves ``mmcv.ops.<anything>`` to placeholder submodules."""

    def __init__(self, reason: str):
        self.reason = reason

    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith('mmcv.ops.'):
            return importlib.machinery.ModuleSpec(fullname, self)
        return None

    def create_module(self, spec):
        return _PlaceholderModule(spec.name, self.reason)

    def exec_module(self, module):
        pass


def is_placeholder(module: types.ModuleType) -> bool:
    """Whether ``module`` is one of the placeholders installed here."""
    return bool(getattr(module, '__mmipr_placeholder__', False))


def ensure_mmcv_ops() -> bool:
    """Install the ``mmcv.ops`` placeholder if the compiled ops are missing.

    Returns:
        bool: True if a placeholder was installed (or already was), False if
        the real ``mmcv.ops`` imports (nothing is changed then).
    """
    existing = sys.modules.get('mmcv.ops')
    if existing is not None:
        return is_placeholder(existing)
    try:
        importlib.import_module('mmcv.ops')
        return False
    except ImportError as err:
        if '_ext' not in str(err) and 'mmcv._ext' not in repr(err):
            # Not the missing-ops case: a genuinely broken MMCV must surface.
            raise
        reason = f'compiled MMCV ops are unavailable ({err})'
    # A failed import may leave half-initialised submodules behind.
    for name in [m for m in sys.modules if m.startswith('mmcv.ops')]:
        del sys.modules[name]
    placeholder = _PlaceholderModule('mmcv.ops', reason)
    sys.modules['mmcv.ops'] = placeholder
    import mmcv
    mmcv.ops = placeholder
    sys.meta_path.insert(0, _PlaceholderFinder(reason))
    return True
