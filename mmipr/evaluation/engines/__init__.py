"""DifficultySplitCocoMetric's evaluation engines, behind one interface
(:class:`~mmipr.evaluation.engines.base.EvaluationEngine`)."""
from __future__ import annotations

from .base import EvaluationEngine, paused_gc
from .faster_coco_eval import AVAILABLE as FASTER_AVAILABLE
from .faster_coco_eval import FasterCocoEvalEngine
from .xtcocotools import XtcocotoolsEngine

#: values of ``eval_engine``
ENGINE_NAMES = ('auto', FasterCocoEvalEngine.name, XtcocotoolsEngine.name)


def resolve_engine(eval_engine: str, iou_type: str,
                   use_area: bool) -> type[EvaluationEngine]:
    """The engine to run: faster-coco-eval wherever it gives xtcocotools'
    results (and is installed) unless xtcocotools is asked for.

    Args:
        eval_engine (str): one of :data:`ENGINE_NAMES` (checked by the
            caller).
        iou_type (str): the metric's ``iou_type``.
        use_area (bool): the metric's ``use_area``.

    Returns:
        type: the engine class.
    """
    supported = FasterCocoEvalEngine.supports(iou_type, use_area)
    if eval_engine == XtcocotoolsEngine.name or (
            eval_engine == 'auto' and (not supported or not FASTER_AVAILABLE)):
        return XtcocotoolsEngine
    if not FASTER_AVAILABLE:
        raise ImportError("eval_engine='faster-coco-eval' needs the "
                          'faster-coco-eval package (pip install '
                          'faster-coco-eval==1.8.0)')
    if not supported:
        raise ValueError(
            "eval_engine='faster-coco-eval' gives xtcocotools' results "
            "only for iou_type='keypoints' with use_area=True, got "
            f'iou_type={iou_type!r}, use_area={use_area}; '
            "use eval_engine='auto' or 'xtcocotools'")
    return FasterCocoEvalEngine


__all__ = ['ENGINE_NAMES', 'EvaluationEngine', 'FasterCocoEvalEngine',
           'XtcocotoolsEngine', 'paused_gc', 'resolve_engine']
