"""Checkpoints: MMEngine's local loading under torch>=2.6, and failing fast
when a checkpoint does not fit the model a config builds."""
from __future__ import annotations

import os.path as osp

import torch
from mmengine.model import is_model_wrapper
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint


def load_local_checkpoint(filename: str, map_location=None) -> dict:
    """MMEngine's loader of local checkpoints (``load_from_local``), loading
    the whole pickle as MMEngine expects.

    torch 2.6 made ``torch.load`` default to ``weights_only=True``, which
    MMEngine 0.10.7 does not override (open-mmlab/mmengine#1655): every
    checkpoint MMEngine writes holds numpy arrays (``meta.dataset_meta``) and
    ``HistoryBuffer`` objects (``message_hub``), so ``--resume``,
    ``load_from`` and testing fail with "Weights only load failed". As with
    any pickle, load only checkpoints from a source you trust.

    Args:
        filename (str): local path (``~`` is expanded).
        map_location: as in :func:`torch.load`.

    Returns:
        dict: the checkpoint.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return torch.load(filename, map_location=map_location, weights_only=False)


CheckpointLoader.register_scheme(
    prefixes='', loader=load_local_checkpoint, force=True)


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
        ValueError: naming every mismatching tensor and both shapes.
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
        raise ValueError(
            f'Checkpoint {checkpoint} does not fit the model built from the '
            'config (different keypoint count or architecture?):\n' +
            '\n'.join(mismatches) +
            '\nUse a checkpoint trained with the same dataset keypoints and '
            'head, or fix the config.')
