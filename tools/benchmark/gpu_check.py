"""One-command check of mmipr's GPU paths (``make gpu-check``).

Without CUDA it says so and exits 0 at once. With CUDA (one machine, any
number of GPUs; under 8 minutes on one) it runs, in order:

1. the tests marked ``cuda`` (``tests/test_cuda.py``): decoding on CUDA
   equals the CPU's; one float16 ``AmpOptimWrapper`` training step of each
   head on SBL-R50 at 256x192 is finite and within tolerance of float32;
   ``tools/dist_train.sh`` with NCCL on the available GPUs for a few
   iterations of a synthetic config;
2. ``bench_decode.py --device cuda``;
3. a timed SBL-R50 256x192 batch-64 training iteration (``train_step``),
   detection against integral + sigma-2 prior, float32 and AMP (float16);

then prints a short table and writes the ``gpu`` section of
docs/benchmarks.md. Exit status 1 if any step failed.

Example::

    make gpu-check
    python tools/benchmark/gpu_check.py --reps 10
"""
from __future__ import annotations

import argparse
import os.path as osp
import statistics
import subprocess
import sys
import time
from typing import Optional

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(1, REPO)
from mmipr.utils.validation import non_negative_int, positive_int  # noqa: E402

#: the paper's two main variants at full size
R50_CONFIGS = dict(detection='configs/sbl_r50_detection.py',
                   integral_kl2='configs/sbl_r50_integral_kl2.py')


def build_r50(config: str, device: str, amp: bool) -> tuple:
    """An SBL-R50 model of ``config`` (random weights: no download) on
    ``device`` in train mode, with the config's optimizer, wrapped by
    MMEngine's ``AmpOptimWrapper`` (float16) when ``amp``.

    Args:
        config (str): config path relative to the repository.
        device (str): e.g. ``'cuda'``.
        amp (bool): float16 autocast with a dynamic loss scaler.

    Returns:
        tuple: (model, optim_wrapper).
    """
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmpose.registry import MODELS

    import mmipr  # noqa: F401
    cfg = Config.fromfile(osp.join(REPO, config))
    cfg.model.backbone.init_cfg = None  # ImageNet weights: not needed here
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.to(device).train()
    wrapper = dict(cfg.optim_wrapper)
    if amp:
        wrapper = dict(type='AmpOptimWrapper', dtype='float16',
                       optimizer=wrapper['optimizer'])
    return model, build_optim_wrapper(model, wrapper)


def r50_batch(config: str, batch: int, seed: int = 0) -> dict:
    """Random packed inputs (images, heatmap targets, keypoint labels) at
    ``config``'s input and heatmap sizes."""
    import numpy as np
    import torch
    from mmengine.config import Config
    from mmpose.testing import get_packed_inputs
    codec = Config.fromfile(osp.join(REPO, config)).codec
    w, h = codec['input_size']
    torch.manual_seed(seed)
    np.random.seed(seed)
    return get_packed_inputs(
        batch_size=batch, img_shape=(h, w), input_size=(w, h),
        heatmap_size=codec['heatmap_size'], with_simcc_label=False)


def time_train_steps(batch: int, reps: int, warmup: int) -> list:
    """Median and minimum ms of one ``train_step`` per (config, precision),
    the four variants interleaved within each repetition.

    Returns:
        list: (config name, precision, median ms, min ms).
    """
    import torch
    variants = {}
    for name, config in R50_CONFIGS.items():
        data = r50_batch(config, batch)
        for precision in ('fp32', 'amp'):
            model, wrapper = build_r50(config, 'cuda', precision == 'amp')
            variants[name, precision] = (model, wrapper, data, [])
    for rep in range(warmup + reps):
        for (model, wrapper, data, times) in variants.values():
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            model.train_step(data, wrapper)
            torch.cuda.synchronize()
            if rep >= warmup:
                times.append((time.perf_counter() - t0) * 1e3)
    return [(name, precision, statistics.median(t), min(t))
            for (name, precision), (_, _, _, t) in variants.items()]


