"""Print the difficulty-split counts of a COCO keypoint annotation file.

Example::

    python tools/dataset/split_counts.py \
        data/coco/annotations/person_keypoints_val2017.json
"""
from __future__ import annotations

import argparse
import json
import os.path as osp
import sys

# the repository's mmipr, not an installed copy; splits.py needs numpy only
sys.path.insert(0, osp.join(osp.dirname(__file__), '..', '..'))
from mmipr.evaluation.splits import split_counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('ann_file', help='COCO-format keypoint annotations')
    parser.add_argument('--num-keypoints', type=int, default=None,
                        help='K (default: inferred from the annotations)')
    parser.add_argument('--json', action='store_true',
                        help='print the counts as JSON')
    args = parser.parse_args()
    with open(args.ann_file) as f:
        anns = json.load(f)['annotations']
    counts = split_counts(anns, args.num_keypoints)
    if args.json:
        print(json.dumps(counts, indent=2))
        return
    total = len(anns)
    print(f'{args.ann_file}: {total} annotations, {counts["all"]} in the '
          'splits (not crowd, at least one labelled keypoint)')
    for name, n in counts.items():
        if name != 'all':
            print(f'  {name:<17}{n:>8}  {100 * n / max(counts["all"], 1):5.1f} %')


if __name__ == '__main__':
    main()
