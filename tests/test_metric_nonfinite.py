"""One rule for non-finite keypoint and box scores on both evaluation
engines: they count as 0 (mmipr.evaluation.predictions, docs/metric.md).
Numbers are compared within 1e-12 (COCO summaries of the two engines may
differ in the last bit, as in test_metric_engines).

References: MMPose's CocoMetric on the same predictions with those scores
set to 0 (always defined), and CocoMetric on the predictions as they are
wherever it is defined, i.e. wherever the instance scores it computes are
finite.
"""
import contextlib
import copy
import io
import json

import numpy as np
import pytest
from mmpose.evaluation import CocoMetric
from test_difficulty_metric import (
    META,
    detected_box_samples,
    gt_box_samples,
    make_annotations,
    run_metric,
)

from mmipr.evaluation import DifficultySplitCocoMetric, predictions

ENGINES = ('faster-coco-eval', 'xtcocotools')
COCO_KEYS = ('AP', 'AP .5', 'AP .75', 'AP (M)', 'AP (L)', 'AR', 'AR .5',
             'AR .75', 'AR (M)', 'AR (L)')


@pytest.fixture(scope='module')
def coco(tmp_path_factory):
    coco_json = make_annotations()
    path = tmp_path_factory.mktemp('coco') / 'ann.json'
    path.write_text(json.dumps(coco_json))
    return str(path), coco_json


def corrupt(samples, case: str, seed: int = 0):
    """Some scores set to NaN/inf; (samples, number of keypoint scores,
    number of box scores changed)."""
    rng = np.random.default_rng(seed)
    out = copy.deepcopy(samples)
    n_kpt = n_box = 0
    for i, s in enumerate(out):
        p = s['pred_instances']
        kpt = p['keypoint_scores']
        if case in ('kpt_some_nan', 'kpt_some_neg_inf', 'kpt_some_pos_inf'):
            bad = rng.uniform(size=kpt.shape) < 0.3
            kpt[bad] = {'kpt_some_nan': np.nan, 'kpt_some_neg_inf': -np.inf,
                        'kpt_some_pos_inf': np.inf}[case]
            n_kpt += int(bad.sum())
        if case in ('kpt_all_nan', 'all_nan') and i % 2 == 0:
            kpt[:] = np.nan
            n_kpt += kpt.size
        if case in ('box_nan', 'all_nan') and i % 3 == 0:
            p['bbox_scores'] = np.full_like(p['bbox_scores'], np.nan)
            n_box += p['bbox_scores'].size
    return out, n_kpt, n_box


def zeroed(samples):
    out = copy.deepcopy(samples)
    for s in out:
        for key in ('keypoint_scores', 'bbox_scores'):
            v = s['pred_instances'][key]
            s['pred_instances'][key] = np.where(np.isfinite(v), v, 0).astype(
                v.dtype)
    return out


def coco_metric(ann_file, samples, score_mode, tmp_path):
    """CocoMetric's keys, and whether its instance scores were finite."""
    prefix = str(tmp_path / f'ref{np.random.randint(1 << 30)}')
    out = run_metric(CocoMetric(ann_file=ann_file, score_mode=score_mode,
                                outfile_prefix=prefix), samples)
    with open(f'{prefix}.keypoints.json') as f:
        scores = [r['score'] for r in json.load(f)]  # json reads NaN
    return out, bool(np.isfinite(scores).all())


def warnings_of(monkeypatch) -> list:
    lines = []
    real = predictions.print_log

    def record(msg, *args, **kwargs):
        lines.append(str(msg))
        return real(msg, *args, **kwargs)
    monkeypatch.setattr(predictions, 'print_log', record)
    return lines


@pytest.mark.parametrize('boxes', ['gt', 'detected'])
@pytest.mark.parametrize('score_mode', ['bbox_keypoint', 'bbox', 'keypoint'])
@pytest.mark.parametrize('case', ['kpt_some_nan', 'kpt_all_nan',
                                  'kpt_some_neg_inf', 'kpt_some_pos_inf',
                                  'box_nan', 'all_nan'])
