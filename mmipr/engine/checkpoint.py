"""Fail fast when a checkpoint does not fit the model a config builds.

(Loading MMEngine checkpoints under torch >= 2.6 is fixed in
:func:`mmipr.compat.load_mmengine_checkpoints_with_pickle`.)"""
from __future__ import annotations

import torch
from mmengine.model import is_model_wrapper
from mmengine.runner.checkpoint import _load_checkpoint

from .preflight import PreflightValueError


def check_checkpoint_matches(model: torch.nn.Module, checkpoint: str) -> None:
    """Raise if a tensor of ``checkpoint`` has another shape in ``model``.

    MMEngine loads checkpoints non-strictly and only logs shape mismatches, so
    a checkpoint trained for another keypoint count (e.g. COCO's 17 into a
    14-keypoint CrowdPose config) would be evaluated with a randomly
    initialised final layer. Missing or extra keys are allowed: a detection
    checkpoint loaded into an integral model is legitimate.

    Args:
        model (nn.Module): the built model (possibly wrapped).
        checkpoint (str): path or URL of the checkpoint.

    Raises:
        PreflightValueError: (a ``ValueError``) naming every mismatching
            tensor and both shapes.
    """
    if is_model_wrapper(model):
        model = model.module
    state = _load_checkpoint(checkpoint, map_location='cpu')
    state = state.get('state_dict', state)
    own = model.state_dict()
    mismatches = [
        f'  {key}: checkpoint {tuple(value.shape)} vs model '
        f'{tuple(own[key].shape)}' for key, value in state.items()
        if key in own and hasattr(value, 'shape')
        and value.shape != own[key].shape
    ]
    if mismatches:
        raise PreflightValueError(
            f'Checkpoint {checkpoint} does not fit the model built from the '
            'config (different keypoint count or architecture?):\n' +
            '\n'.join(mismatches) +
            '\nUse a checkpoint trained with the same dataset keypoints and '
            'head, or fix the config.')
