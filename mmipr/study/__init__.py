"""Training and comparing variants: the demo and the reproduction study."""
from .runs import RunSpec, StudyProgressHook, run, synthetic_data_options

__all__ = ['RunSpec', 'StudyProgressHook', 'run', 'synthetic_data_options']
