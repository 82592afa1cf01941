"""Training-dynamics hooks in a tiny synthetic training run."""
import json
import math
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from conftest import one_torch_thread, tiny_topdown, topdown_pipeline
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.runner import Runner
from mmpose.models.heads import HeatmapHead
from mmpose.registry import MODELS
from mmpose.utils import register_all_modules

from mmipr.engine.hooks import HeatmapSnapshotHook, PriorGradientRatioHook

INPUT = (64, 64)  # (W, H); heatmaps 16 x 16


@pytest.fixture(autouse=True)
def single_thread():
    with one_torch_thread():
        yield


def tiny_cfg(data_root: str, work_dir: str, prior: bool = True) -> Config:
    codec = dict(type='RegressionLabel', input_size=INPUT)
    head = dict(
        type='IntegralHead', in_channels=32, out_channels=17,
        deconv_out_channels=(16, 16, 16), deconv_kernel_sizes=(4, 4, 4),
        loss=dict(type='L1Loss', use_target_weight=True), decoder=codec)
    if prior:
        head['prior_loss'] = dict(type='KLPriorLoss', sigma=1.0,
                                  loss_weight=0.05)
    model = tiny_topdown(head)
    train_pipeline = topdown_pipeline(INPUT, codec)
    val_pipeline = topdown_pipeline(INPUT)

    def loader(split, pipeline, shuffle):
        return dict(
            batch_size=4, num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=shuffle),
            dataset=dict(
                type='CocoDataset', data_root=data_root, data_mode='topdown',
                ann_file=f'annotations/person_keypoints_{split}2017.json',
                data_prefix=dict(img=f'{split}2017/'), indices=8,
                pipeline=pipeline))

    return Config(dict(
        default_scope='mmpose', work_dir=work_dir, model=model,
        train_dataloader=loader('train', train_pipeline, True),
        val_dataloader=loader('val', val_pipeline, False),
        val_evaluator=dict(
            type='CocoMetric',
            ann_file=osp.join(data_root,
                              'annotations/person_keypoints_val2017.json')),
        train_cfg=dict(by_epoch=True, max_epochs=2, val_begin=100),
        val_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='Adam', lr=1e-3)),
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=1),
            checkpoint=dict(type='CheckpointHook', interval=100)),
        custom_hooks=[
            dict(type='PriorGradientRatioHook', interval=1),
            dict(type='HeatmapSnapshotHook', indices=(0, 3),
                 keypoint_indices=(0, 15, 16)),
        ],
        log_processor=dict(custom_cfg=[
            dict(data_src='prior_integral_grad_ratio', method_name='current')
        ]),
        randomness=dict(seed=0),
        env_cfg=dict(dist_cfg=dict(backend='gloo')),
    ))


def test_hooks_in_a_tiny_training(tiny_coco, tmp_path):
    register_all_modules()
    runner = Runner.from_cfg(tiny_cfg(tiny_coco, str(tmp_path)))
    runner.train()  # 2 epochs of 2 iterations

    ratios = runner.message_hub.get_scalar(
        'train/prior_integral_grad_ratio').data[0]
    prior = runner.message_hub.get_scalar('train/grad_norm_prior').data[0]
    integral = runner.message_hub.get_scalar(
        'train/grad_norm_integral').data[0]
    assert len(ratios) == 4  # every iteration with interval=1
    assert (prior > 0).all() and (integral > 0).all()
    assert ratios == pytest.approx(prior / integral, rel=1e-6)

    root = tmp_path / 'heatmap_snapshots'
    for epoch in ('epoch_000', 'epoch_001', 'epoch_002'):
        for index in (0, 3):
            png = root / epoch / f'sample_{index}.png'
            assert png.stat().st_size > 1000
            assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    # the snapshot restored the training state of the model and its test_cfg
    assert 'output_heatmaps' not in runner.model.test_cfg
    # the hook's ratio reaches the visualizer's scalars.json
    scalars = list(tmp_path.glob('*/vis_data/scalars.json'))
    assert scalars and 'prior_integral_grad_ratio' in scalars[0].read_text()


def _reference_grad_norms(model, batch):
    """||dL/dh|| of each head loss, h substituted by a leaf tensor."""
    data = model.data_preprocessor(batch, True)
    feats = model.extract_feat(data['inputs'])
    head = model.head
    leaf = HeatmapHead.forward(head, feats).detach().requires_grad_(True)
    handle = head.final_layer.register_forward_hook(lambda m, i, o: leaf)
    try:
        losses = head.loss(feats, data['data_samples'])
    finally:
        handle.remove()
    return {
        key: torch.autograd.grad(losses[key], leaf,
                                 retain_graph=True)[0].norm().item()
        for key in ('loss_prior', 'loss_kpt')
    }


