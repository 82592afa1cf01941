"""Speed of IntegralHead vs MMPose's IntegralRegressionHead, and the default
weight of KLPriorLoss measured at initialisation.

Speed: forward + backward of the head's ``loss`` on given backbone features
(B, 2048, 8, 6) of a 256x192 input (SBL trunk: 3 deconvolutions of 256
channels, 64x48 heatmaps), for MMPose's IntegralRegressionHead (same trunk,
L1 loss), IntegralHead, and IntegralHead with KLPriorLoss. The variants are
interleaved within each repetition; the median time is reported.

Calibration (App. A.4): with a freshly initialised head on random features
the heatmaps are nearly uniform; the script reports the L1 coordinate loss
and the raw KL prior (loss_weight 1), and the prior weight that makes the
two equal.

Usage:
    python tools/benchmark/bench_integral_head.py [--batch 32] [--reps 10]
"""
from __future__ import annotations

import argparse
import os.path as osp
import statistics
import sys
import time
from typing import Optional

import torch

sys.path.insert(0, osp.dirname(__file__))
sys.path.insert(0, osp.join(osp.dirname(__file__), '..', '..'))

from mmengine.structures import InstanceData  # noqa: E402
from mmpose.registry import MODELS  # noqa: E402
from mmpose.structures import PoseDataSample  # noqa: E402
from report import write_section  # noqa: E402

import mmipr  # noqa: E402,F401
from mmipr.utils.validation import positive_int  # noqa: E402

K = 17
INPUT_SIZE = (192, 256)  # (w, h)
FEAT_SHAPE = (2048, 8, 6)
L1 = dict(type='L1Loss', use_target_weight=True)


def build_heads() -> dict:
    heads = dict(
        mmpose_ipr=dict(
            type='IntegralRegressionHead', in_channels=2048,
            in_featuremap_size=(6, 8), num_joints=K, loss=L1),
        integral=dict(type='IntegralHead', in_channels=2048, out_channels=K),
        integral_kl=dict(
            type='IntegralHead', in_channels=2048, out_channels=K,
            prior_loss=dict(type='KLPriorLoss', sigma=2.0)),
    )
    out = {}
    for name, cfg in heads.items():
        head = MODELS.build(cfg)
        head.init_weights()
        out[name] = head.train()
    return out


def make_samples(batch: int, labels: torch.Tensor) -> list:
    samples = []
    for b in range(batch):
        s = PoseDataSample(metainfo=dict(input_size=INPUT_SIZE))
        s.gt_instance_labels = InstanceData(
            keypoint_labels=labels[b:b + 1],
            keypoint_weights=torch.ones(1, K))
        samples.append(s)
    return samples


def time_step(head, feats, samples) -> float:
    head.zero_grad(set_to_none=True)
    t0 = time.perf_counter()
    losses = head.loss(feats, samples)
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    return time.perf_counter() - t0


def bench_speed(heads: dict, batch: int, reps: int) -> dict:
    g = torch.Generator().manual_seed(0)
    feats = (torch.randn(batch, *FEAT_SHAPE, generator=g).relu(), )
    samples = make_samples(batch, torch.rand(batch, K, 2, generator=g))
    for head in heads.values():  # warm-up
        time_step(head, feats, samples)
    times = {name: [] for name in heads}
    for r in range(reps):
        names = list(heads)
        if r % 2:  # alternate the order to cancel drift
            names.reverse()
        for name in names:
            times[name].append(time_step(heads[name], feats, samples))
    return times


def _integrate_mmpose(head, logits, labels, weights):
    """MMPose's IntegralRegressionHead.forward after its trunk."""
    hm = head._flat_softmax(logits * head.beta)
    coords = torch.cat([head._linear_expectation(hm, head.linspace_x),
                        head._linear_expectation(hm, head.linspace_y)], -1)
    return head.loss_module(coords, labels, weights)


def _integrate_ours(head, logits, labels, weights):
    coords, _, log_hm = head.integrate(
        logits, with_log=head.prior_loss_module is not None)
    size = logits.new_tensor(logits.shape[:-3:-1])
    loss = head.loss_module(coords / size, labels, weights)
    if head.prior_loss_module is not None:
        loss = loss + head.prior_loss_module(
            log_hm, labels * size, weights, log_normalized=True)
    return loss


