"""Generate a synthetic person-keypoint dataset in COCO's layout.

Example::

    python tools/dataset/make_synthetic_coco.py data/synthetic_coco \
        --num-train 800 --num-val 200 --seed 0

writes ``annotations/person_keypoints_{train,val}2017.json``,
``{train,val}2017/*.jpg`` and
``person_detection_results/synthetic_val2017_detections_person.json``, then
prints how the val instances fall into the paper's difficulty levels.
"""
import argparse
import os.path as osp
import sys
import time

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))

from mmipr.datasets import SceneConfig, format_difficulty_table, generate_synthetic_coco  # noqa: E402
from mmipr.utils.validation import cli_number, positive_int  # noqa: E402

#: an argparse type for the image counts of a split
split_size = cli_number(integer=True, low=1, hint='an empty split cannot be '
                        'trained or evaluated on')


def parse_args(argv=None):
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


def main(argv=None):
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


if __name__ == '__main__':
    main()
