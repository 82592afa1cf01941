"""No number changes: the golden cases recorded before the restructure.

``tests/golden/golden_case.py`` holds the cases and recorded them at the
commit named in ``golden.json``. The metric's keys and both heads' decoding
must be equal bit for bit; the losses of the short seeded float32 training
within 1e-6 relative (float32 convolutions may differ in their last bits
between processors). The numbers guard the ledger's ``STUDY_VERSION``: when
they change, the version must be bumped (``golden_case.py record`` refuses
otherwise), so no ledger record is reused for code that computes other
numbers.
"""
import json
import math

import numpy as np
import pytest
from golden.golden_case import GOLDEN_JSON, GOLDEN_NPZ, decode_case, losses_case, metric_case


@pytest.fixture(scope='module')
def golden() -> dict:
    with open(GOLDEN_JSON) as f:
        return json.load(f)


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


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
    ours = metric_case()
    assert ours.keys() == golden['metric'].keys()
    for case, keys in golden['metric'].items():
        assert ours[case].keys() == keys.keys(), case
        changed = {k: (ours[case][k], v) for k, v in keys.items()
                   if not _same(ours[case][k], v)}
        assert not changed, (case, changed)


def test_decoding_unchanged():
    ours = decode_case()
    with np.load(GOLDEN_NPZ) as recorded:
        assert sorted(ours) == sorted(recorded.files)
        for name in recorded.files:
            np.testing.assert_array_equal(ours[name], recorded[name],
                                          err_msg=name)


def test_training_losses_unchanged(golden):
    ours = losses_case()
    assert ours.keys() == golden['losses'].keys()
    for variant, rows in golden['losses'].items():
        assert len(ours[variant]) == len(rows), variant
        for i, (got, want) in enumerate(zip(ours[variant], rows)):
            assert got.keys() == want.keys(), (variant, i)
            for key, value in want.items():
                assert got[key] == pytest.approx(value, rel=1e-6, abs=1e-12), \
                    (variant, i, key)
