"""Wall time of one short study run against its pure training steps.

Trains one study run (the study's detection config: ResNet-18 at half width,
128x96 input, 64x48 heatmaps, batch 32, its recipe, validation and
evaluators) through the study's own path, on a synthetic dataset generated
if absent, and prints in one run the wall time, the pure-step time
(``train_step``) and their ratio, then where the rest went (set-up, waiting
for batches, validation, checkpoints and hooks). The study's target is a
ratio of at most 1.1. The library: :func:`mmipr.study.benchmark.
measure_study_run`.

    python tools/benchmark/bench_study_run.py [--data-root DIR]
        [--num-train 320] [--num-val 64] [--epochs 3]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))

import mmipr  # noqa: E402,F401  (makes MMPose importable, registers mmipr)
from mmipr.datasets import ensure_synthetic_coco  # noqa: E402
from mmipr.study.benchmark import measure_study_run  # noqa: E402
from mmipr.utils.validation import cli_number, positive_int  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', default='data/synthetic_coco_bench')
    parser.add_argument('--num-train', type=positive_int, default=320)
    parser.add_argument('--num-val', type=positive_int, default=64)
    parser.add_argument('--epochs', type=cli_number(
        integer=True, low=3, hint='two lr drops and an epoch after them'),
        default=3)
    args = parser.parse_args(argv)
    ensure_synthetic_coco(args.data_root, num_train=args.num_train,
                          num_val=args.num_val, seed=0, workers=2)
    m = measure_study_run(args.data_root, epochs=args.epochs)
    print(f"wall {m['wall']:.1f} s, pure steps {m['steps']:.1f} s "
          f"({m['iterations']} iterations incl. validation), "
          f"ratio {m['ratio']:.2f}x")
    rest = ', '.join(f"{k[len('phase_'):]} {v:.1f} s"
                     for k, v in m.items() if k.startswith('phase_')
                     and k != 'phase_steps')
    print(f'the rest: {rest}')


if __name__ == '__main__':
    main()
