"""Compare the neutral starts of the study; writes docs/starts.md.

For each start (scratch; the study's silhouette pretraining; the same
trained longer; the same on a larger train split of another seed; the
body-part segmentation pretraining) pretrains the backbone once (cached, as
the study's), fine-tunes detection and integral regression (seed 0) from it
with one short recipe (the study's runs, reused when finished), and writes a
table of the pretraining's cost and final loss and both heads' AP. The
defaults are the measurement (about 50 minutes of 2 CPU cores); the flags
shrink it. The library: :mod:`mmipr.study.starts`.

    python tools/analysis/compare_starts.py [--finetune-epochs 3]
        [--long-epochs 10] [--pretrain-images 5000] [--starts scratch parts]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))

import mmipr  # noqa: E402,F401  (makes MMPose importable, registers mmipr)
from mmipr.study.starts import STARTS, StartsSettings, compare_starts  # noqa: E402
from mmipr.study.workdir import StudyError  # noqa: E402
from mmipr.utils.validation import InvalidArgumentError, non_negative_int, positive_int  # noqa: E402

DEFAULTS = StartsSettings()


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', default=DEFAULTS.data_root,
                        help='the study\'s dataset (generated if absent)')
    parser.add_argument('--num-train', type=positive_int,
                        default=DEFAULTS.num_train)
    parser.add_argument('--num-val', type=positive_int,
                        default=DEFAULTS.num_val)
    parser.add_argument('--pretrain-root', default=DEFAULTS.pretrain_root,
                        help='the larger pretraining split of '
                        'silhouette_more (generated if absent)')
    parser.add_argument('--pretrain-images', type=positive_int,
                        default=DEFAULTS.pretrain_images)
    parser.add_argument('--pretrain-seed', type=non_negative_int,
                        default=DEFAULTS.pretrain_seed)
    parser.add_argument('--pretrain-epochs', type=positive_int,
                        default=DEFAULTS.pretrain_epochs,
                        help='epochs of silhouette, silhouette_more, parts')
    parser.add_argument('--long-epochs', type=positive_int,
                        default=DEFAULTS.long_epochs,
                        help='epochs of silhouette_long')
    parser.add_argument('--finetune-epochs', type=positive_int,
                        default=DEFAULTS.finetune_epochs)
    parser.add_argument('--seed', type=non_negative_int,
                        default=DEFAULTS.seed)
    parser.add_argument('--starts', nargs='+', choices=STARTS,
                        default=list(STARTS))
    parser.add_argument('--work-dir', default=DEFAULTS.work_dir)
    parser.add_argument('--cache-dir', default=None,
                        help='the pretrainings\' cache (default: the '
                        'study\'s, MMIPR_CACHE)')
    parser.add_argument('--doc', default=DEFAULTS.doc)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    command = ' '.join(['python', 'tools/analysis/compare_starts.py']
                       + (sys.argv[1:] if argv is None else list(argv)))
    try:
        compare_starts(StartsSettings(
            data_root=args.data_root, num_train=args.num_train,
            num_val=args.num_val, pretrain_root=args.pretrain_root,
            pretrain_images=args.pretrain_images,
            pretrain_seed=args.pretrain_seed,
            pretrain_epochs=args.pretrain_epochs,
            long_epochs=args.long_epochs,
            finetune_epochs=args.finetune_epochs, seed=args.seed,
            starts=tuple(args.starts), work_dir=args.work_dir,
            cache_dir=args.cache_dir, doc=args.doc, command=command))
    except (StudyError, InvalidArgumentError) as err:
        sys.exit(f'tools/analysis/compare_starts.py: error: {err}')
    print(f'wrote {args.doc}')


if __name__ == '__main__':
    main()
