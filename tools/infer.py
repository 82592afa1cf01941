"""Predict poses on an image with an mmipr model and draw the latent heatmap.

    python tools/infer.py CONFIG CHECKPOINT IMAGE [--bboxes X1 Y1 X2 Y2 ...]
        [--out vis.png] [--no-heatmap] [--kpt-thr 0] [--device cpu]

Boxes are given (four numbers each, image pixels); without them the whole
image is one box (mmcv-lite has no detector ops: see mmipr/apis/inference.py).
The drawing shows the keypoints over the image and, below, the head's
heatmap over the image: the normalised h~ for IntegralHead, the heatmap for
ArgmaxHead. The predictions are printed as JSON.
"""
import argparse
import json
import os.path as osp
import sys

# From a source checkout, run the mmipr beside this script.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmipr.apis import infer_with_boxes, init_inferencer  # noqa: E402
from mmipr.utils.validation import cli_number  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='pose model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('image', help='image file')
    parser.add_argument(
        '--bboxes', nargs='+', type=cli_number(), metavar='X1 Y1 X2 Y2',
        help='person boxes, four numbers each (default: the whole image)')
    parser.add_argument('--out', help='file to draw the prediction into')
    parser.add_argument('--no-heatmap', action='store_true',
                        help='draw the keypoints only')
    parser.add_argument(
        '--kpt-thr', type=cli_number(low=0.0), default=0.0,
        help='hide keypoints scoring at most this (default 0: draw all)')
    parser.add_argument('--device', default='cpu', help='torch device')
    args = parser.parse_args(argv)
    if args.bboxes is not None and len(args.bboxes) % 4:
        parser.error(f'--bboxes takes four numbers per box (x1 y1 x2 y2), '
                     f'got {len(args.bboxes)} numbers')
    for path in (args.config, args.checkpoint, args.image):
        if not osp.isfile(path):
            parser.error(f'file not found: {path}')
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    inferencer = init_inferencer(args.config, args.checkpoint, args.device)
    pred = infer_with_boxes(
        inferencer, args.image,
        None if args.bboxes is None else [
            args.bboxes[i:i + 4] for i in range(0, len(args.bboxes), 4)],
        draw_heatmap=not args.no_heatmap, out_file=args.out,
        kpt_thr=args.kpt_thr).pred_instances
    print(json.dumps([
        dict(bbox=b.tolist(), keypoints=k.tolist(), keypoint_scores=s.tolist())
        for b, k, s in zip(pred.bboxes, pred.keypoints, pred.keypoint_scores)
    ]))
    if args.out:
        print(f'wrote {args.out}', file=sys.stderr)


if __name__ == '__main__':
    main()
