"""The main job (``tools/demo.py``): detection vs integral regression vs
integral + prior, trained with the study's set-up and recipe and compared.

:func:`run_demo` shares the study's code path: the same set-up
(:func:`~mmipr.study.setup.prepare`: dataset, pretrained backbone, initial
weights), the same runs (:func:`~mmipr.study.plan.demo_plan`) and training
loop (:func:`~mmipr.study.schedule.train_runs`), with fewer epochs and less
data. It prints one comparison table and each variant's saturation
verdict (the study's criterion, AP at T against AP at T/2: the demo trains
no T/2 runs, so it says "not judged") and draws the convergence,
per-difficulty and instance figures into the work dir.

The demo writes no ledger records: its runs (a few epochs on a smaller
dataset) are not the study's, and a demo run on a user's machine must not
change ``docs/``. Its finished runs are reused from its work dir only.
"""
from __future__ import annotations

import os.path as osp
import time

from .claims import saturation_rows, spread
from .figures import plot_curves, plot_difficulty_bars, plot_instances
from .ledger import SATURATION_TOLERANCE
from .plan import PRETRAIN_CONFIG, StudySettings, demo_plan
from .report import comparison_table, group_by_variant, split_counts_line
from .schedule import train_runs
from .setup import prepare
from .workdir import work_dir_lock

#: the demo's defaults (``tools/demo.py``)
DEMO_DEFAULTS = dict(data_root='data/synthetic_coco', work_dir='work_dirs/demo',
                     num_train=1500, num_val=200, epochs=4, pretrain_epochs=3,
                     seeds=1, budget=None, ledger_dir=None, half_runs=False)


def print_comparison(results: list[dict]) -> None:
    """The comparison table, its legend and each variant's saturation."""
    print('\n' + comparison_table(results))
    print(split_counts_line(results))
    print('AP: COCO OKS AP on the detected boxes, instances ranked by box '
          'score (the same rule for every head); EPE: mean end-point error '
          '(px, original image) over the labelled keypoints of instances '
          'matched at OKS 0.5; A(2): heatmap mass within 2 heatmap px of the '
          'ground truth (each heatmap\'s positive part divided by its sum; '
          'integral heatmaps are already normalised); train s: time in '
          'training iterations.')
    by_name = group_by_variant(results)
    print('\nSaturation (the study\'s criterion: AP at T at most '
          f'{SATURATION_TOLERANCE:.0%} above AP at T/2, or within the seed '
          'spread):')
    for row in saturation_rows(by_name, [], spread(by_name)):
        print(f"  {row['variant']}_seed{row['seed']}: {row['why']} "
              f"(AP {row['ap_full']:.3f} at T={row['epochs']})")
    print('  The demo trains for minutes: it compares early training, not '
          'trained models. The study (tools/reproduce.py) trains a T/2 run '
          'of each main variant to judge saturation.')


def run_demo(settings: StudySettings) -> list[dict]:
    """Train (or reuse) the three main variants and compare them.

    Args:
        settings (StudySettings): the invocation (:data:`DEMO_DEFAULTS`
            with the user's changes; ``first_seed`` is the seed).

    Returns:
        list[dict]: the runs' results.
    """
    start_time = time.perf_counter()
    with work_dir_lock(settings.work_dir):
        start = prepare(settings, show_progress=True)
        record = start.pretraining
        if record is not None:
            print(f"Backbone pretrained by {PRETRAIN_CONFIG} "
                  f"({record['epochs']} epoch"
                  f"{'s' * (record['epochs'] != 1)}, "
                  f"loss {record['epoch_losses'][-1]:.3f}"
                  f"{', reused from the cache' if record['reused'] else ''})"
                  f": {start.backbone}")
        specs = demo_plan(settings, start.weights)
        results = train_runs(specs, settings.work_dir,
                             desc='train + val').results
        print_comparison(results)
        figures = [
            plot_curves(results, osp.join(settings.work_dir, 'curves.png')),
            plot_difficulty_bars(
                results, osp.join(settings.work_dir, 'difficulty.png')),
            plot_instances(results, settings.data_root,
                           osp.join(settings.work_dir, 'instances.png')),
        ]
    print('Figures: ' + ', '.join(figures))
    print(f'Total time: {time.perf_counter() - start_time:.0f} s')
    return results
