"""Commit the trained model of a finished study run to ``weights/``.

Takes the final checkpoint of a study run (``tools/reproduce.py``) of seed 0
of detection, integral or integral + prior sigma 2, checks that it is the
model of the run's ledger record (re-evaluated on the study's val split it
must give the record's metrics), and writes ``weights/<variant>_seed0.pth``
(float16) with its record: the run, the metrics of the stored weights on the
full val split and on its first 20 images (what
``tests/test_trained_weights.py`` re-evaluates), the command and the commit.
The library: :func:`mmipr.study.trained.commit_trained`.

    python tools/commit_trained.py RUN_ID CHECKPOINT [--data-root DIR]
        [--ledger DIR] [--weights-dir DIR]

e.g. ``python tools/commit_trained.py detection_seed0
work_dirs/study/detection_seed0/epoch_40.pth``.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmipr  # noqa: E402,F401  (makes MMPose importable, registers mmipr)
from mmipr.study.committed_weights import WEIGHTS_DIR  # noqa: E402
from mmipr.study.ledger import LEDGER_DIR, SOURCE_ROOT, Ledger, source_commit  # noqa: E402
from mmipr.study.trained import commit_trained  # noqa: E402
from mmipr.utils.errors import PreflightError  # noqa: E402
from mmipr.utils.validation import InvalidArgumentError  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('run_id', help='the run\'s ledger id, e.g. '
                        'detection_seed0')
    parser.add_argument('checkpoint', help='its final checkpoint')
    parser.add_argument('--data-root', default='data/synthetic_coco_3k',
                        help='the study\'s dataset (its val split is '
                        're-evaluated)')
    parser.add_argument('--ledger', default=osp.join(SOURCE_ROOT, LEDGER_DIR))
    parser.add_argument('--weights-dir',
                        default=osp.join(SOURCE_ROOT, WEIGHTS_DIR))
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    command = ' '.join(['python', 'tools/commit_trained.py']
                       + (sys.argv[1:] if argv is None else list(argv)))
    try:
        record = commit_trained(
            args.run_id, args.checkpoint, Ledger(args.ledger),
            args.weights_dir, args.data_root, command=command,
            commit=source_commit())
    except (InvalidArgumentError, PreflightError, FileNotFoundError) as err:
        sys.exit(f'tools/commit_trained.py: error: {err}')
    final = record['final']
    print(f"wrote {osp.join(args.weights_dir, record['variant'])}_seed"
          f"{record['seed']}.pth ({record['size'] / 2**20:.1f} MiB, "
          f"sha256 {record['sha256'][:12]}): AP {final['coco/AP']:.3f} "
          f"(the run's record: {record['ledger_final']['coco/AP']:.3f}), "
          f"AP on the first {record['val_check']['num_images']} val images "
          f"{record['val_check']['metrics']['coco/AP']:.3f}")


if __name__ == '__main__':
    main()
