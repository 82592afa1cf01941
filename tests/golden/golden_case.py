"""The fixed cases of the no-number-change golden test (``test_golden.py``).

Recorded once by ``python tests/golden/golden_case.py record`` at a stated
commit (``golden.json`` says which); the test recomputes every case and
compares them (:func:`metric_changes`, :func:`decode_changes`,
:func:`loss_changes`): keys, counts and integers exactly, floating
numbers within what float32 arithmetic differs by between processors (other
vector widths sum in another order). Measured on an AVX-512/AMX Xeon against
the AVX2 recording: the metric's values within 1e-6 relative (seen: 2e-8),
decoded keypoints within 1e-5 relative (seen: 4e-7), the losses of the short
seeded float32 training within 1e-5 relative (seen: 1.4e-6 after three
steps). DARK on the case's noise heatmaps is ill-conditioned (its Newton step
on the log of near-flat maps turns 1e-7 into 1e-2 px: seen 0.027 px), so its
keypoints get 0.05 px; a real change of its decoding moves them by tenths.

The cases:

- ``metric``: every key of DifficultySplitCocoMetric on the fixed prediction
  sets of ``test_difficulty_metric`` (ground-truth boxes with heatmaps, so
  A(s) and EPE are covered; detected boxes), on both evaluation engines;
- ``decode``: keypoints and scores of IntegralHead and ArgmaxHead (plain and
  DARK) decoding fixed random heatmaps;
- ``losses``: every loss term at each of the first iterations of detection,
  integral and integral + sigma 2 (the synthetic configs) on a tiny generated
  dataset, float32 on one thread, no augmentation randomness left to chance
  (seeded runner).
"""
from __future__ import annotations

import copy
import json
import math
import os
import os.path as osp
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(HERE))
sys.path.insert(0, osp.dirname(HERE))  # tests/, for the metric fixtures

GOLDEN_JSON = osp.join(HERE, 'golden.json')
GOLDEN_NPZ = osp.join(HERE, 'golden.npz')
LOSS_ITERS = 4
VARIANTS = ('sbl_r18_detection', 'sbl_r18_integral', 'sbl_r18_integral_kl2')


def metric_case() -> dict:
    """Every metric key, per engine and box mode."""
    from test_difficulty_metric import (
        detected_box_samples,
        gt_box_samples,
        make_annotations,
        run_metric,
    )

    from mmipr.evaluation import DifficultySplitCocoMetric

    coco_json = make_annotations()
    tmp = tempfile.mkdtemp()
    ann_file = osp.join(tmp, 'ann.json')
    with open(ann_file, 'w') as f:
        json.dump(coco_json, f)
    gt_samples = gt_box_samples(coco_json)
    rng = np.random.default_rng(7)
    for s in gt_samples:
        x, y, w, h = s['raw_ann_info']['bbox']
        s.update(pred_fields={'heatmaps': torch.from_numpy(
                     rng.normal(0, 2, (17, 64, 48)).astype(np.float32))},
                 input_center=np.array([x + w / 2, y + h / 2], np.float32),
                 input_scale=np.array([max(w, h * 0.75), max(h, w / 0.75)],
                                      np.float32) * 1.25,
                 input_size=(192, 256))
    cases = {'gt_boxes': gt_samples,
             'detected_boxes': detected_box_samples(coco_json)}
    out = {}
    for engine in ('faster-coco-eval', 'xtcocotools'):
        for mode, samples in cases.items():
            metric = DifficultySplitCocoMetric(ann_file=ann_file,
                                               eval_engine=engine)
            keys = run_metric(metric, copy.deepcopy(samples))
            out[f'{engine}/{mode}'] = {k: float(v) for k, v in keys.items()}
    return out


