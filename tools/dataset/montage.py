"""Draw a grid of COCO-keypoint images with their ground truth, as a PNG.

Skeleton links in white; keypoints green when visible (v=2), red when
occluded (v=1); boxes yellow (and, with ``--detections``, detection boxes
cyan with their scores). Works on any COCO person-keypoints file.

Example::

    python tools/dataset/montage.py data/synthetic_coco --split val \
        --num 12 --out synthetic_montage.png
"""
import argparse
import json
import os.path as osp
import sys

import cv2
import numpy as np

# this repo's mmipr, not an installed copy
sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))

VISIBLE, OCCLUDED = (80, 220, 80), (40, 40, 235)  # BGR


def draw_annotations(img: np.ndarray, anns: list, skeleton: list,
                     dets: list = ()) -> np.ndarray:
    """Return a copy of ``img`` with boxes, skeletons and keypoints drawn."""
    out = img.copy()
    for d in dets:
        x, y, w, h = (int(round(v)) for v in d['bbox'])
        cv2.rectangle(out, (x, y), (x + w, y + h), (255, 255, 0), 1)
        cv2.putText(out, f'{d["score"]:.2f}', (x + 2, y + 12),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1)
    for a in anns:
        x, y, w, h = (int(round(v)) for v in a['bbox'])
        cv2.rectangle(out, (x, y), (x + w, y + h), (0, 220, 255), 1)
        k = np.array(a['keypoints'], float).reshape(-1, 3)
        for i, j in skeleton:
            if k[i - 1, 2] > 0 and k[j - 1, 2] > 0:
                cv2.line(out, tuple(np.round(k[i - 1, :2]).astype(int)),
                         tuple(np.round(k[j - 1, :2]).astype(int)),
                         (255, 255, 255), 1, cv2.LINE_AA)
        for x_, y_, v in k:
            if v > 0:
                cv2.circle(out, (int(round(x_)), int(round(y_))), 3,
                           VISIBLE if v == 2 else OCCLUDED, -1, cv2.LINE_AA)
    return out


def make_montage(data_root: str, split: str = 'val', num: int = 12,
                 cols: int = 4, tile: int = 320, start: int = 0,
                 detections: bool = False) -> np.ndarray:
    """Grid of the first ``num`` images (from ``start``) of a split, each
    letterboxed into a ``tile`` x ``tile`` cell. Returns a BGR uint8 image."""
    ann_file = osp.join(data_root, 'annotations',
                        f'person_keypoints_{split}2017.json')
    if not osp.isfile(ann_file):
        raise FileNotFoundError(
            f'{ann_file} not found: generate the data first with '
            'tools/dataset/make_synthetic_coco.py')
    with open(ann_file) as f:
        coco = json.load(f)
    skeleton = coco['categories'][0]['skeleton']
    by_img = {}
    for a in coco['annotations']:
        by_img.setdefault(a['image_id'], []).append(a)
    dets_by_img = {}
    if detections:
        from mmipr.datasets import DETECTION_FILE
        with open(osp.join(data_root, DETECTION_FILE)) as f:
            for d in json.load(f):
                dets_by_img.setdefault(d['image_id'], []).append(d)
    images = coco['images'][start:start + num]
    rows = (len(images) + cols - 1) // cols
    grid = np.full((rows * tile, cols * tile, 3), 32, np.uint8)
    for n, info in enumerate(images):
        img = cv2.imread(osp.join(data_root, f'{split}2017', info['file_name']))
        img = draw_annotations(img, by_img.get(info['id'], []), skeleton,
                               dets_by_img.get(info['id'], []))
        s = tile / max(img.shape[:2])
        img = cv2.resize(img, (int(img.shape[1] * s), int(img.shape[0] * s)),
                         interpolation=cv2.INTER_AREA)
        r, c = divmod(n, cols)
        grid[r * tile:r * tile + img.shape[0],
             c * tile:c * tile + img.shape[1]] = img
    return grid


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('data_root', help='COCO-layout dataset root')
    parser.add_argument('--split', default='val', choices=('train', 'val'))
    parser.add_argument('--num', type=int, default=12)
    parser.add_argument('--cols', type=int, default=4)
    parser.add_argument('--tile', type=int, default=320)
    parser.add_argument('--start', type=int, default=0)
    parser.add_argument('--detections', action='store_true',
                        help='also draw the val detection-results boxes')
    parser.add_argument('--out', default='synthetic_montage.png')
    args = parser.parse_args()
    grid = make_montage(args.data_root, args.split, args.num, args.cols,
                        args.tile, args.start, args.detections)
    if not cv2.imwrite(args.out, grid):
        raise OSError(f'could not write {args.out}')
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
