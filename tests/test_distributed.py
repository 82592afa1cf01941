"""CPU distributed set-up (mmipr.engine.distributed) with a one-process gloo group."""
import copy
import socket

import pytest
import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.model import BaseModel, MMDistributedDataParallel
from mmengine.optim import OptimWrapper
from mmengine.runner import Runner
from mmpose.registry import MODEL_WRAPPERS

from mmipr.engine import DeviceAwareDistributedDataParallel, setup_cpu_distributed

TORCHRUN_ENV = ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT',
                'LOCAL_RANK')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture
def no_cuda(monkeypatch):
    """The CPU code path, also on a machine with a GPU."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    for key in TORCHRUN_ENV:
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def torchrun_env(no_cuda, monkeypatch):
    """The environment torchrun gives the only process of a group of one;
    the process group is destroyed afterwards."""
    assert not torch_dist.is_initialized()
    env = dict(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1',
               MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port()))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield
    if torch_dist.is_initialized():
        torch_dist.destroy_process_group()


class TinyModel(BaseModel):
    """The smallest MMEngine model with a loss mode."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(inputs)
        if mode == 'loss':
            return dict(loss=out.pow(2).mean())
        return out


def test_no_launcher_changes_nothing(no_cuda):
    cfg = Config(dict(launcher='none'))
    assert setup_cpu_distributed(cfg) is False
    assert 'model_wrapper_cfg' not in cfg
    assert not torch_dist.is_initialized()


def test_pytorch_launcher_outside_torchrun_names_missing_env(no_cuda):
    with pytest.raises(RuntimeError, match='torchrun') as info:
        setup_cpu_distributed(Config(dict(launcher='pytorch')))
    for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        assert key in str(info.value)
    assert not torch_dist.is_initialized()


def test_slurm_launcher_without_cuda_is_refused(no_cuda):
    with pytest.raises(RuntimeError, match='--launcher slurm'):
        setup_cpu_distributed(Config(dict(launcher='slurm')))


def test_pytorch_launcher_sets_up_gloo_and_wrapper(torchrun_env):
    cfg = Config(dict(launcher='pytorch', find_unused_parameters=True))
    assert setup_cpu_distributed(cfg) is True
    assert torch_dist.is_initialized()
    assert torch_dist.get_backend() == 'gloo'
    assert torch_dist.get_world_size() == 1
    assert cfg.model_wrapper_cfg == dict(
        type='DeviceAwareDistributedDataParallel', broadcast_buffers=False,
        find_unused_parameters=True)


def test_custom_wrapper_is_kept(torchrun_env):
    custom = dict(type='MMFullyShardedDataParallel', cpu_offload=True)
    cfg = Config(dict(launcher='pytorch', model_wrapper_cfg=custom))
    assert setup_cpu_distributed(cfg) is True
    assert cfg.model_wrapper_cfg == custom


def test_stock_wrapper_type_is_replaced_keeping_its_options(torchrun_env):
    cfg = Config(dict(
        launcher='pytorch',
        model_wrapper_cfg=dict(type='MMDistributedDataParallel',
                               broadcast_buffers=True)))
    setup_cpu_distributed(cfg)
    assert cfg.model_wrapper_cfg.type == 'DeviceAwareDistributedDataParallel'
    assert cfg.model_wrapper_cfg.broadcast_buffers is True


def test_wrapper_trains_a_cpu_module_like_the_unwrapped_model(torchrun_env):
    setup_cpu_distributed(Config(dict(launcher='pytorch')))
    torch.manual_seed(0)
    model = TinyModel()
    reference = copy.deepcopy(model)
    # MMEngine's Runner.wrap_model always passes the local rank as device id,
    # which DistributedDataParallel refuses for a CPU module
    with pytest.raises(ValueError, match='device_ids'):
        MMDistributedDataParallel(module=copy.deepcopy(model), device_ids=[0])
    wrapped = MODEL_WRAPPERS.build(dict(
        type='DeviceAwareDistributedDataParallel', module=model,
        device_ids=[0], broadcast_buffers=False))
    assert isinstance(wrapped, DeviceAwareDistributedDataParallel)
    assert wrapped.device_ids is None

    inputs = torch.randn(4, 3)
    lr = 0.1
    wrapped.train_step(
        dict(inputs=inputs),
        OptimWrapper(torch.optim.SGD(wrapped.parameters(), lr=lr)))
    # one process: DDP's gradient average is the plain gradient
    reference(inputs, mode='loss')['loss'].backward()
    for got, ref in zip(wrapped.module.parameters(), reference.parameters()):
        torch.testing.assert_close(got, ref.detach() - lr * ref.grad)


def test_runner_wraps_the_model_with_the_cpu_wrapper(torchrun_env, tmp_path):
    # Runner.wrap_model looks the wrapper type up in MMEngine's root registry
    cfg = Config(dict(launcher='pytorch'))
    setup_cpu_distributed(cfg)
    runner = Runner(
        model=TinyModel(), work_dir=str(tmp_path), launcher='pytorch',
        default_scope='mmpose', env_cfg=dict(dist_cfg=dict(backend='gloo')),
        experiment_name=f'test_distributed_{tmp_path.name}', cfg=cfg)
    assert type(runner.model) is DeviceAwareDistributedDataParallel
    assert runner.model.device_ids is None
