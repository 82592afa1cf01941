"""Time ArgmaxHead's batched decoding against MMPose's HeatmapHead decoding.

MMPose's path is ``HeatmapHead.decode`` itself: the batch copied to numpy,
then ``MSRAHeatmap.decode`` once per instance. mmipr's path is
``ArgmaxHead.decode``: the whole batch on its device, one copy of the
keypoints to numpy. Both produce the same list of ``InstanceData``. Rounds
of the two paths alternate and the median per path is reported, so a busy
machine slows both alike.

Example::

    python tools/benchmark/bench_decode.py               # writes docs/benchmarks.md
    python tools/benchmark/bench_decode.py --device cuda --no-write
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import platform
import statistics
import sys
import time
from typing import Optional

import cv2
import torch

sys.path.insert(0, osp.dirname(__file__))
sys.path.insert(0, osp.join(osp.dirname(__file__), '..', '..'))

from mmpose.registry import MODELS  # noqa: E402
from report import write_section  # noqa: E402

import mmipr  # noqa: E402,F401  (first: makes mmpose importable, registers)
from mmipr.heatmap.decode import decode_argmax  # noqa: E402
from mmipr.utils.validation import positive_int  # noqa: E402


def torch_device(text: str) -> str:
    """An ``argparse`` type: a device name torch accepts."""
    try:
        return str(torch.device(text))
    except RuntimeError:
        raise argparse.ArgumentTypeError(
            f"expected a torch device such as 'cpu' or 'cuda:0', got "
            f'{text!r}') from None


def parse_args(argv: Optional[list] = None) -> argparse.Namespace:
    """The command line, every number checked (mmipr.utils.validation)."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--instances', type=positive_int, default=256)
    parser.add_argument('--keypoints', type=positive_int, default=17)
    parser.add_argument(
        '--heatmap-size', type=positive_int, nargs=2, default=(48, 64),
        metavar=('W', 'H'))
    parser.add_argument('--repeats', type=positive_int, default=11)
    parser.add_argument('--device', type=torch_device, default='cpu')
    parser.add_argument(
        '--threads', type=positive_int, default=1,
        help='CPU threads for torch and OpenCV alike (default 1: stable '
        'timings on a shared machine)')
    parser.add_argument(
        '--no-write', action='store_true',
        help='print the table without writing docs/benchmarks.md')
    return parser.parse_args(argv)


def trained_like(B: int, K: int, H: int, W: int) -> torch.Tensor:
    """A Gaussian (sigma 2, amplitude 0.1-1.1) per map plus noise 0.01."""
    g = torch.Generator().manual_seed(0)
    centre = torch.rand(B, K, 2, 1, 1, generator=g) * torch.tensor(
        [W - 1., H - 1.]).view(2, 1, 1)
    xs = torch.arange(W, dtype=torch.float32)
    ys = torch.arange(H, dtype=torch.float32)[:, None]
    d2 = (xs - centre[:, :, 0])**2 + (ys - centre[:, :, 1])**2
    amp = 0.1 + torch.rand(B, K, 1, 1, generator=g)
    return amp * torch.exp(-d2 / 8) + 0.01 * torch.randn(
        B, K, H, W, generator=g)


def build_heads(head_type: str, K: int, heatmap_size, unbiased: bool):
    W, H = heatmap_size
    return MODELS.build(
        {
            'type': head_type,
            'in_channels': K,
            'out_channels': K,
            'deconv_out_channels': None,
            'decoder': {
                'type': 'MSRAHeatmap',
                'input_size': (4 * W, 4 * H),
                'heatmap_size': (W, H),
                'sigma': 2,
                'unbiased': unbiased}})


def timed(fn, device: torch.device) -> float:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    fn()
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
    return (time.perf_counter() - t0) * 1e3


def bench(heatmaps: torch.Tensor, unbiased: bool, repeats: int) -> dict:
    """Median ms of each path, alternating rounds."""
    K = heatmaps.shape[1]
    size = heatmaps.shape[-1], heatmaps.shape[-2]
    mmpose = build_heads('HeatmapHead', K, size, unbiased)
    ours = build_heads('ArgmaxHead', K, size, unbiased)
    paths = {
        'MMPose HeatmapHead.decode': lambda: mmpose.decode(heatmaps),
        'mmipr ArgmaxHead.decode': lambda: ours.decode(heatmaps),
        'mmipr decode_argmax (tensors only)': lambda: decode_argmax(
            heatmaps, unbiased, 11),
        # Any decoder reads every value once; on a CPU this read bounds the
        # speed-up that any implementation can reach.
        'floor: one read of the heatmaps (amax)': lambda: heatmaps.amax(
            dim=(-2, -1)),
    }
    times = {name: [] for name in paths}
    for fn in paths.values():  # warm-up
        fn()
    for _ in range(repeats):
        for name, fn in paths.items():
            times[name].append(timed(fn, heatmaps.device))
    return {name: statistics.median(t) for name, t in times.items()}


#: (heatmaps, decoding) -> most ArgmaxHead.decode may take, in floors
TARGETS = {('trained-like (Gaussian + noise)', 'plain'): 2.0,
           ('trained-like (Gaussian + noise)', 'DARK'): 3.0,
           ('noise N(0, 1)', 'DARK'): 5.0}
FLOOR = 'floor: one read of the heatmaps (amax)'
HEAD = 'mmipr ArgmaxHead.decode'


