"""The command line of the synthetic dataset generator
(``tools/dataset/make_synthetic_coco.py``): flags checked when parsed, then
:func:`~mmipr.datasets.synthetic_coco.generate_synthetic_coco`.
"""
import argparse
import time
from typing import List, Optional

from mmipr.utils.validation import cli_number, positive_int

from .synthetic_coco import format_difficulty_table, generate_synthetic_coco
from .synthetic_scene import SceneConfig

#: an argparse type for the image counts of a split
split_size = cli_number(integer=True, low=1, hint='an empty split cannot be '
                        'trained or evaluated on')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """The generator's flags, checked (argparse exits with 2 naming a bad
    one, before anything is written).

    Args:
        argv (list[str], optional): the arguments; default ``sys.argv``.

    Returns:
        argparse.Namespace: the parsed flags.
    """
    parser = argparse.ArgumentParser(
        description='Generate a synthetic COCO-format person-keypoint dataset '
        'whose difficulty (joints present, occlusion, box size) is controlled.')
    parser.add_argument('out_dir', help='dataset root to write')
    parser.add_argument('--num-train', type=split_size, default=800,
                        help='train images, at least 1 (default: 800)')
    parser.add_argument('--num-val', type=split_size, default=200,
                        help='val images, at least 1 (default: 200)')
    parser.add_argument('--seed', type=cli_number(integer=True, low=0), default=0,
                        help='dataset seed (default: 0)')
    parser.add_argument('--workers', type=positive_int, default=2,
                        help='worker processes (default: 2)')
    parser.add_argument('--min-size', type=int, default=256,
                        help='smallest image side in pixels (default: 256)')
    parser.add_argument('--max-size', type=int, default=640,
                        help='largest image side in pixels (default: 640)')
    parser.add_argument('--max-people', type=positive_int, default=4,
                        help='people per image are 1..N (default: 4)')
    parser.add_argument('--jpeg-quality', default=90,
                        type=cli_number(integer=True, low=0, high=100),
                        help='JPEG quality, 0-100 (default: 90)')
    parser.add_argument('--no-progress', action='store_true',
                        help='do not show progress bars')
    args = parser.parse_args(argv)
    if not 64 <= args.min_size <= args.max_size:
        parser.error('need 64 <= --min-size <= --max-size '
                     f'(got {args.min_size}, {args.max_size})')
    return args


def main(argv: Optional[List[str]] = None) -> None:
    """Generate the dataset the flags ask for and print its counts.

    Args:
        argv (list[str], optional): the arguments; default ``sys.argv``.
    """
    args = parse_args(argv)
    cfg = SceneConfig(min_size=args.min_size, max_size=args.max_size,
                      max_people=args.max_people)
    t0 = time.time()
    stats = generate_synthetic_coco(
        args.out_dir, num_train=args.num_train, num_val=args.num_val,
        seed=args.seed, workers=args.workers, progress=not args.no_progress,
        cfg=cfg, jpeg_quality=args.jpeg_quality)
    print(f'wrote {args.out_dir} in {time.time() - t0:.1f} s')
    for split, s in stats.items():
        print(f'{split}: {s["images"]} images, {s["instances"]} instances '
              f'({s["instances_with_keypoints"]} with keypoints)'
              + (f', {s["detections"]} detections' if split == 'val' else ''))
    print('\nval difficulty (instances with keypoints):')
    print(format_difficulty_table(stats['val']['difficulty']))

