"""Synthetic COCO-format person-keypoint data (library code; CLI in tools/dataset),
and the checks of a config's data files.

The generator imports no MMPose module (numpy, OpenCV, tqdm, and mmipr's
pure layers: the split levels of :mod:`mmipr.evaluation.splits`, the rounding
of :mod:`mmipr.heatmap.stats`); its command line is :mod:`.generator_cli`.
:mod:`.data_files` lists a config's data files, :mod:`.annotation_checks`
checks their contents (it reads MMPose's dataset metainfo).
``transforms`` (``CachedLoadImage``) imports MMPose, and ``import mmipr``
imports it.
"""
from .synthetic_coco import (
                             DETECTION_FILE,
                             MARKER_FILE,
                             difficulty_counts,
                             ensure_synthetic_coco,
                             format_difficulty_table,
                             generate_synthetic_coco,
                             generation_settings,
                             read_marker,
                             render_image,
                             write_split,
)
from .synthetic_scene import SceneConfig, SceneImage

__all__ = [
    'generate_synthetic_coco', 'write_split', 'render_image',
    'difficulty_counts', 'format_difficulty_table',
    'SceneConfig', 'SceneImage', 'DETECTION_FILE', 'MARKER_FILE',
    'ensure_synthetic_coco', 'generation_settings', 'read_marker'
]
