"""Access to MMPose's own command-line tools, so mmipr's wrap rather than copy them."""
from __future__ import annotations

import importlib.util
import os.path as osp
from types import ModuleType

import mmpose


def load_mmpose_tool(name: str) -> ModuleType:
    """Import MMPose's ``tools/<name>.py`` as a module.

    MMPose ships its tools inside the installed package (``mmpose/.mim/tools``)
    or, in a source checkout, beside the package (``<repo>/tools``).

    Args:
        name (str): tool name without extension, e.g. ``'train'``.

    Returns:
        ModuleType: the tool's module (``parse_args``, ``merge_args``, ...).
    """
    pkg = osp.dirname(mmpose.__file__)
    candidates = [osp.join(pkg, '.mim', 'tools', f'{name}.py'),
                  osp.join(pkg, '..', 'tools', f'{name}.py')]
    for path in candidates:
        if osp.isfile(path):
            spec = importlib.util.spec_from_file_location(
                f'mmpose_tools_{name}', path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    raise FileNotFoundError(
        f'MMPose tools/{name}.py not found (looked in {candidates}). '
        'Reinstall MMPose from a wheel (`tools/bootstrap.sh`).')