def measure(args) -> dict:
    """(heatmaps, decoding, path) -> median ms, in this process."""
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    device = torch.device(args.device)
    W, H = args.heatmap_size
    B, K = args.instances, args.keypoints
    inputs = {
        'trained-like (Gaussian + noise)': trained_like(B, K, H, W),
        'noise N(0, 1)': torch.randn(
            B, K, H, W, generator=torch.Generator().manual_seed(0)),
    }
    out = {}
    for data_name, heatmaps in inputs.items():
        heatmaps = heatmaps.to(device)
        for mode, unbiased in (('plain', False), ('DARK', True)):
            for name, ms in bench(heatmaps, unbiased, args.repeats).items():
                out[data_name, mode, name] = ms
    return out


def dark_profile(args) -> list:
    """Median ms of the stages of DARK decoding (mmipr.heatmap.decode),
    interleaved with the floor, per kind of heatmaps: the rows of a table."""
    from mmipr.heatmap import decode

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    W, H = args.heatmap_size
    B, K = args.instances, args.keypoints
    kernel = decode.gaussian_kernel1d(11, device=device)
    rows = []
    for data_name, heatmaps in (
            ('trained-like', trained_like(B, K, H, W)),
            ('noise N(0, 1)', torch.randn(
                B, K, H, W, generator=torch.Generator().manual_seed(0)))):
        heatmaps = heatmaps.to(device)
        locs, _ = decode.get_heatmap_maximum(heatmaps)
        x, y = locs.long().unbind(-1)
        reach = 2 + 11 // 2
        values = decode._blur_around(heatmaps, x, y, kernel,
                                     decode._DARK_OFFSETS)
        inside = (x > 1) & (x < W - 2) & (y > 1) & (y < H - 2)
        full = inside & (values.amin(-1) < 2e-10)
        stages = {
            'floor: one read of the heatmaps (amax)':
                lambda: heatmaps.amax(dim=(-2, -1)),
            'maximum and its first index (get_heatmap_maximum)':
                lambda: decode.get_heatmap_maximum(heatmaps),
            f'{2 * reach + 1}x{2 * reach + 1} windows around it (_patches)':
                lambda: decode._patches(heatmaps, x, y, reach),
            'windows + blur at the 13 offsets (_blur_around)':
                lambda: decode._blur_around(heatmaps, x, y, kernel,
                                            decode._DARK_OFFSETS),
            (f'modulation scale, whole-map blur of the {int(full.sum())} '
             f'of {full.numel()} maps the clamp may bite '
             '(_modulation_scale)'):
                lambda: decode._modulation_scale(heatmaps, full, kernel),
            'refine_keypoints_dark (all of the above but the maximum)':
                lambda: decode.refine_keypoints_dark(locs, heatmaps, kernel),
        }
        times = {name: [] for name in stages}
        for fn in stages.values():
            fn()
        for _ in range(args.repeats):
            for name, fn in stages.items():
                times[name].append(timed(fn, device))
        floor = statistics.median(times[next(iter(stages))])
        for name, t in times.items():
            ms = statistics.median(t)
            rows.append(f'| {data_name} | {name} | {ms:.2f} | '
                        f'{ms / floor:.2f} |')
    return rows


def main() -> None:
    args = parse_args()
    load_start = os.getloadavg()[0]
    times = measure(args)
    rows = []
    for (data_name, mode, name), ms in times.items():
        base = times[data_name, mode, 'MMPose HeatmapHead.decode']
        floor = times[data_name, mode, FLOOR]
        rows.append(f'| {data_name} | {mode} | {name} | {ms:.2f} | '
                    f'{base / ms:.1f}x | {ms / floor:.2f} |')
    verdicts = []
    for (data_name, mode), limit in TARGETS.items():
        ratio = times[data_name, mode, HEAD] / times[data_name, mode, FLOOR]
        verdicts.append(
            f'{mode} on {data_name.split(" (")[0]} maps: {ratio:.2f}x the '
            f'floor, target <= {limit:g}x: '
            f'**{"met" if ratio <= limit else "not met"}**')
    if args.device.startswith('cuda'):
        where = torch.cuda.get_device_name(torch.device(args.device))
    else:
        where = (f'CPU ({platform.processor() or platform.machine()}), '
                 f'{args.threads} thread(s) for torch and OpenCV')
    W, H = args.heatmap_size
    md = '\n'.join([
        '## Decoding: ArgmaxHead vs MMPose HeatmapHead',
        '',
        (f'{args.instances} instances x {args.keypoints} heatmaps of {H}x{W}, '
         'MSRAHeatmap codec (DARK: `unbiased=True`, `blur_kernel_size=11`); '
         f'device: {where}; {os.cpu_count()} CPU cores, 1-minute load '
         f'average {load_start:.1f} at the start and '
         f'{os.getloadavg()[0]:.1f} at the end; median of {args.repeats} '
         "alternating rounds. MMPose's path is `HeatmapHead.decode` (numpy "
         'copy, then `MSRAHeatmap.decode` per instance); `ArgmaxHead.decode` '
         'returns the same `InstanceData` list. Speed-up = MMPose time / '
         'time. The floor row times a single read of the heatmaps (a '
         'maximum per map), the least work any decoder does; "x floor" = '
         'time / floor time.'),
        '',
        '| heatmaps | decoding | path | ms | speed-up | x floor |',
        '| --- | --- | --- | --- | --- | --- |',
        *rows,
        '',
        'Targets (`ArgmaxHead.decode`):',
        '',
        *(f'- {v}' for v in verdicts),
    ])
    md += '\n'.join([
        '', '', 'Where DARK\'s time goes (alternating rounds, as above):', '',
        '| heatmaps | stage | ms | x floor |', '| --- | --- | --- | --- |',
        *dark_profile(args)])
    print(md)
    if not args.no_write:
        write_section('decode', md)


if __name__ == '__main__':
    main()
