"""A trained top-down model and its test set on ground-truth boxes: what
every model analysis (heatmap statistics, per-instance statistics, the
gradient check) runs on."""
from __future__ import annotations

from mmengine.config import Config

from mmipr.models.heads import IntegralHead


def build_gt_box_model(config: str | Config, checkpoint: str, *,
                       device: str = 'cpu', cfg_options: dict | None = None,
                       batch_size: int = 32, num_workers: int = 0,
                       max_instances: int | None = None,
                       flip_test: bool | None = None):
    """The model of ``config`` with ``checkpoint``'s weights (eval mode,
    heatmaps returned) and its test dataloader on ground-truth boxes.

    Args:
        config (str | Config): the model's config (e.g. the one a run
            dumped into its work dir).
        checkpoint (str): its weights.
        device (str): Default: ``'cpu'``.
        cfg_options (dict, optional): config overrides, as
            ``--cfg-options``.
        batch_size (int): Default: 32.
        num_workers (int): dataloader workers. Default: 0.
        max_instances (int, optional): only the first N instances.
        flip_test (bool, optional): override the config's flip test.
            Default: None (the config's).

    Returns:
        tuple: the model (``test_cfg.output_heatmaps=True``) and the
        dataloader (``bbox_file=None``: samples carry ``raw_ann_info``).
    """
    from mmengine.runner import Runner
    from mmpose.apis import init_model

    cfg = Config.fromfile(config) if isinstance(config, str) \
        else config.copy()
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    loader = cfg.test_dataloader
    loader.dataset.bbox_file = None  # ground-truth boxes
    loader.dataset.test_mode = True
    if max_instances:
        loader.dataset.indices = max_instances
    loader.batch_size = batch_size
    loader.num_workers = num_workers
    loader.persistent_workers = num_workers > 0
    model = init_model(cfg, checkpoint, device=device)
    model.test_cfg['output_heatmaps'] = True
    if flip_test is not None:
        model.test_cfg['flip_test'] = flip_test
    return model, Runner.build_dataloader(loader)


def returns_normalized_heatmaps(model) -> bool:
    """Whether ``model``'s head returns normalised heatmaps: an
    :class:`~mmipr.models.heads.IntegralHead` returns softmax(beta * h);
    any other head its raw heatmaps."""
    return isinstance(model.head, IntegralHead)
