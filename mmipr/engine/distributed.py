"""PyTorch-distributed training on CPUs (gloo) under MMEngine 0.10.7.

MMEngine assumes GPUs when it runs distributed: ``init_dist('pytorch')`` always
calls ``torch.cuda.set_device`` and ``Runner.wrap_model`` always passes
``device_ids=[LOCAL_RANK]`` to ``DistributedDataParallel``, which PyTorch
rejects for CPU modules. On a machine without CUDA, :func:`setup_cpu_distributed`
initialises the gloo process group before the Runner is built (the Runner then
skips ``init_dist``) and selects :class:`DeviceAwareDistributedDataParallel`.
With CUDA available nothing is changed: NCCL and MMEngine's stock path.
"""
from __future__ import annotations

import datetime
import os

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS

STOCK_WRAPPERS = (None, 'MMDistributedDataParallel', MMDistributedDataParallel)


# Registered in MMEngine's root registry, not MMPose's: ``Runner.wrap_model``
# looks the type up there (``MODEL_WRAPPERS.get``, which does not search child
# registries) before building it.
@MODEL_WRAPPERS.register_module()
class DeviceAwareDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` that also wraps CPU modules.

    ``DistributedDataParallel`` requires ``device_ids=None`` for a module whose
    parameters live on the CPU; MMEngine always passes the local rank. This
    wrapper drops ``device_ids`` for CPU modules and is otherwise identical.
    """

    def __init__(self, module: torch.nn.Module, device_ids=None, **kwargs):
        on_cpu = all(p.device.type == 'cpu' for p in module.parameters())
        super().__init__(
            module=module, device_ids=None if on_cpu else device_ids, **kwargs)


def setup_cpu_distributed(cfg: Config) -> bool:
    """Prepare ``cfg`` and the process group for distributed CPU runs.

    Args:
        cfg (Config): the merged config; ``cfg.launcher`` is read.

    Returns:
        bool: True if CPU distribution was set up, False if nothing was
        needed (no launcher, or CUDA available).
    """
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none' or torch.cuda.is_available():
        return False
    if launcher != 'pytorch':
        raise RuntimeError(
            f'--launcher {launcher} without CUDA is not supported: on CPUs '
            'launch with torchrun (tools/dist_train.sh / dist_test.sh), '
            'which uses --launcher pytorch.')
    missing = [k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
               if k not in os.environ]
    if missing:
        raise RuntimeError(
            f'--launcher pytorch needs the environment set by torchrun; '
            f'missing {missing}. Use tools/dist_train.sh or torchrun.')
    if not torch_dist.is_initialized():
        dist_cfg = cfg.get('env_cfg', {}).get('dist_cfg', {})
        timeout = datetime.timedelta(seconds=dist_cfg.get('timeout', 1800))
        torch_dist.init_process_group(backend='gloo', timeout=timeout)
    wrapper_cfg = dict(cfg.get('model_wrapper_cfg') or {})
    if wrapper_cfg.get('type') in STOCK_WRAPPERS:
        wrapper_cfg['type'] = 'DeviceAwareDistributedDataParallel'
        wrapper_cfg.setdefault('broadcast_buffers', False)
        wrapper_cfg.setdefault('find_unused_parameters',
                               cfg.get('find_unused_parameters', False))
        cfg.model_wrapper_cfg = wrapper_cfg
    return True
