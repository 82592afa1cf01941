"""bfloat16 autocast training and the channels-last hook on the CPU."""
import copy

import pytest
import torch
from conftest import one_torch_thread, tiny_topdown, topdown_pipeline
from mmengine.config import Config
from mmengine.runner import Runner
from mmpose.registry import MODELS, OPTIM_WRAPPERS
from mmpose.utils import register_all_modules

from mmipr.engine import ChannelsLastHook, CPUAmpOptimWrapper

INPUT = (64, 64)  # (W, H); heatmaps 16 x 16
CODEC = dict(type='MSRAHeatmap', input_size=INPUT, heatmap_size=(16, 16),
             sigma=2)


@pytest.fixture(autouse=True)
def single_thread():
    with one_torch_thread():
        yield


def tiny_cfg(data_root: str, work_dir: str) -> Config:
    """MMPose's HeatmapHead (its loss passes outputs to numpy) on a tiny
    ResNet, trained with CPUAmpOptimWrapper and ChannelsLastHook."""
    model = tiny_topdown(dict(
        type='HeatmapHead', in_channels=32, out_channels=17,
        deconv_out_channels=(16, 16, 16), deconv_kernel_sizes=(4, 4, 4),
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder=CODEC))
    pipeline = topdown_pipeline(INPUT, CODEC)
    return Config(dict(
        default_scope='mmpose', work_dir=work_dir, model=model,
        train_dataloader=dict(
            batch_size=4, num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            dataset=dict(
                type='CocoDataset', data_root=data_root, data_mode='topdown',
                ann_file='annotations/person_keypoints_train2017.json',
                data_prefix=dict(img='train2017/'), indices=8,
                pipeline=pipeline)),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        optim_wrapper=dict(type='CPUAmpOptimWrapper',
                           optimizer=dict(type='Adam', lr=1e-3)),
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=1),
            checkpoint=dict(type='CheckpointHook', interval=100)),
        custom_hooks=[dict(type='ChannelsLastHook')],
        randomness=dict(seed=0),
    ))


def _batch_losses(model, batch, context):
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    with context:
        return model(**data, mode='loss')


def test_bf16_loss_matches_float32_and_runs_the_convolutions_in_bf16(
        tiny_coco, tmp_path):
    register_all_modules()
    cfg = tiny_cfg(tiny_coco, str(tmp_path))
    model = MODELS.build(cfg.model)
    batch = next(iter(Runner.build_dataloader(cfg.train_dataloader)))
    wrapper = OPTIM_WRAPPERS.build(dict(
        type='CPUAmpOptimWrapper',
        optimizer=torch.optim.Adam(model.parameters(), lr=1e-3)))
    conv_dtypes = []
    model.backbone.conv1.register_forward_hook(
        lambda m, i, o: conv_dtypes.append(o.dtype))

    reference = _batch_losses(model, batch, torch.no_grad())
    losses = _batch_losses(model, batch, wrapper.optim_context(model))

    assert conv_dtypes == [torch.float32, torch.bfloat16]
    assert losses['loss_kpt'].dtype == torch.float32
    # bfloat16 keeps 8 bits of mantissa: agreement to about 1 %
    assert losses['loss_kpt'].item() == pytest.approx(
        reference['loss_kpt'].item(), rel=0.03)
    before = model.backbone.conv1.weight.detach().clone()
    wrapper.update_params(losses['loss_kpt'])
    weight = model.backbone.conv1.weight
    assert weight.dtype == torch.float32 and not torch.equal(weight, before)


def test_training_with_bf16_and_channels_last(tiny_coco, tmp_path):
    register_all_modules()
    runner = Runner.from_cfg(tiny_cfg(tiny_coco, str(tmp_path)))
    runner.train()  # 2 iterations; HeatmapHead.loss calls to_numpy
    assert isinstance(runner.optim_wrapper, CPUAmpOptimWrapper)
    loss = runner.message_hub.get_scalar('train/loss_kpt').current()
    assert 0 < loss < 1
    weight = runner.model.backbone.conv1.weight
    assert weight.is_contiguous(memory_format=torch.channels_last)
    assert not weight.is_contiguous()


def test_channels_last_keeps_outputs_and_parameters():
    register_all_modules()
    model = MODELS.build(dict(type='ResNet', depth=18, stem_channels=8,
                              base_channels=4))
    model.eval()  # mmpose's ResNet.train() returns None
    params = list(model.parameters())
    x = torch.randn(2, 3, 64, 48)
    with torch.no_grad():
        expected = model(x)[-1]
        runner = type('FakeRunner', (), {'model': model})()
        ChannelsLastHook().before_train(runner)
        got = model(x)[-1]
    assert [id(p) for p in model.parameters()] == [id(p) for p in params]
    assert model.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_float16_is_refused_with_the_alternative():
    with pytest.raises(ValueError, match="bfloat16 only.*AmpOptimWrapper"):
        CPUAmpOptimWrapper(
            dtype='float16',
            optimizer=torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))],
                                      lr=0.1))



def test_cpu_flags_read_from_cpuinfo(tmp_path):
    from mmipr.engine import cpu_amp
    info = tmp_path / 'cpuinfo'
    info.write_text('processor\t: 0\nflags\t\t: fpu avx2 avx512f amx_bf16\n')
    assert {'avx2', 'amx_bf16'} <= cpu_amp.cpu_flags(str(info))
    assert cpu_amp.cpu_flags(str(tmp_path / 'absent')) == set()


@pytest.mark.parametrize('flags, warns', [
    ({'avx2', 'fma'}, True),             # AVX2 only: bfloat16 is emulated
    ({'avx2', 'avx512f', 'avx512_bf16'}, False),
    ({'avx2', 'amx_bf16', 'amx_tile'}, False),
])
def test_warns_where_bfloat16_is_emulated(monkeypatch, flags, warns):
    import warnings

    from mmipr.engine import cpu_amp
    monkeypatch.setattr(cpu_amp, 'cpu_flags', lambda: set(flags))
    monkeypatch.setattr(cpu_amp, 'is_cuda_available', lambda: False)
    cpu_amp.cpu_has_bfloat16_units.cache_clear()
    model = torch.nn.Linear(2, 2)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            CPUAmpOptimWrapper(optimizer=torch.optim.SGD(model.parameters(),
                                                         lr=0.1))
    finally:
        cpu_amp.cpu_has_bfloat16_units.cache_clear()
    emulated = [w for w in caught if 'no bfloat16 units' in str(w.message)]
    assert bool(emulated) is warns
    if warns:
        assert "OptimWrapper" in str(emulated[0].message)
