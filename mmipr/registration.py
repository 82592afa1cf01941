"""Register mmipr's modules into MMPose's registries when MMPose is loaded.

``import mmipr`` must register every mmipr module (heads, losses, metric,
hooks, transforms, optimizer wrapper) so that configs name them by type, and
``custom_imports = dict(imports=['mmipr'])`` relies on that. But ``import
mmipr.heatmap`` (pure tensor math) runs the same ``mmipr/__init__.py`` and
must not import MMPose. So registration waits for MMPose:

- if MMPose is already imported, the registering modules are imported at
  once;
- otherwise :func:`register_when_mmpose_loads` puts a finder on
  ``sys.meta_path`` that watches the ``mmpose`` and ``mmipr`` modules as
  they load. When the outermost import of such a module has finished
  (``from mmpose.registry import MODELS``, ``import mmpose.models``,
  MMEngine's ``import_module('mmpose.registry')`` for the default scope,
  ``from mmipr.models.heads import IntegralHead``, ...) and
  ``mmpose.registry`` is among the loaded modules, the finder removes itself
  and imports the registering modules. Waiting for the outermost import
  keeps registration from running inside a half-initialised ``mmpose`` or
  ``mmipr`` package. The modules it watched keep their own loaders: the
  watcher steps aside before each one executes.
"""
from __future__ import annotations

import importlib
import importlib.abc
import sys
import threading
from types import ModuleType
from typing import Optional, Sequence

#: the modules whose import registers mmipr into MMPose's (and, for the
#: model wrapper, MMEngine's) registries. ``mmipr.evaluation.metrics`` by
#: name: ``mmipr.evaluation`` itself does not import the metric.
REGISTERING_MODULES: tuple = (
    'mmipr.engine',
    'mmipr.evaluation.metrics',
    'mmipr.models',
    'mmipr.datasets.transforms',
)


def _is_watched(fullname: str) -> bool:
    """``mmpose`` and its modules, and mmipr's own (which import MMPose)."""
    return (fullname == 'mmpose' or fullname.startswith('mmpose.')
            or fullname.startswith('mmipr.'))


def import_registering_modules(
        modules: Sequence[str] = REGISTERING_MODULES) -> None:
    """Import the modules that register mmipr (they import MMPose).

    Args:
        modules (Sequence[str]): module names. Default:
            :data:`REGISTERING_MODULES`.
    """
    for name in modules:
        importlib.import_module(name)


class _WatchedLoader(importlib.abc.Loader):
    """Runs a watched module's own loader, then tells the finder."""

    def __init__(self, loader: importlib.abc.Loader,
                 finder: '_RegisterAfterMMPose'):
        self.loader = loader
        self.finder = finder

    def create_module(self, spec) -> Optional[ModuleType]:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        # The module keeps its own loader (resources, reload, inspect).
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.finder.depth += 1
        try:
            self.loader.exec_module(module)
        finally:
            self.finder.depth -= 1
        self.finder.module_loaded()


class _RegisterAfterMMPose(importlib.abc.MetaPathFinder):
    """Finder that watches ``mmpose`` and ``mmipr`` imports and registers
    mmipr after the outermost one that leaves ``mmpose.registry`` loaded."""

    def __init__(self, modules: Sequence[str]):
        self.modules = tuple(modules)
        self.depth = 0  # watched modules executing, nested
        self._lock = threading.Lock()
        self._done = False

    def find_spec(self, fullname, path=None, target=None):
        if self._done or not _is_watched(fullname):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, 'find_spec'):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(
                        spec.loader, 'exec_module'):
                    spec.loader = _WatchedLoader(spec.loader, self)
                return spec
        return None

    def module_loaded(self) -> None:
        if self.depth or 'mmpose.registry' not in sys.modules:
            return
        with self._lock:
            if self._done:
                return
            self._done = True
            if self in sys.meta_path:
                sys.meta_path.remove(self)
        import_registering_modules(self.modules)


def register_when_mmpose_loads(
        modules: Sequence[str] = REGISTERING_MODULES) -> bool:
    """Register mmipr now if MMPose is imported, else once it is.

    Args:
        modules (Sequence[str]): the registering modules. Default:
            :data:`REGISTERING_MODULES`.

    Returns:
        bool: True if registration ran now, False if it waits for MMPose
        (a finder is installed; at most one is).
    """
    if 'mmpose' in sys.modules:
        import_registering_modules(modules)
        return True
    if not any(isinstance(f, _RegisterAfterMMPose) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterMMPose(modules))
    return False
