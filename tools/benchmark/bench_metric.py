"""Time DifficultySplitCocoMetric against MMPose's CocoMetric.

Builds a random COCO-format keypoint annotation set (pure JSON, no images)
and top-down predictions for it (ground-truth boxes, or detected boxes with
misses and false positives), then times ``process`` + ``evaluate`` of both
metrics on the same predictions, in one run, and writes the ratio into
docs/benchmarks.md (section ``metric``). The split metric runs with both
evaluation engines (faster-coco-eval, xtcocotools), and the faster one's
time is broken down by stage (where the time goes outside evaluation).

Example::

    python tools/benchmark/bench_metric.py --num-instances 20000
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import io
import json
import os
import os.path as osp
import statistics
import sys
import tempfile
import time
from typing import Optional

import numpy as np

sys.path.insert(0, osp.dirname(__file__))
# the repository's mmipr, not an installed copy
sys.path.insert(1, osp.join(osp.dirname(__file__), '..', '..'))
from report import write_section

from mmipr.utils.validation import positive_int


def random_annotations(num_instances: int, num_keypoints: int = 17,
                       seed: int = 0) -> dict:
    """A random COCO keypoint annotation set: about 2.5 persons per image,
    every difficulty level, some crowd regions and unlabelled instances."""
    rng = np.random.default_rng(seed)
    K = num_keypoints
    num_images = int(np.ceil(num_instances / 2.5))
    img_of = np.sort(rng.integers(1, num_images + 1, num_instances))
    h = rng.choice([40., 100., 250.], num_instances) * rng.uniform(
        0.7, 1.3, num_instances)
    w = h * rng.uniform(0.3, 1.0, num_instances)
    x, y = rng.uniform(0, 640 - w), rng.uniform(0, 480 - np.minimum(h, 479))
    vis = rng.choice([0, 1, 2], (num_instances, K), p=[0.3, 0.2, 0.5])
    kx = x[:, None] + rng.uniform(0, 1, (num_instances, K)) * w[:, None]
    ky = y[:, None] + rng.uniform(0, 1, (num_instances, K)) * h[:, None]
    crowd = rng.uniform(size=num_instances) < 0.01
    vis[crowd | (rng.uniform(size=num_instances) < 0.03)] = 0
    kx[vis == 0] = 0
    ky[vis == 0] = 0
    kpts = np.stack([kx, ky, vis], -1).reshape(num_instances, -1)
    anns = [{'id': i + 1, 'image_id': int(img_of[i]), 'category_id': 1,
                 'bbox': [float(x[i]), float(y[i]), float(w[i]), float(h[i])],
                 'area': float(w[i] * h[i] * 0.6), 'iscrowd': int(crowd[i]),
                 'num_keypoints': int((vis[i] > 0).sum()),
                 'keypoints': kpts[i].tolist()} for i in range(num_instances)]
    images = [{'id': i, 'width': 640, 'height': 480, 'file_name': f'{i:012d}.jpg'}
              for i in range(1, num_images + 1)]
    return {'images': images, 'annotations': anns, 'categories': [{
        'id': 1, 'name': 'person', 'keypoints': [str(k) for k in range(K)],
        'skeleton': []}]}


def predictions(coco_json: dict, detected: bool, seed: int = 1) -> list:
    """Top-down data samples as MMPose's CocoMetric reads them: ground truth
    plus noise of varying size; with ``detected``, 10 % missed, 10 %
    duplicated, and one false positive per 4 images."""
    rng = np.random.default_rng(seed)
    out = []

    def add(img_id, kpts, box, score, raw=None):
        x, y, w, h = box
        ds = {'id': raw['id'] if raw else len(out), 'img_id': img_id,
                  'category_id': 1, 'gt_instances': {},
                  'pred_instances': {
                      'keypoints': kpts[None].astype(np.float32),
                      'keypoint_scores': rng.uniform(0.3, 1, (1, len(kpts))),
                      'bboxes': np.array([[x, y, x + w, y + h]], np.float32),
                      'bbox_scores': np.array([score], np.float32)}}
        if raw is not None:
            ds['raw_ann_info'] = raw
        out.append(ds)

    for ann in coco_json['annotations']:
        if ann['iscrowd'] or (detected and rng.uniform() < 0.1):
            continue
        g = np.reshape(ann['keypoints'], (-1, 3))
        kpts = g[:, :2] + rng.normal(0, rng.choice([1, 4, 12, 30]),
                                     (len(g), 2))
        for _ in range(2 if detected and rng.uniform() < 0.1 else 1):
            add(ann['image_id'], kpts, ann['bbox'],
                rng.uniform(0.3, 1) if detected else 1.0,
                None if detected else ann)
    if detected:
        for img in coco_json['images'][::4]:
            x, y = rng.uniform(0, 500), rng.uniform(0, 350)
            K = len(coco_json['categories'][0]['keypoints'])
            kpts = np.stack([rng.uniform(x, x + 100, K),
                             rng.uniform(y, y + 120, K)], 1)
            add(img['id'], kpts, [x, y, 100, 120], rng.uniform(0.1, 1))
    return out


def time_metric(metric, samples: list, meta: dict, batch: int = 64) -> tuple:
    """CPU seconds of this process and wall seconds of ``process`` over all
    batches + ``evaluate``, and the metrics; every run starts from a
    collected heap."""
    metric.dataset_meta = meta
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        for i in range(0, len(samples), batch):
            metric.process([], samples[i:i + batch])
        out = metric.evaluate(len(samples))
    return time.process_time() - cpu, time.perf_counter() - wall, out


def gc_not_paused(metric):
    """The metric with its garbage-collector pause disabled (the collector
    runs as the process has it), to measure what the pause is worth."""
    from mmipr.evaluation.metrics import difficulty_split_coco_metric as dscm
    compute = metric.compute_metrics

    def compute_metrics(results):
        paused_gc, dscm.paused_gc = dscm.paused_gc, contextlib.nullcontext
        try:
            return compute(results)
        finally:
            dscm.paused_gc = paused_gc
    metric.compute_metrics = compute_metrics
    return metric


#: stages of the split metric's time: (label, owner, attribute name)
STAGES = (
    ('process (CocoMetric + ids, A(s))', 'metric', 'process'),
    ('oks_nms (MMPose, per image)', 'coco_metric', 'oks_nms'),
    ('results2json', 'metric', 'results2json'),
    ('ground-truth COCO for faster-coco-eval', 'engine', 'ground_truth'),
    ('full evaluation: flat arrays and all OKS (pair_oks)', 'flat',
     '__init__'),
    ('full evaluation: loadRes, C++ matching, accumulate', 'engine',
     'evaluate'),
    ('13 splits: assignment and subsets (flat arrays)', 'engine',
     'split_rows'),
    ('13 splits: faster-coco-eval evaluate + accumulate (one run)',
     'splits_eval', 'evaluate'),
    ('', 'splits_eval', 'accumulate'),
    ('EPE / A(s) pairing and report', 'metric_module', 'add_pair_stats'),
)
#: (stage, the stages it contains): made exclusive in the table
NESTED = ((5, (3, 4)), (6, (7, 8)))


@contextlib.contextmanager
def stage_timer(totals: dict):
    """Add the CPU seconds spent in each of :data:`STAGES` to ``totals``
    (stages with an empty label add to the one before)."""
    import mmpose.evaluation.metrics.coco_metric as coco_metric

    from mmipr.evaluation import DifficultySplitCocoMetric
    from mmipr.evaluation.engines import faster_coco_eval
    from mmipr.evaluation.metrics import difficulty_split_coco_metric as dscm
    owners = {'metric': DifficultySplitCocoMetric,
              'metric_module': dscm, 'coco_metric': coco_metric,
              'engine': faster_coco_eval.FasterCocoEvalEngine,
              'flat': faster_coco_eval.FlatEvaluation,
              'splits_eval': faster_coco_eval.SplitsEval}
    saved = []
    label = None
    for stage, owner, name in STAGES:
        label = stage or label
        obj = owners[owner]
        f = getattr(obj, name)
        # inherited methods are shadowed on the class, then removed
        saved.append((obj, name, vars(obj).get(name)))

        def timed(*args, _f=f, _label=label, **kwargs):
            t = time.process_time()
            try:
                return _f(*args, **kwargs)
            finally:
                totals[_label] = (totals.get(_label, 0.0)
                                  + time.process_time() - t)
        setattr(obj, name, functools.wraps(f)(timed))
    try:
        yield totals
    finally:
        for obj, name, f in saved:
            if f is None:
                delattr(obj, name)
            else:
                setattr(obj, name, f)


def parse_args(argv: Optional[list] = None) -> argparse.Namespace:
    """The command line, every number checked (mmipr.utils.validation)."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--num-instances', type=positive_int, default=20000,
                        help='ground-truth instances (predictions are about '
                        'as many)')
    parser.add_argument('--modes', nargs='+', default=['gt', 'det'],
                        choices=['gt', 'det'])
    parser.add_argument('--rounds', type=positive_int, default=3,
                        help='alternating rounds of all runs (medians)')
    parser.add_argument('--no-write', action='store_true',
                        help='do not update docs/benchmarks.md')
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()

    import mmpose
    from mmengine.logging import MMLogger
    from mmpose.datasets.datasets.utils import parse_pose_metainfo
    from mmpose.evaluation import CocoMetric

    import mmipr  # noqa: F401
    from mmipr.evaluation import DifficultySplitCocoMetric
    MMLogger.get_instance('bench_metric', log_level='WARNING')
    meta = parse_pose_metainfo({'from_file': osp.join(
        osp.dirname(mmpose.__file__), '.mim/configs/_base_/datasets/coco.py')})
    coco_json = random_annotations(args.num_instances)
    rows, profiles = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        ann_file = osp.join(tmp, 'ann.json')
        with open(ann_file, 'w') as f:
            json.dump(coco_json, f)
        for mode in args.modes:
            samples = predictions(coco_json, detected=mode == 'det')
            runs = {
                'CocoMetric': lambda: CocoMetric(ann_file=ann_file),
                'faster-coco-eval': lambda: DifficultySplitCocoMetric(
                    ann_file=ann_file, eval_engine='faster-coco-eval'),
                'faster-coco-eval, GC not paused': lambda: gc_not_paused(
                    DifficultySplitCocoMetric(
                        ann_file=ann_file, eval_engine='faster-coco-eval')),
                'xtcocotools': lambda: DifficultySplitCocoMetric(
                    ann_file=ann_file, eval_engine='xtcocotools'),
            }
            times = {name: [] for name in runs}
            ratios = {name: [] for name in runs}
            for r in range(args.rounds):
                names = list(runs)
                names = names[r % len(names):] + names[:r % len(names)]
                outs = {}
                for name in names:
                    times[name].append(time_metric(runs[name](), samples,
                                                   meta))
                    outs[name] = times[name][-1][2]
                for name in runs:
                    ratios[name].append(times[name][-1][0]
                                        / times['CocoMetric'][-1][0])
                ref = outs['CocoMetric']
                for name, out in outs.items():
                    assert all(abs(out[k] - v) <= 1e-9
                               for k, v in ref.items()), name
                    assert all(abs(outs['xtcocotools'][k] - v) <= 1e-9
                               for k, v in out.items()), name
            with stage_timer({}) as stages:
                t_prof = time_metric(DifficultySplitCocoMetric(
                    ann_file=ann_file), samples, meta)
            # exclusive times: the full evaluation contains the ground-truth
            # COCO and the OKS, the splits' stage their evaluation
            for outer, inner in NESTED:
                stages[STAGES[outer][0]] -= sum(
                    stages.get(STAGES[i][0], 0.0) for i in inner)
            profiles[mode] = (t_prof[0], stages)
            med = {name: (statistics.median(t[0] for t in ts),
                          statistics.median(ratios[name]),
                          statistics.median(t[1] / c[1] for t, c in zip(
                              ts, times['CocoMetric'])))
                   for name, ts in times.items()}
            fast = outs['faster-coco-eval']
            rows.append((mode, len(samples), med, fast['coco/AP'],
                         fast['coco/hard/AP'], fast['coco/easy/AP']))
            print(f'{mode}: {len(samples)} predictions, median CPU s ' + ', '.join(
                f'{name} {cpu:.2f} ({ratio:.2f}x)'
                for name, (cpu, ratio, _) in med.items()))
    load = os.getloadavg()[0]
    md = ['## DifficultySplitCocoMetric vs CocoMetric', '',
          (f'Random COCO-format keypoint set: {args.num_instances} ground-truth '
           f'instances, {len(coco_json["images"])} images (pure JSON). Time of '
           '`process` (batches of 64) + `evaluate`, all metrics on the same '
           'predictions; the split metric evaluates all 13 splits '
           '(AP/AR/EPE), with each evaluation engine (`eval_engine`), and '
           'once more with faster-coco-eval and its pause of the garbage '
           'collector disabled. Every key of the split metric equals '
           "CocoMetric's within 1e-9 in every run, and its split keys equal "
           "the xtcocotools engine's within 1e-9. CPU time of the process "
           '(robust to other load on a shared machine); each run starts from '
           f'a collected heap; {args.rounds} rounds, the order of the runs '
           'rotating; medians of the times and of the per-round ratios to '
           'CocoMetric. Target: faster-coco-eval ratio <= 0.5. 1-minute load '
           f'average at the end: {load:.1f} on {os.cpu_count()} cores.'),
          '',
          ('| boxes | predictions | CocoMetric CPU s | split, faster-coco-eval '
           'CPU s | ratio (CPU) | ratio (wall) | same, GC not paused: ratio '
           '(CPU) | split, xtcocotools CPU s | ratio (CPU) | AP | hard/AP | '
           'easy/AP |'),
          '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- '
          '| --- |']
    for mode, n, med, ap, hard, easy in rows:
        fast, slow = med['faster-coco-eval'], med['xtcocotools']
        md.append(f'| {"ground truth" if mode == "gt" else "detected"} | '
                  f'{n} | {med["CocoMetric"][0]:.2f} | {fast[0]:.2f} | '
                  f'**{fast[1]:.2f}** | {fast[2]:.2f} | '
                  f'{med["faster-coco-eval, GC not paused"][1]:.2f} | '
                  f'{slow[0]:.2f} | {slow[1]:.2f} | '
                  f'{ap:.3f} | {hard:.3f} | {easy:.3f} |')
    md += ['', ('Where the split metric\'s time goes (faster-coco-eval, CPU s '
                'per stage, exclusive, one more timed run):'), '',
           '| stage | ' + ' | '.join(
               'ground truth' if m == 'gt' else 'detected' for m in profiles)
           + ' |', '| --- |' + ' --- |' * len(profiles)]
    for label, _, _ in STAGES:
        if not label:
            continue
        md.append(f'| {label} | ' + ' | '.join(
            f'{st.get(label, 0.0):.2f}' for _, st in profiles.values())
            + ' |')
    md.append('| other (MMPose grouping and rescoring, collect, ...) | '
              + ' | '.join(f'{total - sum(st.values()):.2f}'
                           for total, st in profiles.values()) + ' |')
    md.append('| total | ' + ' | '.join(
        f'{total:.2f}' for total, _ in profiles.values()) + ' |')
    outside = (STAGES[0][0], STAGES[1][0], STAGES[2][0])
    md.append('')
    for (mode, _, med, *_), (total, st) in zip(rows, profiles.values()):
        ref_t = med['CocoMetric']
        rest = total - sum(st.values())
        out = sum(st.get(k, 0.0) for k in outside) + rest
        md.append(
            f'{"Ground truth" if mode == "gt" else "Detected"} boxes, '
            f'profiled run ({total:.2f} s in all): the stages outside COCO '
            f'evaluation (process, oks_nms, results2json, other) take '
            f'{out:.2f} s, {out / ref_t[0]:.2f}x CocoMetric\'s median time; '
            f'the full evaluation and the 13 splits take {total - out:.2f} s, '
            f'of which the C++ evaluation of the 13 splits '
            f'{st.get(STAGES[7][0], 0.0):.2f} s.')
    print('\n'.join(md))
    if not args.no_write:
        write_section('metric', '\n'.join(md))


if __name__ == '__main__':
    main()
