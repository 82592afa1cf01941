"""DifficultySplitCocoMetric checks every argument (CocoMetric's and its
own) when it is built: a bad value fails at once with an error naming the
argument and the value, before the annotation file is loaded."""
import copy
import inspect
import json

import numpy as np
import pytest
import torch
from mmpose.evaluation import CocoMetric
from test_difficulty_metric import META, gt_box_samples, make_annotations

from mmipr.evaluation import DifficultySplitCocoMetric
from mmipr.utils.validation import InvalidArgumentError

NAN, INF = float('nan'), float('inf')

#: (argument, bad value): every argument of the metric at least once
BAD = [
    ('ann_file', 5),
    ('use_area', 'yes'), ('use_area', 1),
    ('iou_type', 'bbox'), ('iou_type', 'keypoints_wholebody'),
    ('score_mode', 'max'), ('score_mode', None),
    ('keypoint_score_thr', 2), ('keypoint_score_thr', -0.1),
    ('keypoint_score_thr', NAN), ('keypoint_score_thr', '0.2'),
    ('nms_mode', 'nms'),
    ('nms_thr', 1.5), ('nms_thr', -0.1), ('nms_thr', INF), ('nms_thr', None),
    ('format_only', 'no'),
    ('pred_converter', [17]), ('gt_converter', 'coco'),
    ('outfile_prefix', 3),
    ('collect_device', 'tpu'),
    ('prefix', 5),
    ('activation_s', -1), ('activation_s', 2.5), ('activation_s', 2.0),
    ('activation_s', '2'), ('activation_s', True),
    ('heatmap_normalization', 'softmax2'), ('heatmap_normalization', None),
    ('softmax_beta', 0), ('softmax_beta', -1.0), ('softmax_beta', NAN),
    ('softmax_beta', INF), ('softmax_beta', '1'),
    ('pairing', 'iou'),
    ('split_results_file', 3),
    ('eval_engine', 'pycoco'),
    ('gt_format', 'wholebody'), ('gt_format', None),
]
#: (argument, good values at the edges of the allowed ranges)
GOOD = [
    ('keypoint_score_thr', (0, 1, 0.2)), ('nms_thr', (0, 1.0, 0.9)),
    ('activation_s', (0, 5)), ('softmax_beta', (1e-3, 10)),
    ('heatmap_normalization', ('auto', 'softmax', 'sum', 'none')),
    ('pairing', ('auto', 'ann_id', 'oks')),
    ('eval_engine', ('auto', 'faster-coco-eval', 'xtcocotools')),
    ('score_mode', ('bbox', 'bbox_keypoint', 'bbox_rle', 'keypoint')),
    ('nms_mode', ('oks_nms', 'soft_oks_nms', 'none')),
    ('collect_device', ('cpu', 'gpu')),
    ('gt_format', ('coco',)),
]


@pytest.fixture(scope='module')
def ann_file(tmp_path_factory):
    path = tmp_path_factory.mktemp('coco') / 'ann.json'
    path.write_text(json.dumps(make_annotations()))
    return str(path)


def test_the_table_covers_every_argument():
    own = set(inspect.signature(DifficultySplitCocoMetric.__init__)
              .parameters) - {'self', 'args', 'kwargs'}
    inherited = set(inspect.signature(CocoMetric.__init__).parameters) - {
        'self'}
    assert {name for name, _ in BAD} == own | inherited


@pytest.mark.parametrize('name,value', BAD,
                         ids=[f'{n}={v!r}' for n, v in BAD])
def test_bad_value_names_the_argument(ann_file, name, value):
    kwargs = {'ann_file': ann_file, name: value}
    with pytest.raises(InvalidArgumentError) as err:
        DifficultySplitCocoMetric(**kwargs)
    message = str(err.value)
    assert f'DifficultySplitCocoMetric: {name} ' in message
    assert repr(value) in message


@pytest.mark.parametrize('name,values', GOOD, ids=[n for n, _ in GOOD])
def test_good_values_pass(ann_file, name, values):
    for value in values:
        metric = DifficultySplitCocoMetric(ann_file=ann_file, **{name: value})
        assert getattr(metric, name) == value


def test_positional_arguments_are_checked_too(ann_file):
    # CocoMetric's order: ann_file, use_area, iou_type, score_mode, ...
    with pytest.raises(InvalidArgumentError, match='score_mode'):
        DifficultySplitCocoMetric(ann_file, True, 'keypoints', 'max')
    with pytest.raises(InvalidArgumentError, match='unexpected keyword'):
        DifficultySplitCocoMetric(ann_file=ann_file, activation=2)


def test_format_only_needs_outfile_prefix(ann_file, tmp_path):
    with pytest.raises(InvalidArgumentError, match='format_only.*outfile_'):
        DifficultySplitCocoMetric(ann_file=ann_file, format_only=True)
    DifficultySplitCocoMetric(ann_file=ann_file, format_only=True,
                              outfile_prefix=str(tmp_path / 'r'))


def test_activation_window_against_the_heatmap_size(ann_file):
    """A window covering the whole heatmap around any keypoint in it would
    report A(s) = 1 for all of them: refused at the first heatmap."""
    samples = gt_box_samples(make_annotations())[:2]
    for s in samples:
        x, y, w, h = s['raw_ann_info']['bbox']
        s.update(pred_fields={'heatmaps': torch.rand(17, 8, 6)},
                 input_center=np.array([x + w / 2, y + h / 2]),
                 input_scale=np.array([w, h]), input_size=(48, 64))
    for s_value, ok in ((6, True), (7, False), (50, False)):
        metric = DifficultySplitCocoMetric(ann_file=ann_file,
                                           activation_s=s_value)
        metric.dataset_meta = copy.deepcopy(META)
        if ok:
            metric.process([], copy.deepcopy(samples))
            assert len(metric.results[0][0]['activation_sums']) == 1
        else:
            with pytest.raises(InvalidArgumentError,
                               match=f'activation_s .*got {s_value}.*6x8'):
                metric.process([], copy.deepcopy(samples))
