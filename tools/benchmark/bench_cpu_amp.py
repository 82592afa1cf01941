"""Speed of a CPU training step in bfloat16 and channels-last vs float32.

Times MMEngine's ``train_step`` (data preprocessor, forward, loss, backward,
Adam step) of the model of ``configs/synthetic/learnability_r18_detection.py``
on one random batch (``mmpose.testing.get_packed_inputs``), four ways:
float32 (MMEngine's ``OptimWrapper``), float32 with ``ChannelsLastHook``'s
layout, bfloat16 autocast (``CPUAmpOptimWrapper``), and both. The four
alternate within each repetition (order reversed every other one); the
speed-up of each is the median over repetitions of float32 time / its time,
each pair measured in the same repetition. bfloat16 pays off on CPUs with
bfloat16 units (AVX512-BF16, AMX); the CPU flags found are printed.

Usage:
    python tools/benchmark/bench_cpu_amp.py [--batch 32] [--reps 8] [--no-report]
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import statistics
import sys
from typing import Optional

import torch

sys.path.insert(0, osp.dirname(__file__))
sys.path.insert(0, osp.join(osp.dirname(__file__), '..', '..'))

from bench_train_iter import step  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.optim import build_optim_wrapper  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmpose.registry import MODELS  # noqa: E402
from mmpose.testing import get_packed_inputs  # noqa: E402
from report import write_section  # noqa: E402

import mmipr  # noqa: E402,F401
from mmipr.utils.validation import non_negative_int, positive_int  # noqa: E402

REPO = osp.join(osp.dirname(__file__), '..', '..')
CONFIG = 'configs/synthetic/learnability_r18_detection.py'
VARIANTS = {  # name: (optimizer wrapper type, channels-last)
    'float32': ('OptimWrapper', False),
    'float32, channels-last': ('OptimWrapper', True),
    'bfloat16': ('CPUAmpOptimWrapper', False),
    'bfloat16, channels-last': ('CPUAmpOptimWrapper', True),
}


def build(cfg: Config, wrapper: str, channels_last: bool) -> tuple:
    """The config's model (train mode, seed 0) and an optimizer wrapper."""
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optim_cfg = dict(cfg.optim_wrapper, type=wrapper)
    return model, build_optim_wrapper(model, optim_cfg)


def cpu_flags() -> str:
    try:
        flags = open('/proc/cpuinfo').read().split('flags')[1].split('\n')[0]
    except (OSError, IndexError):
        return 'unknown'
    found = [f for f in ('avx512_bf16', 'amx_bf16') if f in flags.split()]
    return ', '.join(found) or 'no bfloat16 units'


def parse_args(argv: Optional[list] = None) -> argparse.Namespace:
    """The command line, every number checked (mmipr.utils.validation)."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch', type=positive_int, default=32)
    parser.add_argument('--reps', type=positive_int, default=8)
    parser.add_argument('--warmup', type=non_negative_int, default=2)
    parser.add_argument('--no-report', action='store_true',
                        help='do not write docs/benchmarks.md')
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()

    init_default_scope('mmpose')  # CPUAmpOptimWrapper is in MMPose's scope
    cfg = Config.fromfile(osp.join(REPO, CONFIG))
    w, h = cfg.codec['input_size']
    data = get_packed_inputs(
        batch_size=args.batch, img_shape=(h, w), input_size=(w, h),
        heatmap_size=cfg.codec['heatmap_size'], with_simcc_label=False)
    runs = {name: build(cfg, *v) for name, v in VARIANTS.items()}
    for run in runs.values():
        for _ in range(args.warmup):
            step(*run, data)
    times = {name: [] for name in runs}
    for r in range(args.reps):
        names = list(runs) if r % 2 == 0 else list(reversed(runs))
        for name in names:
            times[name].append(step(*runs[name], data))

    base = times['float32']
    rows = []
    for name, t in times.items():
        speedup = statistics.median(b / x for b, x in zip(base, t))
        rows.append(f'| {name} | {1e3 * statistics.median(t):.0f} | '
                    f'{1e3 * min(t):.0f} | {speedup:.2f}x |')
    load = os.getloadavg()
    md = (
        '## CPU training step: bfloat16 autocast and channels-last\n\n'
        f'One `train_step` of `{CONFIG}`\'s model (ResNet-18 at half width, '
        f'128x96 input, 32x24 heatmaps), batch {args.batch}, '
        f'{torch.get_num_threads()} threads, {args.reps} interleaved '
        f'repetitions after {args.warmup} warm-up steps each. CPU bfloat16 '
        f'units: {cpu_flags()}.\n\n'
        '| variant | median ms | min ms | speed-up (median of per-repetition '
        'ratios) |\n| --- | --- | --- | --- |\n' + '\n'.join(rows) + '\n\n'
        f'Load average at the end of the run: {load[0]:.1f} (1 min) on '
        f'{os.cpu_count()} cores. A training run also spends CPU on data '
        'loading, so its iterations speed up less than the step does.\n')
    print(md)
    if not args.no_report:
        write_section('cpu_amp', md)


if __name__ == '__main__':
    main()
