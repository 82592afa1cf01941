"""Registered mmipr engine modules (model wrappers, hooks) and launch helpers."""
from .checkpoint import check_checkpoint_matches
from .cpu_amp import ChannelsLastHook, CPUAmpOptimWrapper
from .cpu_memory import GlibcMallocHook
from .distributed import DeviceAwareDistributedDataParallel, setup_cpu_distributed
from .hooks import (
    AtomicCheckpointHook,
    HeatmapSnapshotHook,
    PriorGradientRatioHook,
    ResumeValidationHook,
)
from .preflight import (
    check_amp_device,
    check_annotation_files,
    check_data_paths,
    check_resume,
    check_train_length,
    checkpoint_problem,
)

__all__ = [
    'CPUAmpOptimWrapper', 'ChannelsLastHook', 'GlibcMallocHook',
    'DeviceAwareDistributedDataParallel', 'HeatmapSnapshotHook',
    'PriorGradientRatioHook', 'check_checkpoint_matches',
    'check_data_paths', 'setup_cpu_distributed', 'check_amp_device',
    'check_annotation_files', 'AtomicCheckpointHook', 'ResumeValidationHook',
    'check_resume', 'check_train_length', 'checkpoint_problem'
]
