"""The main job: trained detection vs integral regression vs integral +
prior, and how far minutes of training get against them.

Generates the study's synthetic dataset if absent (about a minute), then

(a) evaluates the study's committed trained models (``weights/<variant>_seed0.pth``:
    detection, integral regression, integral + prior sigma 2, seed 0) on its
    val split with DifficultySplitCocoMetric on the detected boxes
    (instances ranked by box score, the same rule for every head), prints
    the trained-regime table (AP, AP e/m, AP hard, EPE and A(2) per split),
    the saturation statement of their runs from the committed ledger
    (``docs/study/runs``: AP at T against AP at T/2), and draws the heatmaps
    of an easy and a hard instance per variant and A(s) against s;
(b) trains the same three variants briefly with the study's recipe (64x48
    heatmaps, MMPose's schedule shape: a warm-up, lr x0.1 at 170/210 and
    200/210 of training) from the committed backbone, and prints how far
    they get against the trained models.

PNGs go to ``--work-dir``. Finished brief runs with the same settings are
reused from the work dir; the demo writes no ledger records and no weights
(``docs/`` and ``weights/`` are left as they are). The library:
:mod:`mmipr.study.demo`.

    python tools/demo.py [--epochs N] [--train-instances N] [--work-dir DIR]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmipr  # noqa: E402,F401  (makes MMPose importable, registers mmipr)
from mmipr.study.committed_weights import WEIGHTS_DIR  # noqa: E402
from mmipr.study.demo import DEMO_DEFAULTS, DEMO_TRAIN_INSTANCES, TRAIN_INDICES, run_demo  # noqa: E402
from mmipr.study.ledger import SOURCE_ROOT  # noqa: E402
from mmipr.study.plan import StudySettings  # noqa: E402
from mmipr.study.workdir import StudyError  # noqa: E402
from mmipr.utils.validation import InvalidArgumentError, cli_number, non_negative_int, positive_int  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', default=DEMO_DEFAULTS['data_root'],
                        help='synthetic dataset (generated if absent)')
    parser.add_argument('--work-dir', default=DEMO_DEFAULTS['work_dir'])
    parser.add_argument('--num-train', type=positive_int,
                        default=DEMO_DEFAULTS['num_train'],
                        help='train images to generate (the study\'s '
                        'number: its committed backbone is used)')
    parser.add_argument('--num-val', type=positive_int,
                        default=DEMO_DEFAULTS['num_val'],
                        help='val images to generate')
    parser.add_argument('--epochs', type=cli_number(
        integer=True, low=3, hint='two lr drops and an epoch after them'),
        default=DEMO_DEFAULTS['epochs'], help='epochs of the brief runs')
    parser.add_argument('--train-instances', type=positive_int,
                        default=DEMO_TRAIN_INSTANCES,
                        help='train instances of the brief runs (the first '
                        'N people of the train split)')
    parser.add_argument('--pretrain-epochs', type=non_negative_int,
                        default=DEMO_DEFAULTS['pretrain_epochs'],
                        help='epochs of the neutral backbone pretraining, '
                        'cached in $MMIPR_CACHE or ~/.cache/mmipr (0: none)')
    parser.add_argument('--seed', type=non_negative_int, default=0)
    parser.add_argument('--weights-dir',
                        default=osp.join(SOURCE_ROOT, WEIGHTS_DIR),
                        help='committed weights: the trained models and the '
                        'pretrained backbone')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    settings = dict(DEMO_DEFAULTS, data_root=args.data_root,
                    work_dir=args.work_dir, num_train=args.num_train,
                    num_val=args.num_val, epochs=args.epochs,
                    pretrain_epochs=args.pretrain_epochs, first_seed=args.seed,
                    cfg_options={TRAIN_INDICES: args.train_instances},
                    weights_dir=args.weights_dir,
                    command=' '.join(['python', 'tools/demo.py']
                                     + sys.argv[1:]))
    try:
        run_demo(StudySettings(**settings))
    except (StudyError, InvalidArgumentError) as err:
        sys.exit(f'tools/demo.py: error: {err}')


if __name__ == '__main__':
    main()