def test_nonfinite_scores_count_as_zero_on_both_engines(
        coco, case, score_mode, boxes, tmp_path, monkeypatch):
    ann_file, coco_json = coco
    clean = (gt_box_samples if boxes == 'gt' else detected_box_samples)(
        coco_json)
    samples, n_kpt, n_box = corrupt(clean, case)
    logs = warnings_of(monkeypatch)
    ours = {e: run_metric(DifficultySplitCocoMetric(
        ann_file=ann_file, eval_engine=e, score_mode=score_mode), samples)
        for e in ENGINES}
    # one answer, every key
    fast, xt = ours['faster-coco-eval'], ours['xtcocotools']
    assert fast.keys() == xt.keys()
    for key, value in xt.items():
        assert abs(fast[key] - value) <= 1e-9, key
    # the rule: as if those scores were 0
    ref, _ = coco_metric(ann_file, zeroed(samples), score_mode, tmp_path)
    for key in COCO_KEYS:
        assert fast[f'coco/{key}'] == pytest.approx(ref[f'coco/{key}'],
                                                     abs=1e-12), key
    # CocoMetric itself, wherever its instance scores are finite
    as_is, defined = coco_metric(ann_file, samples, score_mode, tmp_path)
    if defined:
        for key in COCO_KEYS:
            assert fast[f'coco/{key}'] == pytest.approx(
                as_is[f'coco/{key}'], abs=1e-12), key
    # a NaN keypoint score is never above the threshold: CocoMetric defined
    if case in ('kpt_some_nan', 'kpt_all_nan', 'kpt_some_neg_inf') and (
            score_mode != 'keypoint'):
        assert defined
    warned = [ln for ln in logs if 'not finite' in ln]
    assert len(warned) == 2  # once per evaluation
    assert (f'{n_kpt} keypoint score(s) and {n_box} box score(s)'
            in warned[0])


@pytest.mark.parametrize('boxes', ['gt', 'detected'])
def test_issue_case_nan_keypoint_scores(coco, boxes, tmp_path):
    """The reported case: all keypoint scores NaN, finite keypoints, default
    settings: CocoMetric's AP on both engines (before: 0.15 or 0.1256 on
    faster-coco-eval against 0.0)."""
    ann_file, coco_json = coco
    samples = (gt_box_samples if boxes == 'gt' else detected_box_samples)(
        coco_json)
    for s in samples:
        s['pred_instances']['keypoint_scores'][:] = np.nan
    ref, defined = coco_metric(ann_file, samples, 'bbox_keypoint', tmp_path)
    assert defined
    for engine in ENGINES:
        out = run_metric(DifficultySplitCocoMetric(
            ann_file=ann_file, eval_engine=engine), samples)
        for key in COCO_KEYS:
            assert out[f'coco/{key}'] == pytest.approx(
                ref[f'coco/{key}'], abs=1e-12), (engine, key)


def test_predictions_without_positive_keypoint_score(coco, tmp_path):
    """xtcocotools' COCOeval (and so CocoMetric) does not evaluate a
    prediction none of whose keypoint scores is > 0; faster-coco-eval does
    unless the engine leaves it out. Finite scores, no NaN involved."""
    ann_file, coco_json = coco
    samples = detected_box_samples(coco_json)
    for s in samples[::3]:
        s['pred_instances']['keypoint_scores'][:] = 0.0
    for s in samples[1::7]:
        s['pred_instances']['keypoint_scores'][:] = -0.5
    for score_mode in ('bbox', 'bbox_keypoint'):
        ref, defined = coco_metric(ann_file, samples, score_mode, tmp_path)
        assert defined
        outs = {e: run_metric(DifficultySplitCocoMetric(
            ann_file=ann_file, eval_engine=e, score_mode=score_mode),
            samples) for e in ENGINES}
        for key in COCO_KEYS:
            for engine, out in outs.items():
                assert out[f'coco/{key}'] == pytest.approx(
                    ref[f'coco/{key}'], abs=1e-12), (score_mode, engine, key)
        for key, value in outs['xtcocotools'].items():
            assert abs(outs['faster-coco-eval'][key] - value) <= 1e-9, key


def test_scores_zeroed_once_and_counted_again(coco):
    """Evaluating the same processed results twice counts the non-finite
    scores of the first pass again and changes no number."""
    ann_file, coco_json = coco
    samples, n_kpt, n_box = corrupt(gt_box_samples(coco_json), 'all_nan')
    metric = DifficultySplitCocoMetric(ann_file=ann_file)
    metric.dataset_meta = copy.deepcopy(META)
    metric.process([], copy.deepcopy(samples))
    results = list(metric.results)
    with contextlib.redirect_stdout(io.StringIO()):
        first = metric.compute_metrics(results)
        assert predictions.zero_nonfinite_scores([p for p, _ in results]) == {
            'keypoint_scores': n_kpt, 'bbox_scores': n_box}
        again = metric.compute_metrics(results)
    assert again == first