def decode_case() -> dict:
    """Decoded keypoints and scores of both heads on fixed heatmaps."""
    from mmpose.registry import MODELS

    import mmipr  # noqa: F401

    gen = torch.Generator().manual_seed(3)
    heatmaps = torch.randn(6, 17, 64, 48, generator=gen) * 3
    trunk = dict(in_channels=17, out_channels=17, deconv_out_channels=None,
                 final_layer=None)  # identity trunk: feats are the heatmaps
    heads = {
        'integral': dict(type='IntegralHead', **trunk,
                         decoder=dict(type='RegressionLabel',
                                      input_size=(192, 256))),
        'argmax': dict(type='ArgmaxHead', **trunk,
                       decoder=dict(type='MSRAHeatmap', input_size=(192, 256),
                                    heatmap_size=(48, 64), sigma=2)),
        'argmax_dark': dict(type='ArgmaxHead', **trunk,
                            decoder=dict(type='MSRAHeatmap',
                                         input_size=(192, 256),
                                         heatmap_size=(48, 64), sigma=2,
                                         unbiased=True)),
    }
    out = {}
    for name, cfg in heads.items():
        head = MODELS.build(cfg).eval()
        with torch.no_grad():
            preds = head.predict((heatmaps, ), [], dict(flip_test=False))
        out[f'{name}/keypoints'] = np.stack(
            [np.asarray(p.keypoints) for p in preds])
        out[f'{name}/keypoint_scores'] = np.stack(
            [np.asarray(p.keypoint_scores) for p in preds])
    return out


def losses_case() -> dict:
    """Per-iteration loss terms of a short seeded float32 training of each
    main variant on a tiny generated dataset."""
    from conftest import data_options
    from mmengine.config import Config
    from mmengine.hooks import Hook
    from mmengine.runner import Runner

    from mmipr.datasets import generate_synthetic_coco

    torch.set_num_threads(1)
    root = tempfile.mkdtemp()
    generate_synthetic_coco(root, num_train=24, num_val=12, seed=0,
                            workers=1, progress=False)

    class Record(Hook):
        def __init__(self):
            self.rows = []

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            self.rows.append({k: float(v.detach()) for k, v in outputs.items()})

    out = {}
    for variant in VARIANTS:
        cfg = Config.fromfile(osp.join(REPO, 'configs', 'synthetic',
                                       f'{variant}.py'))
        cfg.merge_from_dict(data_options(root))
        cfg.work_dir = tempfile.mkdtemp()
        cfg.randomness = dict(seed=0, deterministic=True)
        cfg.optim_wrapper = dict(type='OptimWrapper',
                                 optimizer=dict(type='Adam', lr=2e-3))
        cfg.custom_hooks = []
        cfg.default_hooks.checkpoint = None
        cfg.default_hooks.logger = dict(type='LoggerHook', interval=1000)
        cfg.train_dataloader.batch_size = 6
        cfg.train_cfg = dict(by_epoch=False, max_iters=LOSS_ITERS,
                             val_interval=10 ** 6)
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
        cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
        cfg.param_scheduler = None
        cfg.log_level = 'ERROR'
        runner = Runner.from_cfg(cfg)
        record = Record()
        runner.register_hook(record)
        runner.train()
        out[variant] = record.rows
    return out


def compute() -> tuple[dict, dict]:
    """(JSON-able cases, arrays) of every golden case."""
    return ({'metric': metric_case(), 'losses': losses_case()},
            decode_case())


#: relative tolerances of floating values across processors (module doc)
METRIC_RTOL, DECODE_RTOL, LOSS_RTOL = 1e-6, 1e-5, 1e-5
#: absolute tolerance of decoded arrays (px or score); DARK on noise: 0.05 px
DECODE_ATOL = {'argmax_dark/keypoints': 0.05}


