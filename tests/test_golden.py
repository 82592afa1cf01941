"""No number changes: the golden cases recorded before the restructure.

``tests/golden/golden_case.py`` holds the cases, recorded them at the commit
named in ``golden.json`` on the processor it names, and says what counts as
a change (``metric_changes``, ``decode_changes``, ``loss_changes``: exact
keys and integers, floats within float32's differences between processors). The numbers guard
the ledger's ``STUDY_VERSION``: when they change, the version must be bumped
(``golden_case.py record`` refuses otherwise), so no ledger record is reused
for code that computes other numbers.
"""
import json

import numpy as np
import pytest
from golden.golden_case import (
    GOLDEN_JSON,
    GOLDEN_NPZ,
    decode_case,
    decode_changes,
    loss_changes,
    losses_case,
    metric_case,
    metric_changes,
)


@pytest.fixture(scope='module')
def golden() -> dict:
    with open(GOLDEN_JSON) as f:
        return json.load(f)


def test_recorded_under_the_current_study_version(golden):
    """Numbers recorded under another version: the ledger's keys would not
    say what changed. ``golden_case.py record`` refuses to record changed
    numbers under an unchanged version."""
    from mmipr.study.ledger import STUDY_VERSION
    assert golden['study_version'] == STUDY_VERSION, (
        'tests/golden was recorded under study version '
        f"{golden['study_version']}, the code says {STUDY_VERSION}: record "
        'it again (python tests/golden/golden_case.py record)')


def test_metric_keys_unchanged(golden):
    assert metric_changes(metric_case(), golden['metric']) == []


def test_decoding_unchanged():
    with np.load(GOLDEN_NPZ) as recorded:
        assert decode_changes(decode_case(), recorded) == []


def test_training_losses_unchanged(golden):
    assert loss_changes(losses_case(), golden['losses']) == []


def test_a_change_above_float32_noise_is_one():
    """The comparison itself: processor-level differences pass, a change
    of the code's size does not."""
    rows = {'v': [dict(loss=0.25, acc_pose=0.5)]}
    assert loss_changes({'v': [dict(loss=0.25 * (1 + 2e-6), acc_pose=0.5)]},
                        rows) == []
    assert loss_changes({'v': [dict(loss=0.25 * (1 + 1e-3), acc_pose=0.5)]},
                        rows)
    assert loss_changes({'v': [dict(loss=0.25, acc_pose=0.75)]}, rows)
    metric = {'gt': {'coco/AP': 0.5, 'coco/count': 7}}
    assert metric_changes({'gt': {'coco/AP': 0.5 + 1e-9, 'coco/count': 7}},
                          metric) == []
    assert metric_changes({'gt': {'coco/AP': 0.5001, 'coco/count': 7}},
                          metric)
    assert metric_changes({'gt': {'coco/AP': 0.5, 'coco/count': 8}}, metric)
    kpts = np.array([[10.0, 20.0]])
    assert decode_changes({'argmax/keypoints': kpts + 1e-5},
                          {'argmax/keypoints': kpts}) == []
    assert decode_changes({'argmax/keypoints': kpts + 0.01},
                          {'argmax/keypoints': kpts})
    assert decode_changes({'argmax_dark/keypoints': kpts + 0.01},
                          {'argmax_dark/keypoints': kpts}) == []
    assert decode_changes({'argmax_dark/keypoints': kpts + 0.2},
                          {'argmax_dark/keypoints': kpts})
