"""The main job: detection vs integral regression vs integral + prior, compared.

Generates the synthetic dataset if absent, trains the three variants of
``configs/synthetic/`` on the CPU with the study's recipe and geometry
(``tools/reproduce.py``: 64x48 heatmaps, a backbone pretrained on person
silhouettes under identically seeded heads as every variant's starting
weights, MMPose's schedule shape: a warm-up, lr x0.1 at 170/210 and 200/210
of training), fewer epochs and less data, evaluates each with
DifficultySplitCocoMetric on the dataset's detected boxes (instances ranked
by box score, the same rule for every head), prints one comparison table and
the study's saturation criterion (not judged: the demo trains no T/2 runs),
and writes PNGs
(convergence, per-difficulty bars, the same easy and hard instances as each
variant sees them) to ``--work-dir``. Finished runs with the same settings
are reused from the work dir; the demo writes no ledger records (docs/ is
left as it is). The pretrained backbone comes from ``weights/`` when a
committed one matches, else from the cache. The library:
:mod:`mmipr.study.demo` (the study's set-up and training path).

    python tools/demo.py [--epochs N] [--pretrain-epochs N] [--num-train N]
        [--work-dir DIR]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmipr  # noqa: E402,F401  (makes MMPose importable, registers mmipr)
from mmipr.study.demo import DEMO_DEFAULTS, run_demo  # noqa: E402
from mmipr.study.plan import StudySettings  # noqa: E402
from mmipr.study.workdir import StudyError  # noqa: E402
from mmipr.utils.validation import InvalidArgumentError, non_negative_int, positive_int  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', default=DEMO_DEFAULTS['data_root'],
                        help='synthetic dataset (generated if absent)')
    parser.add_argument('--work-dir', default=DEMO_DEFAULTS['work_dir'])
    parser.add_argument('--num-train', type=positive_int,
                        default=DEMO_DEFAULTS['num_train'],
                        help='train images to generate')
    parser.add_argument('--num-val', type=positive_int,
                        default=DEMO_DEFAULTS['num_val'],
                        help='val images to generate')
    parser.add_argument('--epochs', type=positive_int,
                        default=DEMO_DEFAULTS['epochs'])
    parser.add_argument('--pretrain-epochs', type=non_negative_int,
                        default=DEMO_DEFAULTS['pretrain_epochs'],
                        help='epochs of the neutral backbone pretraining, '
                        'cached in $MMIPR_CACHE or ~/.cache/mmipr (0: none)')
    parser.add_argument('--seed', type=non_negative_int, default=0)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    settings = dict(DEMO_DEFAULTS, data_root=args.data_root,
                    work_dir=args.work_dir, num_train=args.num_train,
                    num_val=args.num_val, epochs=args.epochs,
                    pretrain_epochs=args.pretrain_epochs, first_seed=args.seed,
                    command=' '.join(['python', 'tools/demo.py']
                                     + sys.argv[1:]))
    try:
        run_demo(StudySettings(**settings))
    except (StudyError, InvalidArgumentError) as err:
        sys.exit(f'tools/demo.py: error: {err}')


if __name__ == '__main__':
    main()