def bench_integration(heads: dict, batch: int, reps: int) -> dict:
    """Only what follows the trunk: normalisation, expectation, losses and
    their backward to the logits (B, K, 64, 48)."""
    g = torch.Generator().manual_seed(2)
    logits = (torch.randn(batch, K, 64, 48, generator=g) * 3).requires_grad_()
    labels, weights = torch.rand(batch, K, 2, generator=g), torch.ones(batch, K)
    fns = dict(mmpose_ipr=_integrate_mmpose, integral=_integrate_ours,
               integral_kl=_integrate_ours)
    times = {name: [] for name in heads}
    for r in range(reps + 1):
        names = list(heads) if r % 2 else list(heads)[::-1]
        for name in names:
            logits.grad = None
            t0 = time.perf_counter()
            fns[name](heads[name], logits, labels, weights).backward()
            if r:  # the first round is warm-up
                times[name].append(time.perf_counter() - t0)
    return times


@torch.no_grad()
def calibrate(batch: int, batches: int = 4) -> dict:
    """L1 and raw KL of a fresh head; targets uniform in the whole input and
    in its central 80 % (where a top-down crop with 1.25 padding puts the
    person)."""
    head = MODELS.build(dict(
        type='IntegralHead', in_channels=2048, out_channels=K,
        prior_loss=dict(type='KLPriorLoss', sigma=2.0, loss_weight=1.0)))
    head.init_weights()
    g = torch.Generator().manual_seed(1)
    out = {}
    for name, lo, hi in (('uniform over the input', 0.0, 1.0),
                         ('central 80 % of the input', 0.1, 0.9)):
        l1, kl = [], []
        for _ in range(batches):
            feats = (torch.randn(batch, *FEAT_SHAPE, generator=g).relu(), )
            labels = lo + (hi - lo) * torch.rand(batch, K, 2, generator=g)
            losses = head.loss(feats, make_samples(batch, labels))
            l1.append(losses['loss_kpt'].item())
            kl.append(losses['loss_prior'].item())
        out[name] = (statistics.mean(l1), statistics.mean(kl))
    return out


def parse_args(argv: Optional[list] = None) -> argparse.Namespace:
    """The command line, every number checked (mmipr.utils.validation)."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch', type=positive_int, default=32)
    parser.add_argument('--reps', type=positive_int, default=10)
    parser.add_argument('--no-write', action='store_true',
                        help='print only, do not update docs/benchmarks.md')
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()

    heads = build_heads()
    full = bench_speed(heads, args.batch, args.reps)
    part = bench_integration(heads, args.batch, 10 * args.reps)
    labels = dict(mmpose_ipr='MMPose IntegralRegressionHead (L1Loss)',
                  integral='IntegralHead (L1Loss)',
                  integral_kl='IntegralHead + KLPriorLoss (sigma 2)')

    def table(times):
        med = {n: statistics.median(t) for n, t in times.items()}
        low = {n: min(t) for n, t in times.items()}
        lines = ['| head | median ms | min ms | median / MMPose | min / MMPose |',
                 '| --- | --- | --- | --- | --- |']
        lines += [f'| {labels[n]} | {1e3 * med[n]:.2f} | {1e3 * low[n]:.2f} | '
                  f'{med[n] / med["mmpose_ipr"]:.3f} | '
                  f'{low[n] / low["mmpose_ipr"]:.3f} |' for n in times]
        lines += ['', 'KL prior over IntegralHead: median '
                  f'{med["integral_kl"] / med["integral"] - 1:+.1%}, min '
                  f'{low["integral_kl"] / low["integral"] - 1:+.1%}.']
        return lines

    cal = calibrate(args.batch)

    md = [
        '## integral_head: IntegralHead speed and KLPriorLoss weight', '',
        f'{torch.get_num_threads()} CPU threads, torch {torch.__version__}; '
        'variants interleaved within each repetition.', '',
        f'Whole head, forward + backward of `loss` on features (B={args.batch}, '
        f'{", ".join(map(str, FEAT_SHAPE))}) (256x192 input, SBL trunk, 64x48 '
        f'heatmaps, K={K}), {args.reps} repetitions:', ''
    ] + table(full) + [
        '', 'After the trunk only (normalisation, expectation, losses, '
        f'backward to the logits (B={args.batch}, {K}, 64, 48)), '
        f'{10 * args.reps} repetitions:', ''
    ] + table(part) + [
        '',
        'Losses of a freshly initialised IntegralHead (sigma 2, 64x48) on '
        'random features, mean of 4 batches:', '',
        '| targets | L1 (loss_kpt, weight 1) | KL (loss_weight 1) | '
        'weight making them equal |', '| --- | --- | --- | --- |'
    ]
    md += [f'| {n} | {l1:.4f} | {kl:.3f} | {l1 / kl:.4f} |'
           for n, (l1, kl) in cal.items()]
    text = '\n'.join(md) + '\n'
    print(text)
    if not args.no_write:
        write_section('integral_head', text)


if __name__ == '__main__':
    main()
