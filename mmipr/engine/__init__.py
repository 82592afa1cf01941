"""Registered mmipr engine modules (model wrappers, hooks) and launch helpers."""
from mmipr.datasets.annotation_checks import check_annotation_files

from .checkpoint import check_checkpoint_matches, check_resume, checkpoint_problem
from .cpu_amp import ChannelsLastHook, CPUAmpOptimWrapper
from .cpu_memory import GlibcMallocHook
from .distributed import DeviceAwareDistributedDataParallel, setup_cpu_distributed
from .hooks import (
    AtomicCheckpointHook,
    HeatmapSnapshotHook,
    PriorGradientRatioHook,
    ResumeValidationHook,
)
from .preflight import check_amp_device, check_data_paths, check_train_length

__all__ = [
    'CPUAmpOptimWrapper', 'ChannelsLastHook', 'GlibcMallocHook',
    'DeviceAwareDistributedDataParallel', 'HeatmapSnapshotHook',
    'PriorGradientRatioHook', 'check_checkpoint_matches',
    'check_data_paths', 'setup_cpu_distributed', 'check_amp_device',
    'check_annotation_files', 'AtomicCheckpointHook', 'ResumeValidationHook',
    'check_resume', 'check_train_length', 'checkpoint_problem'
]
