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
cache fills during it) and times the second. The process is set up as a
training run of the config is: OpenCV on one thread (MMEngine's Runner) and
``GlibcMallocHook``. The ways alternate over
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
from typing import Optional

import torch

sys.path.insert(0, osp.dirname(__file__))
sys.path.insert(0, osp.join(osp.dirname(__file__), '..', '..'))

from bench_cpu_amp import CONFIG, REPO, build  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner import Runner  # noqa: E402
from mmengine.utils.dl_utils import set_multi_processing  # noqa: E402
from report import write_section  # noqa: E402

import mmipr  # noqa: E402,F401
from mmipr.engine import GlibcMallocHook  # noqa: E402
from mmipr.utils.validation import positive_int  # noqa: E402

WAYS = {  # name: (image loading transform, dataloader worker processes)
    'LoadImage, 2 workers': ('LoadImage', 2),
    'LoadImage, main process': ('LoadImage', 0),
    'CachedLoadImage, main process': ('CachedLoadImage', 0),
}


def timed_epoch(loader, model, optim_wrapper) -> tuple:
    """Seconds per iteration of one epoch: in all, and waiting for data."""
    waiting = 0.0
    start = time.perf_counter()
    batches = iter(loader)
    while True:
        t0 = time.perf_counter()
        data = next(batches, None)
        waiting += time.perf_counter() - t0
        if data is None:
            break
        model.train_step(data, optim_wrapper)
    return ((time.perf_counter() - start) / len(loader),
            waiting / len(loader))


def seconds_per_iteration(cfg: Config, load: str, num_workers: int,
                          instances: int) -> tuple:
    """Second-epoch seconds per iteration: in all, and waiting for data."""
    loader_cfg = cfg.train_dataloader.copy()
    pipeline = [dict(t, type=load) if t['type'] == 'CachedLoadImage' else t
                for t in loader_cfg.dataset.pipeline]
    loader_cfg.update(
        num_workers=num_workers, persistent_workers=num_workers > 0,
        dataset=dict(loader_cfg.dataset, pipeline=pipeline,
                     indices=instances))
    loader = Runner.build_dataloader(loader_cfg, seed=0)
    model, optim_wrapper = build(cfg, 'CPUAmpOptimWrapper', True)
    timed_epoch(loader, model, optim_wrapper)  # warm-up: workers, cache
    return timed_epoch(loader, model, optim_wrapper)


def parse_args(argv: Optional[list] = None) -> argparse.Namespace:
    """The command line, every number checked (mmipr.utils.validation)."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--instances', type=positive_int, default=1600,
                        help='people of the train split used (a prefix)')
    parser.add_argument('--rounds', type=positive_int, default=2)
    parser.add_argument('--no-report', action='store_true',
                        help='do not write docs/benchmarks.md')
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()

    init_default_scope('mmpose')
    # the process settings of a training run of the config: MMEngine's
    # Runner turns OpenCV's threads off, and the config's GlibcMallocHook
    set_multi_processing(opencv_num_threads=0, distributed=False)
    GlibcMallocHook().before_run()
    os.chdir(REPO)  # the config's data_root is relative to the repository
    cfg = Config.fromfile(CONFIG)
    if not osp.isdir(cfg.data_root):
        sys.exit(f'{cfg.data_root} not found; make it with: python '
                 'tools/dataset/make_synthetic_coco.py '
                 f'{cfg.data_root} --num-train 3000')
    times = {name: [] for name in WAYS}
    waits = {name: [] for name in WAYS}
    for r in range(args.rounds):
        names = list(WAYS) if r % 2 == 0 else list(reversed(WAYS))
        for name in names:
            total, waiting = seconds_per_iteration(
                cfg, *WAYS[name], args.instances)
            times[name].append(total)
            waits[name].append(waiting)
            print(f'round {r}: {name}: {total:.3f} s/iteration, '
                  f'{waiting:.3f} s waiting for data')

    base = times['LoadImage, 2 workers']
    rows = []
    for name, t in times.items():
        speedup = statistics.median(b / x for b, x in zip(base, t))
        rows.append(f'| {name} | {statistics.median(t):.3f} | '
                    f'{statistics.median(waits[name]):.3f} | '
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
        '| image loading | s per iteration (median) | of which waiting for '
        'data | speed-up (median of per-round ratios) |\n'
        '| --- | --- | --- | --- |\n' + '\n'.join(rows) +
        '\n\n'
        f'Load average at the end of the run: {load[0]:.1f} (1 min). With 2 '
        'cores, worker processes take CPU from the training step\'s two '
        'threads; in the main process, loading and the step take turns. '
        '`LoadImage` decodes an image once per person per epoch, '
        '`CachedLoadImage` once per run.\n')
    print(md)
    if not args.no_report:
        write_section('data_loading', md)


if __name__ == '__main__':
    main()
