"""Registered mmipr engine modules (model wrappers, hooks) and launch helpers."""
from .checkpoint import check_checkpoint_matches
from .distributed import DeviceAwareDistributedDataParallel, setup_cpu_distributed

__all__ = [
    'DeviceAwareDistributedDataParallel', 'check_checkpoint_matches',
    'setup_cpu_distributed'
]
