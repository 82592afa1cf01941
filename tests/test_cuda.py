"""mmipr's GPU paths (marker ``cuda``; skipped without CUDA).

Run them with ``make gpu-check`` (or ``pytest -m cuda tests/test_cuda.py``):
CUDA decoding against the CPU's, one float16 AMP step of each head on
SBL-R50 256x192 against float32, and ``tools/dist_train.sh`` with NCCL.
"""
import math
import os
import os.path as osp
import sys

import pytest
import torch
from conftest import REPO

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA'),
]

sys.path.insert(0, osp.join(REPO, 'tools', 'benchmark'))


def heatmaps(B=64, K=17, H=64, W=48, seed=0):
    """Gaussian peaks (sigma 2) plus small noise: unique maxima."""
    g = torch.Generator().manual_seed(seed)
    centre = torch.rand(B, K, 2, 1, 1, generator=g) * torch.tensor(
        [W - 1.0, H - 1.0]).view(1, 1, 2, 1, 1)
    ys = torch.arange(H, dtype=torch.float32).view(1, 1, H, 1)
    xs = torch.arange(W, dtype=torch.float32).view(1, 1, 1, W)
    d2 = (xs - centre[:, :, 0]) ** 2 + (ys - centre[:, :, 1]) ** 2
    return torch.exp(-d2 / 8) + 0.01 * torch.rand(B, K, H, W, generator=g)


@pytest.mark.parametrize('unbiased', [False, True])
def test_decode_on_cuda_equals_cpu(unbiased):
    from mmpose.registry import MODELS
    head = MODELS.build(dict(
        type='ArgmaxHead', in_channels=8, out_channels=17,
        decoder=dict(type='MSRAHeatmap', input_size=(192, 256),
                     heatmap_size=(48, 64), sigma=2, unbiased=unbiased,
                     blur_kernel_size=11)))
    hm = heatmaps()
    cpu = head.decode(hm)
    cuda = head.decode(hm.cuda())
    for a, b in zip(cpu, cuda):
        assert a.keypoints.shape == b.keypoints.shape == (1, 17, 2)
        assert abs(a.keypoints - b.keypoints).max() < 1e-3
        assert abs(a.keypoint_scores - b.keypoint_scores).max() < 1e-5


@pytest.mark.parametrize('name', ['detection', 'integral_kl2'])
def test_fp16_amp_step_is_finite_and_close_to_fp32(name):
    from gpu_check import R50_CONFIGS, build_r50, r50_batch
    config = R50_CONFIGS[name]
    data = r50_batch(config, batch=16)
    torch.manual_seed(0)
    model32, wrap32 = build_r50(config, 'cuda', amp=False)
    model16, wrap16 = build_r50(config, 'cuda', amp=True)
    model16.load_state_dict(model32.state_dict())
    before = {k: v.detach().clone() for k, v in model32.state_dict().items()}
    logs32 = model32.train_step(data, wrap32)
    logs16 = model16.train_step(data, wrap16)
    for key, v32 in logs32.items():
        v16 = float(logs16[key])
        assert math.isfinite(v16), (key, v16)
        assert abs(v16 - float(v32)) <= 0.02 * abs(float(v32)) + 1e-4, (
            key, v16, float(v32))
    assert all(torch.isfinite(p).all() for p in model16.parameters())
    # the float16 step moved the weights as the float32 step did (a skipped
    # step, scaler overflow, leaves them where they were)
    if wrap16.loss_scaler.get_scale() >= 1:
        num = den = 0.0
        for k, p16 in model16.state_dict().items():
            if not p16.is_floating_point():
                continue
            d32 = model32.state_dict()[k].float() - before[k].float()
            d16 = p16.float() - before[k].float()
            num += float(((d16 - d32) ** 2).sum())
            den += float((d32 ** 2).sum())
        assert num <= 0.1 * den + 1e-12, (num, den)


def test_dist_train_with_nccl(tiny_coco, tmp_path):
    from test_tools_e2e import INTEGRAL_KL, free_port, load, run, small_run
    gpus = torch.cuda.device_count()
    work = tmp_path / 'work'
    out = run(['bash', osp.join(REPO, 'tools', 'dist_train.sh'), INTEGRAL_KL,
               str(gpus), '--work-dir', str(work), '--no-validate',
               *small_run(tiny_coco, validate=False,
                          **{'train_dataloader.batch_size': 2})],
              cwd=REPO, timeout=240, PORT=str(free_port()))
    assert 'nccl' in out.lower()
    meta = load(str(work / 'epoch_1.pth'))['meta']
    # 16 instances, batch 2 per GPU
    assert meta['iter'] == math.ceil(16 / (2 * gpus))
    assert os.path.exists(work / 'last_checkpoint')
