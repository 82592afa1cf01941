"""Synthetic COCO-format person-keypoint data (library code; CLI in tools/dataset).

The generator imports no MMPose module (only numpy, OpenCV and tqdm);
``transforms`` (``CachedLoadImage``) does, and ``import mmipr`` imports it.
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