def test_gradient_ratio_matches_the_two_losses(tiny_coco, tmp_path):
    register_all_modules()
    cfg = tiny_cfg(tiny_coco, str(tmp_path))
    model = MODELS.build(cfg.model)
    model.train()
    runner = Runner.build_dataloader(cfg.train_dataloader)
    batch = next(iter(runner))
    hub = MessageHub.get_instance('test_gradient_ratio')
    fake = SimpleNamespace(model=model, message_hub=hub, iter=4)
    hook = PriorGradientRatioHook(interval=5)
    hook.before_run(fake)
    hook.before_train_iter(fake, 0, batch)  # iteration 5 of interval 5
    data = model.data_preprocessor(batch, True)
    model.loss(data['inputs'], data['data_samples'])
    hook.after_train_iter(fake, 0, batch)
    hook.after_run(fake)
    ref = _reference_grad_norms(model, batch)
    assert hub.get_scalar('train/grad_norm_prior').current() == \
        pytest.approx(ref['loss_prior'], rel=1e-5)
    assert hub.get_scalar('train/grad_norm_integral').current() == \
        pytest.approx(ref['loss_kpt'], rel=1e-5)
    ratio = hub.get_scalar('train/prior_integral_grad_ratio').current()
    assert ratio == pytest.approx(ref['loss_prior'] / ref['loss_kpt'],
                                  rel=1e-5)
    assert math.isfinite(ratio)
    # an iteration off the interval measures nothing
    fake.iter = 5
    hook.before_run(fake)
    hook.before_train_iter(fake, 0, batch)
    model.loss(data['inputs'], data['data_samples'])
    hook.after_train_iter(fake, 0, batch)
    assert len(hub.get_scalar('train/grad_norm_prior').data[0]) == 1


def test_hooks_report_bad_setups(tiny_coco, tmp_path):
    register_all_modules()
    cfg = tiny_cfg(tiny_coco, str(tmp_path), prior=False)
    fake = SimpleNamespace(model=MODELS.build(cfg.model))
    with pytest.raises(ValueError, match='prior_loss_module'):
        PriorGradientRatioHook().before_run(fake)
    with pytest.raises(ValueError, match='interval'):
        PriorGradientRatioHook(interval=0)
    with pytest.raises(ValueError, match='index'):
        HeatmapSnapshotHook(indices=())
    with pytest.raises(ValueError, match='val_dataloader'):
        HeatmapSnapshotHook().before_train(SimpleNamespace(val_loop=None))
    loop = SimpleNamespace(dataloader=SimpleNamespace(dataset=[0, 1]))
    with pytest.raises(ValueError, match=r'indices \[5\] out of range'):
        HeatmapSnapshotHook(indices=(1, 5)).before_train(
            SimpleNamespace(val_loop=loop))


def _write_log(path, lines):
    path.parent.mkdir(parents=True)
    path.write_text('\n'.join(json.dumps(x) for x in lines) + '\n')


def test_plot_curves_reads_mmengine_logs(tmp_path):
    from mmipr.analysis import curves

    # run a: 4 iterations per epoch, 2 epochs, resumed after epoch 1 with a
    # repeated (replaced) iteration 4; run b: one run
    a, b = tmp_path / 'a', tmp_path / 'b'
    _write_log(a / '20240101_000000' / 'vis_data' / 'scalars.json', [
        dict(loss=4.0, epoch=1, iter=2, step=2),
        dict(loss=99.0, epoch=1, iter=4, step=4),
        {'coco/AP': 0.1, 'step': 1},
    ])
    _write_log(a / '20240102_000000' / 'vis_data' / 'scalars.json', [
        dict(loss=3.0, epoch=1, iter=4, step=4),
        dict(loss=2.0, epoch=2, iter=6, step=6),
        dict(loss=1.0, epoch=2, iter=8, step=8),
        {'coco/AP': 0.3, 'step': 2},
    ])
    _write_log(b / '20240101_000000' / 'vis_data' / 'scalars.json', [
        dict(loss=8.0, epoch=1, iter=4, step=4),
        dict(loss=6.0, epoch=2, iter=8, step=8),
        {'coco/AP': 0.2, 'step': 1}, {'coco/AP': 0.25, 'step': 2},
    ])
    runs = curves.read_scalars(str(a))
    assert [r['iter'] for r in runs['train']] == [2, 4, 6, 8]
    assert runs['train'][1]['loss'] == 3.0
    x, y = curves.curve(runs['train'], 'loss')
    assert x.tolist() == [0.5, 1.0, 1.5, 2.0] and y.tolist() == [4, 3, 2, 1]
    _, rel = curves.curve(runs['train'], 'loss', relative=True)
    assert rel.tolist() == [1.0, 0.75, 0.5, 0.25]
    out = tmp_path / 'curves.png'
    summary = curves.plot_training_curves([str(a), str(b)], ['int', 'det'],
                                        out=str(out))
    assert summary == {'int': {'loss': 1.0, 'best coco/AP': 0.3},
                       'det': {'loss': 6.0, 'best coco/AP': 0.25}}
    assert out.read_bytes()[:4] == b'\x89PNG'
    with pytest.raises(FileNotFoundError, match='scalars.json'):
        curves.read_scalars(str(tmp_path / 'nothing'))
