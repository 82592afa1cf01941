"""Registered metrics."""
from .difficulty_split_coco_metric import (
    DifficultySplitCocoMetric,
    image_to_heatmap,
    normalize_heatmaps,
)

__all__ = ['DifficultySplitCocoMetric', 'image_to_heatmap',
           'normalize_heatmaps']
