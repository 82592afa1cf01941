"""The paper's study on the synthetic dataset; writes docs/reproduction.md.

Trains the variants of the paper's Table 1 (detection sigma 2; integral
regression; integral + prior sigma 0.5, 1, 2, 3, 4) and Fig. 2(d) (detection
sigma 0.5, 1, 3) from ``configs/synthetic/`` (the paper's 64x48 heatmaps, one
recipe for all), ``--seeds`` seeds for detection, integral and integral +
prior sigma 2, and beyond the paper integral regression with Gu et al.
2021's debiasing, with DSNT's Jensen-Shannon prior (sigma 2) and with
MMPose's debias formula plus the KL prior, every variant of a seed from the
same initial weights: a
backbone pretrained once on a task neutral to both heads (the body parts of
each person, ``configs/synthetic/pretrain_r18_parts.py``; committed under
``weights/``) under heads seeded identically. A detection run from scratch measures what
the pretraining is worth. Each is
validated with DifficultySplitCocoMetric on the dataset's
detected boxes, under the shared instance-scoring rule (box score) and under
each head's own keypoint scores; the analysis toolkit's heatmap statistics
run on each model. Writes the tables, figures, the saturation criterion of
each main variant and a claim-by-claim comparison with the paper to
``--doc``.

Every run uses MMPose's schedule shape (a linear warm-up, lr x0.1 at 170/210
and 200/210 of training) and is validated about 10 times. Every finished run
writes one record to the ledger (``--ledger``, default ``docs/study/runs``,
committed to the repo): its settings key, commit, validation curve, final
metrics under both scoring rules per split, heatmap and instance statistics,
gradient ratios and times. The study reads the ledger first: a record whose
settings key matches (config after inheritance, data file contents, starting
weights, the study version) is reused on any machine and in any clone; a
stale one (another key) is named in the document and retrained. The
document is written from the records alone. For detection, integral and
integral + prior sigma 2 a run of T // 2 epochs decides whether T saturated
(AP at T at most 5 % above AP at T/2, or within the seed spread); with
their T // 4 runs and a 2T run of detection (the study's last) they give AP
against training length, set against the target regime (detection AP >=
0.5, AP e/m >= 0.7). The pretrained backbone is taken from ``weights/`` when its committed record's
settings key matches (``--commit-weights`` writes a retrained one there,
and the trained seed-0 models of detection, integral and integral + prior
sigma 2 at T: :func:`mmipr.study.trained.commit_trained`).

Runs start in priority order and none starts unless it is expected to
finish within ``--budget`` minutes (its epochs at the median minutes per
epoch so far as the estimate); those not run are listed in the document. A
killed run resumes from its last finished epoch. ``--reuse-only`` trains
nothing: it writes the document from the ledger alone. One process at a
time may use a work dir. The library: :mod:`mmipr.study.study`.

    python tools/reproduce.py [--budget 120] [--seeds 2] [--epochs 10]
        [--pretrain-epochs 6] [--reuse-only] [--variants detection ...]
        [--ledger DIR] [--weights-dir DIR] [--commit-weights]
        [--no-half-runs] [--no-length-runs]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmipr  # noqa: E402,F401  (makes MMPose importable, registers mmipr)
from mmipr.study.committed_weights import WEIGHTS_DIR  # noqa: E402
from mmipr.study.ledger import LEDGER_DIR, SOURCE_ROOT  # noqa: E402
from mmipr.study.plan import MIN_EPOCHS_HINT, MIN_STUDY_EPOCHS, StudySettings, variant_names  # noqa: E402
from mmipr.study.study import run_study  # noqa: E402
from mmipr.study.workdir import StudyError  # noqa: E402
from mmipr.utils.validation import InvalidArgumentError, cli_number, non_negative_int, positive_int  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', default='data/synthetic_coco_3k')
    parser.add_argument('--work-dir', default='work_dirs/study')
    parser.add_argument('--doc', default='docs/reproduction.md')
    parser.add_argument('--num-train', type=positive_int, default=3000)
    parser.add_argument('--num-val', type=positive_int, default=200)
    parser.add_argument('--epochs', type=cli_number(
        integer=True, low=MIN_STUDY_EPOCHS, hint=MIN_EPOCHS_HINT),
        default=10,
        help=f'epochs T per run (at least {MIN_STUDY_EPOCHS}: two lr drops '
        'and an epoch after them; T // 2 >= 3 for the saturation pairs)')
    parser.add_argument('--pretrain-epochs', type=non_negative_int, default=6,
                        help='epochs of the neutral backbone pretraining '
                        '(0: none, every run from seeded weights alone)')
    parser.add_argument('--seeds', type=positive_int, default=2,
                        help='seeds of detection, integral, integral_kl2')
    parser.add_argument('--budget', type=cli_number(low=0), default=120,
                        help='minutes: no run starts that is not expected '
                        'to finish within them (pretraining included)')
    parser.add_argument('--reuse-only', action='store_true',
                        help='train nothing: write the document from the '
                        'ledger\'s current records alone')
    parser.add_argument('--ledger', default=osp.join(SOURCE_ROOT, LEDGER_DIR),
                        help='the ledger\'s folder (one JSON record per '
                        'finished run)')
    parser.add_argument('--weights-dir',
                        default=osp.join(SOURCE_ROOT, WEIGHTS_DIR),
                        help='committed weights (the pretrained backbone)')
    parser.add_argument('--commit-weights', action='store_true',
                        help='write a (re)trained backbone, and the model '
                        'of each finished seed-0 run of detection, integral '
                        'and integral_kl2 at T, to --weights-dir (NAME.pth + '
                        'NAME.json)')
    parser.add_argument('--variants', nargs='+', metavar='VARIANT',
                        choices=variant_names(),
                        help='train only these variants (default: all)')
    parser.add_argument('--no-half-runs', action='store_true',
                        help='plan no T // 2 runs (no saturation verdicts)')
    parser.add_argument('--no-length-runs', action='store_true',
                        help='plan no T // 4 and 2T runs (no AP against '
                        'training length beyond T // 2 and T)')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    command = ' '.join(['python', 'tools/reproduce.py']
                       + (sys.argv[1:] if argv is None else list(argv)))
    try:
        run_study(StudySettings(
            data_root=args.data_root, work_dir=args.work_dir, doc=args.doc,
            num_train=args.num_train, num_val=args.num_val,
            epochs=args.epochs, pretrain_epochs=args.pretrain_epochs,
            seeds=args.seeds, budget=args.budget,
            reuse_only=args.reuse_only, command=command,
            ledger_dir=args.ledger, weights_dir=args.weights_dir,
            commit_weights=args.commit_weights,
            variants=tuple(args.variants) if args.variants else None,
            half_runs=not args.no_half_runs,
            length_runs=not args.no_length_runs))
    except (StudyError, InvalidArgumentError) as err:
        sys.exit(f'tools/reproduce.py: error: {err}')


if __name__ == '__main__':
    main()
