"""Cost of one training iteration: integral + KL prior vs heatmap detection.

Times MMEngine's ``train_step`` (data preprocessor, forward, loss, backward,
optimizer step) of the models built from the CPU-sized synthetic configs
``configs/synthetic/sbl_r18_integral_kl2.py`` and
``configs/synthetic/sbl_r18_detection.py`` (same ResNet-18 trunk and
deconvolution head, 128x96 input, 32x24 heatmaps), with each config's
optimizer, on one random batch from ``mmpose.testing.get_packed_inputs``
(heatmap targets for detection, ``keypoint_labels`` for integral
regression). The two models alternate within each repetition (order flipped
every other one, to cancel drift). The ratio checked against ``--limit`` (exit
status 1 above it) is the median over repetitions of integral / detection
time, each pair measured back to back, which is robust to a machine whose
load changes during the run; the ratios of medians and of minima are
reported too.

Usage:
    python tools/benchmark/bench_train_iter.py [--batch 32] [--reps 10]
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import statistics
import sys
import time
from typing import Optional

import torch

sys.path.insert(0, osp.dirname(__file__))
sys.path.insert(0, osp.join(osp.dirname(__file__), '..', '..'))

from mmengine.config import Config  # noqa: E402
from mmengine.optim import build_optim_wrapper  # noqa: E402
from mmpose.registry import MODELS  # noqa: E402
from mmpose.testing import get_packed_inputs  # noqa: E402
from report import write_section  # noqa: E402

import mmipr  # noqa: E402,F401
from mmipr.utils.validation import cli_number, non_negative_int, positive_int  # noqa: E402

REPO = osp.join(osp.dirname(__file__), '..', '..')
CONFIGS = dict(
    detection='configs/synthetic/sbl_r18_detection.py',
    integral_kl2='configs/synthetic/sbl_r18_integral_kl2.py')


def build(config: str) -> tuple:
    """The config's model (train mode) and optimizer wrapper."""
    cfg = Config.fromfile(osp.join(REPO, config))
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    return model, build_optim_wrapper(model, cfg.optim_wrapper)


def make_batch(cfg_path: str, batch: int) -> dict:
    """Random packed inputs at the config's input and heatmap sizes."""
    codec = Config.fromfile(osp.join(REPO, cfg_path)).codec
    w, h = codec['input_size']
    return get_packed_inputs(
        batch_size=batch, img_shape=(h, w), input_size=(w, h),
        heatmap_size=codec['heatmap_size'], with_simcc_label=False)


def step(model, optim_wrapper, data: dict) -> float:
    t0 = time.perf_counter()
    model.train_step(data, optim_wrapper)
    return time.perf_counter() - t0


def parse_args(argv: Optional[list] = None) -> argparse.Namespace:
    """The command line, every number checked (mmipr.utils.validation)."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch', type=positive_int, default=32)
    parser.add_argument('--reps', type=positive_int, default=10)
    parser.add_argument('--warmup', type=non_negative_int, default=2)
    parser.add_argument(
        '--limit', type=cli_number(low=0, low_open=True, hint='a time ratio'),
        default=1.05, help='largest allowed integral/detection time ratio')
    parser.add_argument('--no-report', action='store_true',
                        help='do not write docs/benchmarks.md')
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()

    torch.manual_seed(0)
    # the detection codec gives both models' (equal) input and heatmap sizes
    data = make_batch(CONFIGS['detection'], args.batch)
    runs = {name: build(path) for name, path in CONFIGS.items()}
    for name, (model, optim_wrapper) in runs.items():
        for _ in range(args.warmup):
            step(model, optim_wrapper, data)
    times = {name: [] for name in runs}
    for r in range(args.reps):
        names = list(runs) if r % 2 == 0 else list(reversed(runs))
        for name in names:
            times[name].append(step(*runs[name], data))

    med = {name: statistics.median(t) for name, t in times.items()}
    ratio = statistics.median(
        i / d for i, d in zip(times['integral_kl2'], times['detection']))
    of_medians = med['integral_kl2'] / med['detection']
    of_minima = min(times['integral_kl2']) / min(times['detection'])
    load = os.getloadavg()
    verdict = 'PASS' if ratio <= args.limit else 'FAIL'
    rows = '\n'.join(
        f'| `{CONFIGS[name]}` | {1e3 * med[name]:.0f} | '
        f'{1e3 * min(times[name]):.0f} | {1e3 * max(times[name]):.0f} |'
        for name in runs)
    md = (
        '## Training iteration: integral + KL prior vs detection\n\n'
        f'One `train_step` (preprocess, forward, loss, backward, Adam step), '
        f'batch {args.batch}, 128x96 input, CPU ({torch.get_num_threads()} '
        f'threads), {args.reps} interleaved repetitions after {args.warmup} '
        'warm-up steps each.\n\n'
        '| config | median ms | min ms | max ms |\n| --- | --- | --- | --- |\n'
        f'{rows}\n\n'
        'Time ratio integral_kl2 / detection, median of the per-repetition '
        f'ratios: **{ratio:.3f}** (ratio of medians {of_medians:.3f}, of '
        f'minima {of_minima:.3f}); limit {args.limit}: **{verdict}**. Load '
        f'average at the end of the run: {load[0]:.1f} (1 min), '
        f'{load[1]:.1f} (5 min) on {os.cpu_count()} cores.\n')
    print(md)
    if not args.no_report:
        write_section('train_iter', md)
    sys.exit(0 if verdict == 'PASS' else 1)


if __name__ == '__main__':
    main()
