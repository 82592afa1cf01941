"""Training-dynamics hooks (the paper's Table IV b, Fig. 4a, App. A.8), and
checkpoint hooks that survive kills."""
from .checkpoint_hooks import AtomicCheckpointHook, ResumeValidationHook
from .gradient_ratio_hook import PriorGradientRatioHook
from .heatmap_snapshot_hook import HeatmapSnapshotHook

__all__ = [
    'PriorGradientRatioHook', 'HeatmapSnapshotHook', 'AtomicCheckpointHook',
    'ResumeValidationHook'
]
