"""Training iterations with CachedLoadImage in the main process vs MMPose's
LoadImage in worker processes, on the learnability config.

Times whole training iterations (next batch from MMEngine's dataloader, then
``train_step`` with the config's bfloat16 wrapper and channels-last weights)
of ``configs/synthetic/learnability_r18_detection.py`` on the first
``--instances`` people of its train split, three ways:

- ``LoadImage``, 2 worker processes (the loading of MMPose's configs);
- ``LoadImage``, main process (``num_workers=0``);
- ``CachedLoadImage``, main process (the config's loading).

Each way builds a fresh dataloader and model, runs one epoch to warm up (the
cache fills during it) and times the second. The ways alternate over
``--rounds`` rounds (order reversed every other one); the speed-up of each is
the median over rounds of (LoadImage, 2 workers) time / its time.

Needs the data: python tools/dataset/make_synthetic_coco.py
data/synthetic_coco_3k --num-train 3000

Usage:
    python tools/benchmark/bench_data_loading.py [--instances 1600] [--rounds 2] [--no-report]
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import statistics
import sys
import time

import torch

sys.path.insert(0, osp.dirname(__file__))
sys.path.insert(0, osp.join(osp.dirname(__file__), '..', '..'))

from bench_cpu_amp import CONFIG, REPO, build  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner import Runner  # noqa: E402
from report import write_section  # noqa: E402

import mmipr  # noqa: E402,F401

WAYS = {  # name: (image loading transform, dataloader worker processes)
    'LoadImage, 2 workers': ('LoadImage', 2),
    'LoadImage, main process': ('LoadImage', 0),
    'CachedLoadImage, main process': ('CachedLoadImage', 0),
}


def seconds_per_iteration(cfg: Config, load: str, num_workers: int,
                          instances: int) -> float:
    """Mean time of the second epoch's training iterations."""
    loader_cfg = cfg.train_dataloader.copy()
    pipeline = [dict(t, type=load) if t['type'] == 'CachedLoadImage' else t
                for t in loader_cfg.dataset.pipeline]
    loader_cfg.update(
        num_workers=num_workers, persistent_workers=num_workers > 0,
        dataset=dict(loader_cfg.dataset, pipeline=pipeline,
                     indices=instances))
    loader = Runner.build_dataloader(loader_cfg, seed=0)
    model, optim_wrapper = build(cfg, 'CPUAmpOptimWrapper', True)
    for data in loader:  # warm-up epoch: worker start, cache filling
        model.train_step(data, optim_wrapper)
    t0 = time.perf_counter()
    for data in loader:
        model.train_step(data, optim_wrapper)
    return (time.perf_counter() - t0) / len(loader)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--instances', type=int, default=1600,
                        help='people of the train split used (a prefix)')
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--no-report', action='store_true',
                        help='do not write docs/benchmarks.md')
    args = parser.parse_args()

    init_default_scope('mmpose')
    os.chdir(REPO)  # the config's data_root is relative to the repository
    cfg = Config.fromfile(CONFIG)
    if not osp.isdir(cfg.data_root):
        sys.exit(f'{cfg.data_root} not found; make it with: python '
                 'tools/dataset/make_synthetic_coco.py '
                 f'{cfg.data_root} --num-train 3000')
    times = {name: [] for name in WAYS}
    for r in range(args.rounds):
        names = list(WAYS) if r % 2 == 0 else list(reversed(WAYS))
        for name in names:
            times[name].append(
                seconds_per_iteration(cfg, *WAYS[name], args.instances))
            print(f'round {r}: {name}: {times[name][-1]:.3f} s/iteration')

    base = times['LoadImage, 2 workers']
    rows = []
    for name, t in times.items():
        speedup = statistics.median(b / x for b, x in zip(base, t))
        rows.append(f'| {name} | {statistics.median(t):.3f} | '
                    f'{speedup:.2f}x |')
    load = os.getloadavg()
    md = (
        '## Training iterations: CachedLoadImage in the main process\n\n'
        f'Whole training iterations (next batch, then `train_step` in '
        f'bfloat16 with channels-last weights) of `{CONFIG}`, batch '
        f'{cfg.train_dataloader.batch_size}, on the first {args.instances} '
        f'people of its train split; {torch.get_num_threads()} torch threads, '
        f'{os.cpu_count()} CPU cores. Each way: a fresh dataloader and model, '
        'one warm-up epoch, then the second epoch timed; '
        f'{args.rounds} alternating rounds.\n\n'
        '| image loading | s per iteration (median) | speed-up (median of '
        'per-round ratios) |\n| --- | --- | --- |\n' + '\n'.join(rows) +
        '\n\n'
        f'Load average at the end of the run: {load[0]:.1f} (1 min). With 2 '
        'cores, worker processes take CPU from the training step\'s two '
        'threads; in the main process, loading and the step take turns. '
        'A top-down sample decodes its whole image, once per person, and '
        'the cache decodes each image once.\n')
    print(md)
    if not args.no_report:
        write_section('data_loading', md)


if __name__ == '__main__':
    main()
