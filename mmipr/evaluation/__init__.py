"""COCO keypoint evaluation per difficulty split.

The pure parts import no MMPose: :mod:`mmipr.evaluation.splits` (difficulty
levels, prediction assignment), :mod:`mmipr.evaluation.oks` (OKS of many
pairs) and :mod:`mmipr.evaluation.gt_formats` (annotation formats:
COCO-WholeBody-Hand as COCO keypoints). The registered metric lives in
:mod:`mmipr.evaluation.metrics` (importing that registers it);
``DifficultySplitCocoMetric`` is also an attribute of this package, imported
on first access (PEP 562), so that ``import mmipr.evaluation.splits`` stays
free of MMPose.
"""
from __future__ import annotations

import importlib

#: attribute -> module that defines it, imported on first access
_LAZY = {'DifficultySplitCocoMetric': 'mmipr.evaluation.metrics'}

__all__ = ['DifficultySplitCocoMetric']


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later accesses skip this hook
        return value
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__() -> list:
    return sorted({*globals(), *_LAZY})
