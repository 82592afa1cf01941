"""Registered metrics (importing this module registers them in MMPose's
METRICS)."""
from .difficulty_split_coco_metric import DifficultySplitCocoMetric

__all__ = ['DifficultySplitCocoMetric']
