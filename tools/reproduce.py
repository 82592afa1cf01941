"""The paper's study on the synthetic dataset; writes docs/reproduction.md.

Trains the variants of the paper's Table 1 (detection sigma 2; integral
regression; integral + prior sigma 0.5, 1, 2, 3, 4) and Fig. 2(d) (detection
sigma 0.5, 1, 3) from ``configs/synthetic/`` (the paper's 64x48 heatmaps, one
recipe for all), ``--seeds`` seeds for detection, integral and integral +
prior sigma 2, every variant of a seed from the same initial weights: a
backbone pretrained once on a task neutral to both heads (person silhouettes,
``configs/synthetic/pretrain_r18_silhouette.py``; cached outside the clone)
under heads seeded identically. A detection run from scratch measures what
the pretraining is worth. Each is
validated every epoch with DifficultySplitCocoMetric on the dataset's
detected boxes, under the shared instance-scoring rule (box score) and under
each head's own keypoint scores; the analysis toolkit's heatmap statistics
run on each model. Writes the tables, figures, the convergence criterion of
every run and a claim-by-claim comparison with the paper to ``--doc``.

Finished runs are reused when everything that determines them is unchanged,
and a killed run resumes from its last finished epoch. Runs start in
priority order and none starts unless it is expected to finish within
``--budget`` minutes (the longest run so far as the estimate); those not run
are listed in the document. ``--reuse-only`` starts no run: it writes the
document from the runs already finished (a study cut short). One process at
a time may use a work dir. The library: :mod:`mmipr.study.study`.

    python tools/reproduce.py [--budget 120] [--seeds 2] [--epochs 10]
        [--pretrain-epochs 6] [--reuse-only]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmipr  # noqa: E402,F401  (makes MMPose importable, registers mmipr)
from mmipr.study.plan import MIN_STUDY_EPOCHS, StudySettings  # noqa: E402
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
        integer=True, low=MIN_STUDY_EPOCHS,
        hint='two lr drops, then the last quarter of training'), default=10,
        help='epochs per run (at least 4: two lr drops and a last quarter '
        'after them)')
    parser.add_argument('--pretrain-epochs', type=non_negative_int, default=6,
                        help='epochs of the neutral backbone pretraining '
                        '(0: none, every run from seeded weights alone)')
    parser.add_argument('--seeds', type=positive_int, default=2,
                        help='seeds of detection, integral, integral_kl2')
    parser.add_argument('--budget', type=cli_number(low=0), default=120,
                        help='minutes: no run starts that is not expected '
                        'to finish within them (pretraining included)')
    parser.add_argument('--reuse-only', action='store_true',
                        help='start no run: write the document from the runs '
                        'already finished (for a study cut short)')
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
            reuse_only=args.reuse_only, command=command))
    except (StudyError, InvalidArgumentError) as err:
        sys.exit(f'tools/reproduce.py: error: {err}')


if __name__ == '__main__':
    main()
