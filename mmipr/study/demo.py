"""The main job (``tools/demo.py``): trained detection vs integral regression
vs integral + prior, and how far minutes of training get against them.

:func:`run_demo` works on the study's dataset (the generator reproduces it
in about a minute) and has two parts:

(a) **the trained models**: the committed seed-0 models of the study
    (``weights/<variant>_seed0.pth``, :mod:`~mmipr.study.trained`) are
    evaluated on the study's val split: one table (AP, AP e/m, AP hard, EPE
    and A(2) per split), the saturation statement of their runs from the
    committed ledger (AP at T against AP at T/2), and the pictures (the
    heatmaps of an easy and a hard instance per variant, A(s) against s);
(b) **minutes of training**: the same three variants trained briefly with
    the study's recipe from the committed backbone (the study's set-up,
    :func:`~mmipr.study.setup.prepare`, and training loop,
    :func:`~mmipr.study.schedule.train_runs`, on part of the train split),
    compared with the trained models.

The demo writes no ledger records and no committed weights: a demo run on a
user's machine must not change ``docs/`` or ``weights/``. Its finished runs
are reused from its work dir only.
"""
from __future__ import annotations

import os.path as osp
import time

from .figures import plot_activation_sums, plot_curves, plot_instances
from .ledger import LEDGER_DIR, SATURATION_TOLERANCE, SOURCE_ROOT, Ledger
from .plan import PRETRAIN_CONFIG, StudySettings, demo_plan
from .report import comparison_table, group_by_variant, split_counts_line
from .schedule import train_runs
from .setup import prepare
from .tables import saturation_table
from .trained import trained_results, trained_saturation
from .workdir import work_dir_lock

#: train instances (detected people) of the demo's brief runs: a quarter of
#: the study's train split, so that three variants train in minutes
DEMO_TRAIN_INSTANCES = 2000
#: the config option that cuts the train split to its first N instances
TRAIN_INDICES = 'train_dataloader.dataset.indices'
#: the demo's defaults (``tools/demo.py``): the study's dataset and
#: backbone pretraining (so the committed backbone is used), brief runs
DEMO_DEFAULTS = dict(
    data_root='data/synthetic_coco_3k', work_dir='work_dirs/demo',
    num_train=3000, num_val=200, epochs=3, pretrain_epochs=6, seeds=1,
    budget=None, ledger_dir=None, half_runs=False,
    cfg_options={TRAIN_INDICES: DEMO_TRAIN_INSTANCES})
#: the columns of the trained-regime table
TRAINED_COLUMNS = (
    ('AP', 'coco/AP'),
    ('AP e/m', 'coco/easy_medium/AP'),
    ('AP hard', 'coco/hard/AP'),
    ('EPE e/m', 'coco/easy_medium/EPE'),
    ('EPE hard', 'coco/hard/EPE'),
    ('A(2) e/m', 'coco/easy_medium/A(2)'),
    ('A(2) hard', 'coco/hard/A(2)'),
)
LEGEND = ('AP: COCO OKS AP on the detected boxes, instances ranked by box '
          'score (the same rule for every head); EPE: mean end-point error '
          '(px, original image) over the labelled keypoints of instances '
          'matched at OKS 0.5; A(2): heatmap mass within 2 heatmap px of the '
          'ground truth (each heatmap\'s positive part divided by its sum; '
          'integral heatmaps are already normalised); train s: time in '
          'training iterations.')