def _same(a, b, rel: float) -> bool:
    """Equal values: floats within ``rel`` (NaN equals NaN), others exactly."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(
            a, b, rel_tol=rel, abs_tol=1e-12)
    return a == b


def _changed_values(ours: dict, recorded: dict, rel: float, path: str
                    ) -> list[str]:
    if ours.keys() != recorded.keys():
        return [f'{path}: keys {sorted(ours)} != {sorted(recorded)}']
    return [f'{path}/{k}: {ours[k]!r} != {v!r}'
            for k, v in recorded.items() if not _same(ours[k], v, rel)]


def metric_changes(ours: dict, recorded: dict) -> list[str]:
    """What differs between two ``metric`` cases (:func:`metric_case`)."""
    if ours.keys() != recorded.keys():
        return [f'cases {sorted(ours)} != {sorted(recorded)}']
    return [c for case, keys in recorded.items()
            for c in _changed_values(ours[case], keys, METRIC_RTOL, case)]


def loss_changes(ours: dict, recorded: dict) -> list[str]:
    """What differs between two ``losses`` cases (:func:`losses_case`)."""
    if ours.keys() != recorded.keys():
        return [f'variants {sorted(ours)} != {sorted(recorded)}']
    found = []
    for variant, rows in recorded.items():
        if len(ours[variant]) != len(rows):
            found.append(f'{variant}: {len(ours[variant])} iterations != '
                         f'{len(rows)}')
            continue
        for i, (got, want) in enumerate(zip(ours[variant], rows)):
            found += _changed_values(got, want, LOSS_RTOL, f'{variant}/{i}')
    return found


def decode_changes(ours: dict, recorded) -> list[str]:
    """What differs between two ``decode`` cases (:func:`decode_case`;
    ``recorded`` maps names to arrays, e.g. an opened ``golden.npz``)."""
    names = sorted(recorded.keys() if hasattr(recorded, 'keys')
                   else recorded.files)
    if sorted(ours) != names:
        return [f'arrays {sorted(ours)} != {names}']
    found = []
    for name in names:
        got, want = ours[name], recorded[name]
        if got.shape != want.shape:
            found.append(f'{name}: shape {got.shape} != {want.shape}')
        elif np.issubdtype(want.dtype, np.floating):
            atol = DECODE_ATOL.get(name, 1e-6)
            if not np.allclose(got, want, rtol=DECODE_RTOL, atol=atol):
                worst = np.abs(got.astype(np.float64) - want).max()
                found.append(f'{name}: differs by up to {worst:.3g}')
        elif not np.array_equal(got, want):
            found.append(f'{name}: differs')
    return found


def record() -> None:
    """Record the cases; refuse to overwrite other numbers under the same
    :data:`~mmipr.study.ledger.STUDY_VERSION` (the ledger's records would be
    reused for runs whose numbers changed)."""
    from mmipr.study.ledger import STUDY_VERSION

    cases, arrays = compute()
    if osp.exists(GOLDEN_JSON):
        with open(GOLDEN_JSON) as f:
            old = json.load(f)
        with np.load(GOLDEN_NPZ) as recorded:
            changed = (metric_changes(cases['metric'], old['metric'])
                       + loss_changes(cases['losses'], old['losses'])
                       + decode_changes(arrays, recorded))
        if changed and old.get('study_version') == STUDY_VERSION:
            sys.exit(f'the golden numbers changed but STUDY_VERSION is still '
                     f'{STUDY_VERSION}: bump it in mmipr/study/ledger.py '
                     '(every ledger record then becomes stale) and record '
                     'again')
    cases['study_version'] = STUDY_VERSION
    commit = subprocess.check_output(['git', 'rev-parse', 'HEAD'], cwd=REPO,
                                     text=True).strip()
    cases['recorded_at'] = commit
    cases['cpu'] = torch.backends.cpu.get_cpu_capability()
    with open(GOLDEN_JSON, 'w') as f:
        json.dump(cases, f, indent=1, sort_keys=True)
        f.write('\n')
    np.savez_compressed(GOLDEN_NPZ, **arrays)


if __name__ == '__main__':
    if sys.argv[1:] != ['record']:
        sys.exit('usage: python tests/golden/golden_case.py record')
    os.chdir(REPO)
    record()
