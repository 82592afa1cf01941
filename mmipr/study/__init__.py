"""Training and comparing variants: the demo and the reproduction study.

Layers, each importable on its own: :mod:`.plan` (what runs), :mod:`.setup`
(data, pretraining, initial weights), :mod:`.runs` and :mod:`.schedule` (one
run; runs in order within a budget), :mod:`.derived` (statistics of a run's
model), :mod:`.report`, :mod:`.tables`, :mod:`.figures`, :mod:`.claims` and
:mod:`.report_text` (from results to the document), and :mod:`.study` /
:mod:`.demo` (the two entry points).
"""
from .plan import StudySettings
from .progress import StudyProgressHook
from .runs import RunSpec, run, synthetic_data_options

__all__ = ['RunSpec', 'StudyProgressHook', 'StudySettings', 'run',
           'synthetic_data_options']