def print_trained(results: list[dict], ledger: Ledger) -> None:
    """Part (a): the trained models' table, their runs and saturation."""
    print('\n(a) The study\'s trained models (weights/, seed 0) on the '
          'study\'s val split:\n')
    print(comparison_table(results, TRAINED_COLUMNS))
    print(split_counts_line(results))
    print(LEGEND)
    for r in results:
        rec = r['record']
        run = ledger.find(rec['settings_key'])
        where = (f"run {run['run_id']} of the ledger" if run else
                 'its run has no record in the ledger')
        print(f"  {r['name']}: weights/{osp.basename(r['checkpoint'])}, "
              f"{rec['epochs']} epochs of the study ({where}, written at "
              f"commit {rec['commit'][:7]}); AP {r['metrics']['coco/AP']:.3f}"
              f" here, {rec['final']['coco/AP']:.3f} in its record")
    print(f'\nSaturation of their runs (the ledger, {ledger.folder}: AP at T '
          f'at most {SATURATION_TOLERANCE:.0%} above AP at T/2, or within the '
          'seed spread):\n')
    print(saturation_table(trained_saturation(results, ledger)))


def print_brief(results: list[dict], trained: list[dict], minutes: float,
                instances: int | None) -> None:
    """Part (b): the brief runs' table and how far they got."""
    epochs = results[0]['epochs'] if results else 0
    data = f'{instances:,} train instances' if instances else 'the train split'
    print(f'\n(b) The same variants after {epochs} epochs on {data} from '
          f'the committed backbone ({minutes:.1f} min):\n')
    print(comparison_table(results, TRAINED_COLUMNS))
    full = {r['name']: r for r in trained}
    print('\nHow far minutes get (AP of the brief run / AP of the trained '
          'model):')
    for r in results:
        model = full.get(r['name'])
        if model is None:
            print(f"  {r['name']}: no trained model committed")
            continue
        brief, best = r['metrics']['coco/AP'], model['metrics']['coco/AP']
        share = f': {brief / best:.0%}' if best > 0 else ''
        print(f"  {r['name']}: {brief:.3f} after {r['epochs']} epochs "
              f"({r['train_seconds']:.0f} s of steps) against {best:.3f} "
              f"after {model['epochs']} epochs ({model['train_seconds']:.0f} "
              f"s){share}")


def run_demo(settings: StudySettings) -> tuple[list[dict], list[dict]]:
    """Evaluate the committed trained models, train the brief runs (or
    reuse them), and compare.

    Args:
        settings (StudySettings): the invocation (:data:`DEMO_DEFAULTS`
            with the user's changes; ``first_seed`` is the seed).

    Returns:
        tuple[list[dict], list[dict]]: the trained models' results
        (:func:`~mmipr.study.trained.trained_results`) and the brief runs'.
    """
    start_time = time.perf_counter()
    work = settings.work_dir
    with work_dir_lock(work):
        start = prepare(settings, show_progress=True)
        record = start.pretraining
        if record is not None:
            print(f"Backbone pretrained by {PRETRAIN_CONFIG} "
                  f"({record['epochs']} epoch"
                  f"{'s' * (record['epochs'] != 1)}, "
                  f"loss {record['epoch_losses'][-1]:.3f}"
                  f"{', committed' if record.get('committed') else ''}"
                  f"{', reused' if record['reused'] else ''})"
                  f": {start.backbone}")
        trained = trained_results(settings.weights_dir, settings.data_root,
                                  osp.join(work, 'trained'))
        figures = []
        if trained:
            print_trained(trained, Ledger(osp.join(SOURCE_ROOT, LEDGER_DIR)))
            figures += [
                plot_instances(trained, settings.data_root,
                               osp.join(work, 'trained_instances.png')),
                plot_activation_sums(
                    group_by_variant(trained),
                    osp.join(work, 'trained_activation_sums.png'))]
        else:
            print(f'\n(a) No trained model is committed under '
                  f'{settings.weights_dir}: nothing to evaluate.')
        brief_start = time.perf_counter()
        specs = demo_plan(settings, start.weights)
        results = train_runs(specs, work, desc='train + val').results
        print_brief(results, trained,
                    (time.perf_counter() - brief_start) / 60,
                    settings.cfg_options.get(TRAIN_INDICES))
        figures.append(plot_curves(results, osp.join(work, 'curves.png')))
    print('\nFigures: ' + ', '.join(figures))
    print(f'Total time: {time.perf_counter() - start_time:.0f} s')
    return trained, results
