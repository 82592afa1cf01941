"""The main job: detection vs integral regression vs integral + prior, compared.

Generates the synthetic dataset if absent, trains the three variants of
``configs/synthetic/`` on the CPU with the study's recipe and geometry
(``tools/reproduce.py``: 64x48 heatmaps, a backbone pretrained on person
silhouettes under identically seeded heads as every variant's starting
weights, two lr drops before the last quarter), fewer epochs and less data,
evaluates each with
DifficultySplitCocoMetric on the dataset's detected boxes (instances ranked
by box score, the same rule for every head), prints one comparison table and
whether each run met the study's convergence criterion, and writes PNGs
(convergence, per-difficulty bars, the same easy and hard instances as each
variant sees them) to ``--work-dir``. Finished runs with the same settings
are reused.

    python tools/demo.py [--epochs N] [--pretrain-epochs N] [--num-train N]
        [--work-dir DIR]
"""
import argparse
import os.path as osp
import sys
import tempfile
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from tqdm import tqdm  # noqa: E402

import mmipr  # noqa: E402,F401  (makes MMPose importable, registers mmipr)
from mmipr.datasets import ensure_synthetic_coco  # noqa: E402
from mmipr.study import (  # noqa: E402
    RunSpec,
    report,  # noqa: E402
    run,
    synthetic_data_options,
)
from mmipr.study.claims import CONVERGENCE_MAX_SHARE, convergence  # noqa: E402
from mmipr.study.pretrain import pretrained_backbone  # noqa: E402
from mmipr.study.runs import build_config, initial_weights, iterations_per_run  # noqa: E402
from mmipr.utils.validation import non_negative_int, positive_int  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
VARIANTS = (
    ('detection', 'sbl_r18_detection.py'),
    ('integral', 'sbl_r18_integral.py'),
    ('integral_kl2', 'sbl_r18_integral_kl2.py'),
)
PRETRAIN_CONFIG = osp.join(REPO, 'configs', 'synthetic',
                           'pretrain_r18_silhouette.py')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', default='data/synthetic_coco',
                        help='synthetic dataset (generated if absent)')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--num-train', type=positive_int, default=1500,
                        help='train images to generate')
    parser.add_argument('--num-val', type=positive_int, default=200,
                        help='val images to generate')
    parser.add_argument('--epochs', type=positive_int, default=4)
    parser.add_argument('--pretrain-epochs', type=non_negative_int, default=3,
                        help='epochs of the neutral backbone pretraining, '
                        'cached in $MMIPR_CACHE or ~/.cache/mmipr (0: none)')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    start = time.perf_counter()
    if ensure_synthetic_coco(args.data_root, num_train=args.num_train,
                             num_val=args.num_val, seed=0,
                             workers=2) == 'generated':
        print(f'Generated the synthetic dataset in {args.data_root}.')
    configs = [osp.join(REPO, 'configs', 'synthetic', config)
               for _, config in VARIANTS]
    backbone = None
    if args.pretrain_epochs > 0:
        with tqdm(desc='pretraining', unit='it', dynamic_ncols=True) as bar:
            backbone, record = pretrained_backbone(
                PRETRAIN_CONFIG, args.data_root, args.pretrain_epochs,
                progress=bar)
        print(f"Backbone pretrained on person silhouettes "
              f"({record['epochs']} epoch{'s' * (record['epochs'] != 1)}, "
              f"loss {record['epoch_losses'][-1]:.3f}"
              f"{', reused from the cache' if record['reused'] else ''}): "
              f"{backbone}")
    init = initial_weights(configs[0], args.seed,
                           osp.join(args.work_dir, 'init'), backbone=backbone)
    specs = [
        RunSpec(name, config, epochs=args.epochs, seed=args.seed,
                cfg_options=synthetic_data_options(args.data_root),
                load_from=init)
        for (name, _), config in zip(VARIANTS, configs)
    ]
    with tempfile.TemporaryDirectory() as probe_dir:
        per_run = iterations_per_run(build_config(specs[0], probe_dir))
    results = []
    with tqdm(total=per_run * len(specs), desc='train + val',
              unit='it', dynamic_ncols=True) as progress:
        for spec in specs:
            results.append(run(spec, args.data_root, args.work_dir, progress))
    print('\n' + report.comparison_table(results))
    print(report.split_counts_line(results))
    print('AP: COCO OKS AP on the detected boxes, instances ranked by box '
          'score (the same rule for every head); EPE: mean end-point error '
          '(px, original image) over the labelled keypoints of instances '
          'matched at OKS 0.5; A(2): heatmap mass within 2 heatmap px of the '
          'ground truth (each heatmap\'s positive part divided by its sum; '
          'integral heatmaps are already normalised); train s: time in '
          'training iterations.')
    print(f'\nConvergence (the study\'s criterion: the last quarter of '
          f'training made at most {CONVERGENCE_MAX_SHARE:.0%} of the AP gain, '
          'after the last lr drop):')
    for result in results:
        conv = convergence(result)
        verdict = 'met' if conv['met'] else 'NOT met'
        print(f"  {result['run_id']}: {verdict} (last {conv['quarter']} of "
              f"{len(result['val_metrics'])} epochs made "
              f"{conv['share']:.0%} of the gain)")
    if not all(convergence(r)['met'] for r in results):
        print('  The demo trains for minutes: runs that did not converge '
              'compare early training, not trained models. '
              'docs/reproduction.md has the longer study, and says which of '
              'its runs converged.')
    figures = [
        report.plot_curves(results, osp.join(args.work_dir, 'curves.png')),
        report.plot_difficulty_bars(
            results, osp.join(args.work_dir, 'difficulty.png')),
        report.plot_instances(results, args.data_root,
                              osp.join(args.work_dir, 'instances.png')),
    ]
    print('Figures: ' + ', '.join(figures))
    print(f'Total time: {time.perf_counter() - start:.0f} s')


if __name__ == '__main__':
    main()
