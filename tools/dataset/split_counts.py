"""Print the difficulty-split counts of a COCO keypoint annotation file.

Example::

    python tools/dataset/split_counts.py \
        data/coco/annotations/person_keypoints_val2017.json
    python tools/dataset/split_counts.py --gt-format coco_wholebody_hand \
        data/coco/annotations/coco_wholebody_val_v1.0.json
"""
from __future__ import annotations

import argparse
import json
import os.path as osp
import sys

# the repository's mmipr, not an installed copy; splits.py and gt_formats.py
# need numpy only
sys.path.insert(0, osp.join(osp.dirname(__file__), '..', '..'))
from mmipr.evaluation.gt_formats import FORMAT_FACTORS, GT_FORMATS, HAND_NUM_KEYPOINTS, convert
from mmipr.evaluation.splits import split_counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('ann_file', help='COCO-format keypoint annotations')
    parser.add_argument('--num-keypoints', type=int, default=None,
                        help='K (default: inferred from the annotations; '
                        f'{HAND_NUM_KEYPOINTS} for coco_wholebody_hand)')
    parser.add_argument('--gt-format', choices=GT_FORMATS, default='coco',
                        help="the file's format, as the metric's gt_format: "
                        "'coco_wholebody_hand' counts the hands of a "
                        'COCO-WholeBody file (joints and size factors only)')
    parser.add_argument('--json', action='store_true',
                        help='print the counts as JSON')
    args = parser.parse_args()
    with open(args.ann_file) as f:
        anns = convert(json.load(f), args.gt_format)['annotations']
    num_keypoints = args.num_keypoints
    if num_keypoints is None and args.gt_format == 'coco_wholebody_hand':
        num_keypoints = HAND_NUM_KEYPOINTS
    counts = split_counts(anns, num_keypoints, FORMAT_FACTORS[args.gt_format])
    if args.json:
        print(json.dumps(counts, indent=2))
        return
    total = len(anns)
    what = 'hands' if args.gt_format == 'coco_wholebody_hand' else 'annotations'
    print(f'{args.ann_file}: {total} {what}, {counts["all"]} in the '
          'splits (not crowd, at least one labelled keypoint)')
    for name, n in counts.items():
        if name != 'all':
            print(f'  {name:<17}{n:>8}  {100 * n / max(counts["all"], 1):5.1f} %')


if __name__ == '__main__':
    main()
