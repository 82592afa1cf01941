"""Generate a synthetic person-keypoint dataset in COCO's layout.

Example::

    python tools/dataset/make_synthetic_coco.py data/synthetic_coco \\
        --num-train 800 --num-val 200 --seed 0

writes ``annotations/person_keypoints_{train,val}2017.json``,
``{train,val}2017/*.jpg`` and
``person_detection_results/synthetic_val2017_detections_person.json``, then
prints how the val instances fall into the paper's difficulty levels. The
code is :mod:`mmipr.datasets.generator_cli`.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))

from mmipr.datasets.generator_cli import main  # noqa: E402

if __name__ == '__main__':
    main()
