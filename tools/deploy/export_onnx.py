"""Export a top-down pose model to ONNX with its decoding included.

    python tools/deploy/export_onnx.py CONFIG CHECKPOINT [--output FILE]
        [--batch-size B] [--opset 18] [--cfg-options KEY=VALUE ...]

The graph takes the normalised crop ``inputs`` (B, 3, h, w) and returns
``keypoints`` (B, K, 2) in input pixels, ``keypoint_scores`` (B, K) (A(s)
for IntegralHead, the heatmap maximum for ArgmaxHead) and ``heatmaps``
(B, K, H, W). See docs/deploy.md and :mod:`mmipr.deploy.onnx`.
"""
import argparse
import os.path as osp
import sys

# From a source checkout, run the mmipr beside this script.
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

from mmengine.config import DictAction  # noqa: E402

import mmipr  # noqa: F401,E402  (registers mmipr, makes MMPose importable)
from mmipr.deploy import export_onnx_from_config  # noqa: E402
from mmipr.utils.validation import positive_int  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--output', help='ONNX file to write (default: the checkpoint path '
        'with .onnx)')
    parser.add_argument('--batch-size', type=positive_int, default=1,
                        help='batch size of the graph (fixed; default 1)')
    parser.add_argument('--opset', type=positive_int, default=18,
                        help='ONNX opset version (default 18)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, as MMPose\'s tools')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    path = export_onnx_from_config(
        args.config, args.checkpoint, args.output,
        batch_size=args.batch_size, opset_version=args.opset,
        cfg_options=args.cfg_options)
    print(f'wrote {path}')


if __name__ == '__main__':
    main()
