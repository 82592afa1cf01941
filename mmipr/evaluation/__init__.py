"""Registered mmipr modules."""
from . import splits  # noqa: F401
from .metrics import DifficultySplitCocoMetric  # noqa: F401