def run_step(label: str, cmd: list, timeout: int) -> tuple:
    """Run one step; (label, ok, seconds, last output lines)."""
    print(f'== {label}: {" ".join(cmd)}', flush=True)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=REPO, timeout=timeout, text=True,
                              stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
        ok, out = proc.returncode == 0, proc.stdout
    except subprocess.TimeoutExpired as e:
        ok, out = False, f'timed out after {timeout} s\n{e.stdout or ""}'
    print(out[-3000:], flush=True)
    return label, ok, time.perf_counter() - t0, out


def parse_args(argv: Optional[list] = None) -> argparse.Namespace:
    """The command line, every number checked (mmipr.utils.validation)."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch', type=positive_int, default=64)
    parser.add_argument('--reps', type=positive_int, default=10)
    parser.add_argument('--warmup', type=non_negative_int, default=3)
    parser.add_argument('--no-write', action='store_true',
                        help='do not update docs/benchmarks.md')
    return parser.parse_args(argv)


def main() -> int:
    args = parse_args()

    import torch
    if not torch.cuda.is_available():
        print('gpu-check: CUDA is absent (torch.cuda.is_available() is '
              'False): nothing to check; exit 0.')
        return 0

    start = time.perf_counter()
    steps = [run_step('tests marked cuda', [
        sys.executable, '-m', 'pytest', '-q', '-m', 'cuda', '-p',
        'no:cacheprovider', 'tests/test_cuda.py'], 300)]
    decode = run_step('bench_decode.py --device cuda', [
        sys.executable, osp.join(HERE, 'bench_decode.py'), '--device',
        'cuda', '--no-write'], 120)
    steps.append(decode)
    print('== train_step timing (SBL-R50 256x192, batch '
          f'{args.batch})', flush=True)
    t0 = time.perf_counter()
    try:
        timings = time_train_steps(args.batch, args.reps, args.warmup)
        steps.append(('train_step timing', True, time.perf_counter() - t0,
                      ''))
    except Exception as e:  # report it with the rest
        timings = []
        steps.append(('train_step timing', False, time.perf_counter() - t0,
                      repr(e)))
        print(repr(e))

    device = torch.cuda.get_device_name(0)
    n = torch.cuda.device_count()
    md = ['## GPU check (`make gpu-check`)', '',
          (f'{n} x {device}, torch {torch.__version__}, CUDA '
           f'{torch.version.cuda}; total {time.perf_counter() - start:.0f} s.'),
          '', '| step | result | s |', '| --- | --- | --- |']
    md += [f'| {label} | {"pass" if ok else "FAIL"} | {s:.0f} |'
           for label, ok, s, _ in steps]
    if timings:
        base = {p: med for name, p, med, _ in timings if name == 'detection'}
        md += ['', (f'One `train_step` of SBL-R50 at 256x192, batch '
                    f'{args.batch}, random weights and inputs, '
                    f'{args.reps} interleaved repetitions after '
                    f'{args.warmup} warm-up steps:'), '',
               '| config | precision | median ms | min ms | / detection |',
               '| --- | --- | --- | --- | --- |']
        md += [f'| `{R50_CONFIGS[name]}` | {p} | {med:.1f} | {mn:.1f} | '
               f'{med / base[p]:.3f} |' for name, p, med, mn in timings]
    # bench_decode's report from its first table on (tables, targets and
    # the DARK profile)
    lines = decode[3].splitlines()
    first = next((i for i, ln in enumerate(lines) if ln.startswith('|')),
                 None)
    if first is not None:
        md += ['', 'Decoding on CUDA (`bench_decode.py --device cuda`):', '',
               *lines[first:]]
    text = '\n'.join(md)
    print(text)
    if not args.no_write:
        from report import write_section
        write_section('gpu', text)
    return 0 if all(ok for _, ok, _, _ in steps) else 1


if __name__ == '__main__':
    sys.exit(main())
