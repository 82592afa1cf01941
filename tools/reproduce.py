"""The paper's study on the synthetic dataset; writes docs/reproduction.md.

Trains the variants of the paper's Table 1 (detection sigma 2; integral
regression; integral + prior sigma 0.5, 1, 2, 3, 4) and Fig. 2(d) (detection
sigma 0.5, 1, 3) from ``configs/synthetic/`` (the paper's 64x48 heatmaps, one
recipe for all), ``--seeds`` seeds for detection, integral and integral +
prior sigma 2, every variant of a seed from the same initial weights: a
backbone pretrained once on a task neutral to both heads (person silhouettes,
``configs/synthetic/pretrain_r18_silhouette.py``; cached outside the clone)
under heads seeded identically. A detection run from scratch measures what
the pretraining is worth. Each is
validated every epoch with DifficultySplitCocoMetric on the dataset's
detected boxes, under the shared instance-scoring rule (box score) and under
each head's own keypoint scores; the analysis toolkit's heatmap statistics
run on each model. Writes the tables, figures, the convergence criterion of
every run and a claim-by-claim comparison with the paper to ``--doc``.

Finished runs are reused when everything that determines them is unchanged
(a killed study resumes). Runs start in priority order and none starts
unless it is expected to finish within ``--budget`` minutes (the longest run
so far as the estimate); those not run are listed in the document.
``--reuse-only`` starts no run: it writes the document from the runs already
finished (a study cut short).

    python tools/reproduce.py [--budget 120] [--seeds 2] [--epochs 10]
        [--pretrain-epochs 6] [--reuse-only]
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

import mmipr  # noqa: E402,F401
from mmipr.datasets import ensure_synthetic_coco  # noqa: E402
from mmipr.study import (  # noqa: E402
    RunSpec,
    report,  # noqa: E402
    run,
    synthetic_data_options,
)
from mmipr.study.claims import CONVERGENCE_MAX_SHARE, claim_rows, claims_table, convergence, spread  # noqa: E402
from mmipr.study.pretrain import pretrained_backbone  # noqa: E402
from mmipr.study.runs import (  # noqa: E402
    build_config,
    finished_result,
    initial_weights,
    iterations_per_run,
    lr_drops,
)
from mmipr.utils.io import read_json_or_none, write_json_atomic  # noqa: E402
from mmipr.utils.validation import non_negative_int, positive_int  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: (variant, config, paper AP (Table 1 / Fig. 2d)), in priority order
TABLE1 = (
    ('detection', 'sbl_r18_detection.py', 71.3),
    ('integral', 'sbl_r18_integral.py', 67.1),
    ('integral_kl2', 'sbl_r18_integral_kl2.py', 71.4),
    ('integral_kl0.5', 'sbl_r18_integral_kl0.5.py', 65.1),
    ('integral_kl4', 'sbl_r18_integral_kl4.py', 66.9),
    ('integral_kl1', 'sbl_r18_integral_kl1.py', 68.5),
    ('integral_kl3', 'sbl_r18_integral_kl3.py', 69.8),
)
FIG2D = (
    ('detection_sigma0.5', 'sbl_r18_detection_sigma0.5.py', None),
    ('detection_sigma1', 'sbl_r18_detection_sigma1.py', None),
    ('detection_sigma3', 'sbl_r18_detection_sigma3.py', None),
)
#: the control of the pretraining: detection from seeded weights alone
SCRATCH = ('detection_scratch', 'sbl_r18_detection.py', None)
PRETRAIN_CONFIG = osp.join(REPO, 'configs', 'synthetic',
                           'pretrain_r18_silhouette.py')
SEEDED = ('detection', 'integral', 'integral_kl2')
#: the integral baseline's A(1) threshold of Table V (localised / dispersed)
TABLE5_A1 = 0.34


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', default='data/synthetic_coco_3k')
    parser.add_argument('--work-dir', default='work_dirs/study')
    parser.add_argument('--doc', default='docs/reproduction.md')
    parser.add_argument('--num-train', type=positive_int, default=3000)
    parser.add_argument('--num-val', type=positive_int, default=200)
    parser.add_argument('--epochs', type=at_least_four, default=10,
                        help='epochs per run (at least 4: two lr drops and a '
                        'last quarter after them)')
    parser.add_argument('--pretrain-epochs', type=non_negative_int, default=6,
                        help='epochs of the neutral backbone pretraining '
                        '(0: none, every run from seeded weights alone)')
    parser.add_argument('--seeds', type=positive_int, default=2,
                        help='seeds of detection, integral, integral_kl2')
    parser.add_argument('--budget', type=float, default=120,
                        help='minutes: no run starts that is not expected '
                        'to finish within them (pretraining included)')
    parser.add_argument('--reuse-only', action='store_true',
                        help='start no run: write the document from the runs '
                        'already finished (for a study cut short)')
    return parser.parse_args()


def at_least_four(text: str) -> int:
    """``--epochs``: the recipe's two lr drops and the last quarter after
    them need at least 4 epochs."""
    value = positive_int(text)
    if value < 4:
        raise argparse.ArgumentTypeError(
            f'must be at least 4 (two lr drops, then the last quarter of '
            f'training), got {value}')
    return value


def plan(args, backbone: str | None) -> list:
    """The runs in priority order: Table 1's three seeded variants, the
    Fig. 2(d) sweep, the pretraining's control, then the prior sweep."""
    detection = osp.join(REPO, 'configs', 'synthetic', TABLE1[0][1])
    init_dir = osp.join(args.work_dir, 'init')

    def spec(name, config, seed, pretrained=True):
        weights = initial_weights(detection, seed, init_dir,
                                  backbone=backbone if pretrained else None)
        return RunSpec(name, osp.join(REPO, 'configs', 'synthetic', config),
                       epochs=args.epochs, seed=seed,
                       cfg_options=synthetic_data_options(args.data_root),
                       load_from=weights)
    specs = [spec(n, c, s) for s in range(args.seeds)
             for n, c, _ in TABLE1[:3]]
    specs += [spec(n, c, 0) for n, c, _ in FIG2D]
    if backbone is not None:
        specs.append(spec(SCRATCH[0], SCRATCH[1], 0, pretrained=False))
    specs += [spec(n, c, 0) for n, c, _ in TABLE1[3:]]
    return specs


def derived(result: dict, name: str, compute, what: str):
    """A file derived from one run's model, cached in the run's folder.

    Tagged with the run's settings key: a file of another training of the
    same folder is never reused, and an unreadable one is redone.

    Args:
        result (dict): the run's result.
        name (str): file name in the run's folder.
        compute (callable): ``compute(result) -> dict | None`` (None: failed,
            not cached, retried by the next invocation).
        what (str): what the file holds, for messages.
    """
    out_file = osp.join(result['work_dir'], name)
    cached = read_json_or_none(out_file, what)
    if cached and cached.get('settings_key') == result['settings_key']:
        return cached['stats']
    stats = compute(result)
    if stats is not None:
        write_json_atomic(out_file, dict(settings_key=result['settings_key'],
                                         checkpoint=result['checkpoint'],
                                         stats=stats))
    return stats


def _run_heatmap_stats_tool(result: dict) -> dict | None:
    # The run's dumped config holds its data paths; the tool switches to
    # ground-truth boxes itself.
    with tempfile.TemporaryDirectory(dir=result['work_dir']) as tmp:
        done = subprocess.run([
            sys.executable, osp.join(REPO, 'tools', 'analysis',
                                     'heatmap_stats.py'),
            osp.join(result['work_dir'], osp.basename(result['config'])),
            result['checkpoint'], '--out-dir', tmp, '--label',
            result['name'], '--normalize', 'sum', '--num-workers', '0'
        ], stdout=subprocess.DEVNULL)
        stats = read_json_or_none(osp.join(tmp, 'heatmap_stats.json'),
                                  'heatmap statistics')
    if done.returncode or stats is None:
        # Not fatal: the study goes on, and the next invocation retries.
        print(f'tools/analysis/heatmap_stats.py failed on '
              f'{result["work_dir"]} (exit {done.returncode}); its '
              'statistics are left out of this report.')
        return None
    return stats


def heatmap_stats(result: dict) -> dict | None:
    """The analysis toolkit's statistics of one model, on ground-truth boxes
    (tools/analysis/heatmap_stats.py: A(s), chi-square fits, E_de, E_re)."""
    return derived(result, 'heatmap_stats.json', _run_heatmap_stats_tool,
                   'heatmap statistics')


def _collect_instance_stats(result: dict) -> dict:
    from mmengine.config import Config
    from mmengine.runner import Runner
    from mmpose.apis import init_model

    from mmipr.analysis.instance_stats import collect_instance_stats
    cfg = Config.fromfile(osp.join(result['work_dir'],
                                   osp.basename(result['config'])))
    loader = cfg.test_dataloader
    loader.dataset.bbox_file = None  # ground-truth boxes
    loader.update(batch_size=64, num_workers=0, persistent_workers=False)
    model = init_model(cfg, result['checkpoint'], device='cpu')
    model.test_cfg['output_heatmaps'] = True
    return collect_instance_stats(model, Runner.build_dataloader(loader))


def instance_stats(result: dict) -> dict:
    """Per-instance OKS and A(1), A(2) on ground-truth boxes (Table V)."""
    return derived(result, 'instance_stats.json', _collect_instance_stats,
                   'per-instance statistics')


def commit() -> str:
    try:
        sha = subprocess.check_output(['git', 'rev-parse', 'HEAD'], cwd=REPO,
                                      text=True).strip()
        dirty = subprocess.check_output(['git', 'status', '--porcelain',
                                         '--untracked-files=no'],
                                        cwd=REPO, text=True).strip()
        return sha + (' (with uncommitted changes)' if dirty else '')
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'


def main() -> None:
    args = parse_args()
    start = time.perf_counter()
    # Before anything is written: the study's own outputs (docs/) must not
    # count as uncommitted changes.
    args.commit = commit()
    ensure_synthetic_coco(args.data_root, num_train=args.num_train,
                          num_val=args.num_val, seed=0, workers=2)
    args.pretraining, backbone = None, None
    if args.pretrain_epochs > 0:
        backbone, args.pretraining = pretrained_backbone(
            PRETRAIN_CONFIG, args.data_root, args.pretrain_epochs,
            allow_training=not args.reuse_only)
        if not args.pretraining['reused']:
            print(f'pretrained the backbone in '
                  f'{args.pretraining["train_seconds"] / 60:.1f} min: '
                  f'{backbone}')
    specs = plan(args, backbone)
    with tempfile.TemporaryDirectory() as probe_dir:
        per_run = iterations_per_run(build_config(specs[0], probe_dir))
    results, skipped, stats = [], [], {}
    with tqdm(total=per_run * len(specs), desc='study', unit='it',
              dynamic_ncols=True) as progress:
        # The estimate of a run's minutes: the longest run so far, reused
        # ones included (their recorded wall time).
        finished = {s.run_id: finished_result(s, args.data_root,
                                              args.work_dir) for s in specs}
        longest = max([r['wall_seconds'] / 60 for r in finished.values()
                       if r and 'wall_seconds' in r], default=0.0)
        for spec in specs:
            if finished[spec.run_id] is None and (
                    args.reuse_only or (time.perf_counter() - start) / 60
                    + longest > args.budget):
                skipped.append(spec.run_id)
                progress.update(per_run)
                continue
            tic = time.perf_counter()
            results.append(run(spec, args.data_root, args.work_dir, progress))
            # right away: a study cut short keeps every finished model's
            stats[spec.run_id] = heatmap_stats(results[-1])
            if not results[-1].get('reused'):
                longest = max(longest, (time.perf_counter() - tic) / 60)
    minutes = (time.perf_counter() - start) / 60
    write_doc(args, results, stats, skipped, minutes)
    print(f'wrote {args.doc} ({minutes:.0f} min)')


#: Table 1: the shared-rule AP and the heatmap statistics on GT boxes
TABLE1_COLUMNS = (
    ('AP', 'coco/AP'),
    ('AP e/m', 'coco/easy_medium/AP'),
    ('AP h', 'coco/hard/AP'),
    ('A(2) e/m', 'hm/easy_medium/A(2)'),
    ('A(2) h', 'hm/hard/A(2)'),
)
OWN_COLUMNS = (
    ('AP', 'own/AP'),
    ('AP e/m', 'own/easy_medium/AP'),
    ('AP h', 'own/hard/AP'),
)
SPLITS = ('easy', 'medium', 'hard', 'easy_medium', 'all')


def merge_heatmap_stats(results: list, stats: dict) -> None:
    """Copy each run's heatmap statistics into its metrics, as
    ``hm/<split>/A(s)``, ``E_de``, ``E_re``, ``best_sigma``."""
    for result in results:
        entry = stats.get(result['run_id'])
        if not entry:
            continue
        for split in SPLITS:
            values = entry['splits'].get(split) or {}
            for s, a in enumerate(values.get('activation_sum') or []):
                result['metrics'][f'hm/{split}/A({s})'] = a
            for key in ('E_de', 'E_re', 'best_sigma'):
                if values.get(key) is not None:
                    result['metrics'][f'hm/{split}/{key}'] = values[key]


def convergence_table(results: list) -> str:
    """Each run's criterion, and the share of the gain made in the q epochs
    before the first lr drop (how fast AP still rose when the lr was cut)."""
    lines = ['| run | epochs | lr x0.1 after epochs | AP at T-q | AP at T '
             '| share of the gain in the last q epochs | criterion '
             '| share of the gain in the q epochs before the first drop |',
             '|' + ' --- |' * 8]
    for r in results:
        c = convergence(r)
        q = c['quarter']
        aps = [m.get('coco/AP', np.nan) for m in r['val_metrics']]
        before = aps[-1 - q] if len(aps) > q else np.nan
        drops = r.get('lr_drop_epochs') or [r.get('lr_drop_epoch') or 0]
        drop = drops[0]
        pre = ((aps[drop - 1] - (aps[drop - 1 - q] if drop > q else 0.0))
               / aps[-1] if 0 < drop <= len(aps) and aps[-1] > 0 else np.nan)
        lines.append(
            f"| {r['run_id']} | {len(aps)} | {', '.join(map(str, drops))} "
            f"| {before:.3f} | {aps[-1]:.3f} | {c['share']:.1%} | "
            f"{'met' if c['met'] else '**not met**'} | {pre:.1%} |")
    return '\n'.join(lines)


def sigma_fit_table(by_name: dict) -> str:
    """Fig. 2(c) / App. A.3: mean Pearson chi-square per sigma and the best
    sigma, per split (window 4 for easy/medium, 8 for hard)."""
    lines, header_done = [], False
    for name, runs in by_name.items():
        stats = runs[0].get('heatmap_stats')
        if not stats:
            continue
        for split in ('easy_medium', 'hard'):
            entry = stats['splits'][split]
            window = str(entry['window'])
            if not header_done:
                lines = ['| variant | split | window s | ' + ' | '.join(
                    f'sigma {g:g}' for g in entry['sigmas'])
                    + ' | best sigma |',
                    '|' + ' --- |' * (len(entry['sigmas']) + 4)]
                header_done = True
            chis = entry['chi_square'][window]
            lines.append(f'| {name} | {split} | {window} | ' + ' | '.join(
                '>1000' if c is None or not np.isfinite(c) or c > 1000
                else f'{c:.2f}' for c in chis)
                + f" | {entry.get('best_sigma')} |")
    return '\n'.join(lines) or '(no heatmap statistics)'


def activation_table(by_name: dict) -> str:
    """Fig. 2(b) / Fig. I: A(s) against s per split (seed 0)."""
    lines = ['| variant | split | ' + ' | '.join(
        f'A({s})' for s in range(10)) + ' |', '|' + ' --- |' * 12]
    for name, runs in by_name.items():
        stats = runs[0].get('heatmap_stats')
        if not stats:
            continue
        for split in ('easy', 'medium', 'hard'):
            a = stats['splits'][split].get('activation_sum') or []
            lines.append(f'| {name} | {split} | ' + ' | '.join(
                f'{v:.3f}' for v in a) + ' |')
    return '\n'.join(lines)


def epe_table(by_name: dict) -> str:
    """App. A.2: expected end-point errors of argmax (E_de) and expectation
    (E_re) decoding of the same heatmaps, per split."""
    lines = ['| variant | ' + ' | '.join(
        f'E_de {s} | E_re {s}' for s in ('easy', 'medium', 'hard'))
        + ' |', '|' + ' --- |' * 7]
    for name, runs in by_name.items():
        cells = []
        for split in ('easy', 'medium', 'hard'):
            for key in ('E_de', 'E_re'):
                mean, _ = report.summarize(runs, f'hm/{split}/{key}')
                cells.append(f'{mean:.2f}')
        lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def gradient_ratio_table(by_name: dict) -> str:
    """Table IV(b): log10 of the mean ratio of the prior's to the integral
    loss's gradient on the heatmap logits, per epoch (seed 0)."""
    rows = [(n, runs[0]['grad_ratios']) for n, runs in by_name.items()
            if runs[0].get('grad_ratios')]
    if not rows:
        return '(no run with a prior)'
    epochs = max(len(r) for _, r in rows)
    lines = ['| variant | ' + ' | '.join(
        f'epoch {e + 1}' for e in range(epochs)) + ' |',
        '|' + ' --- |' * (epochs + 1)]
    for name, ratios in rows:
        lines.append(f'| {name} | ' + ' | '.join(
            f'{np.log10(r):+.2f}' if r > 0 else '-' for r in ratios) + ' |')
    return '\n'.join(lines)


def table5(by_name: dict) -> tuple[str, int, int]:
    """Table V: localised against dispersed instances, split by the
    integral baseline's A(1) > 0.34 (seed 0 of each variant)."""
    from mmipr.analysis.instance_stats import split_by_localisation
    base = by_name.get('integral', [{}])[0].get('instance_stats')
    if not base:
        return '(the integral baseline was not run)', 0, 0
    localised, dispersed = split_by_localisation(base, TABLE5_A1)
    lines = ['| variant | A(2) e/m | AP e/m | A(2) h | AP h | A(2) l '
             '| mean OKS l | A(2) d | mean OKS d |',
             '|' + ' --- |' * 9]
    for name, runs in by_name.items():
        inst = runs[0].get('instance_stats')
        if not inst:
            continue

        def mean(ids, key):
            v = [inst[i][key] for i in ids if i in inst]
            v = [x for x in v if np.isfinite(x)]
            return float(np.mean(v)) if v else float('nan')
        m = runs[0]['metrics']
        lines.append(
            f"| {name} | {m.get('hm/easy_medium/A(2)', np.nan):.3f} | "
            f"{m.get('coco/easy_medium/AP', np.nan):.3f} | "
            f"{m.get('hm/hard/A(2)', np.nan):.3f} | "
            f"{m.get('coco/hard/AP', np.nan):.3f} | "
            f"{mean(localised, 'A(2)'):.3f} | {mean(localised, 'oks'):.3f} | "
            f"{mean(dispersed, 'A(2)'):.3f} | {mean(dispersed, 'oks'):.3f} |")
    return '\n'.join(lines), len(localised), len(dispersed)


def rule_dependence(by_name: dict) -> str:
    """The claims whose verdict differs between the two scoring rules."""
    shared = claim_rows(by_name, spread(by_name), 'coco')
    own = claim_rows(by_name, spread(by_name, 'own/AP'), 'own')
    changed = [(a[0], a[3], b[3]) for a, b in zip(shared, own)
               if a[3] != b[3]]
    if not changed:
        return ('No verdict depends on the scoring rule: every claim gets '
                'the same verdict under each head\'s own keypoint scores.')
    return ('Verdicts that depend on the scoring rule (shared rule -> own '
            'scores): ' + '; '.join(f'"{t}": {a} -> {b}'
                                    for t, a, b in changed) + '.')


def write_doc(args, results, stats, skipped, minutes) -> None:
    fig_dir = osp.join(osp.dirname(args.doc), 'figures')
    os.makedirs(fig_dir, exist_ok=True)
    merge_heatmap_stats(results, stats)
    for result in results:
        result['heatmap_stats'] = stats.get(result['run_id'])
        if result['seed'] == 0 and result['name'] in [n for n, _, _ in
                                                      TABLE1]:
            result['instance_stats'] = instance_stats(result)
    by_name = report.group_by_variant(results)
    table1 = [r for n, _, _ in TABLE1 for r in by_name.get(n, [])]
    fig2d = [r for n in ('detection_sigma0.5', 'detection_sigma1',
                         'detection', 'detection_sigma3')
             for r in by_name.get(n, [])]
    main3 = [r for n in SEEDED for r in by_name.get(n, [])]
    table1_by_name = report.group_by_variant(table1)
    figures = dict(
        curves=report.plot_curves(main3, osp.join(fig_dir, 'study_curves.png')),
        bars=report.plot_difficulty_bars(
            table1, osp.join(fig_dir, 'study_difficulty.png')),
        activation=plot_activation_sums(
            table1_by_name, osp.join(fig_dir, 'study_activation_sums.png')))
    paper = {n: ap for n, _, ap in TABLE1}
    noise = spread(by_name)
    rel = lambda p: osp.relpath(p, osp.dirname(args.doc))  # noqa: E731
    command = ' '.join(['python', 'tools/reproduce.py'] + sys.argv[1:])
    reused = [r for r in results if r.get('reused', False)]
    run_minutes = sum(r['wall_seconds'] for r in results) / 60
    train_minutes = sum(r['train_seconds'] for r in results) / 60
    reuse_note = (
        f' It reused {len(reused)} of its {len(results)} runs, finished by '
        'an earlier invocation with identical settings (config, data file '
        'contents, starting weights, mmipr version).'
        if reused else f' It trained {len(results)} runs.')
    converged = [r for r in results if convergence(r)['met']]
    table5_text, n_loc, n_disp = table5(table1_by_name)
    lines = [
        '# Reproduction on the synthetic dataset',
        '',
        f'Produced by `{command}` at commit {args.commit} on a 2-core CPU '
        f'machine; this invocation took {minutes:.0f} minutes.{reuse_note} '
        f'The runs took {run_minutes:.0f} minutes (training, per-epoch '
        f'validation; {train_minutes:.0f} minutes in training iterations), '
        'plus the heatmap statistics. Every number below is read from those '
        f'runs (`{args.work_dir}/*/result.json`, `heatmap_stats.json`, '
        '`instance_stats.json`).',
        '',
        '## Setup',
        '',
        f'- Data: `tools/dataset/make_synthetic_coco.py`, {args.num_train} '
        f'train / {args.num_val} val images, seed 0 '
        f'({report.split_counts_line(results)}).',
        '- Models: `configs/synthetic/`: ResNet-18 at half width, 128x96 '
        'input, four deconvolutions (64, 64, 32, 32 channels) to the '
        'paper\'s 64x48 heatmaps, so every sigma (0.5-4), window (A(s); '
        's = 4 and 8 for chi-square) and grid is the paper\'s own number.',
        f'- One recipe for every variant: {args.epochs} epochs, batch 32, '
        f'Adam {optimizer_lr(results):g} (fused), lr x0.1 after epochs '
        f'{" and ".join(map(str, lr_drops(args.epochs)))} (MMPose\'s '
        'two drops, as at 170 and 200 of 210 epochs, placed so that the '
        'convergence criterion\'s last quarter follows the second), '
        'bfloat16 autocast, channels-last, images decoded once in the main '
        'process.',
        starting_weights_line(args),
        '- Fairness conventions: detection targets are Gaussians centred on '
        'the exact sub-pixel keypoint (`unbiased=True`, hence DARK '
        'decoding), as the prior is; the L1 loss (`VisibleL1Loss`) and the '
        'prior are averaged over the same visible joints; the prior weight '
        'is 1:1 with the L1 at initialisation (`KLPriorLoss`, 0.0525).',
        '- Evaluation: DifficultySplitCocoMetric on the dataset\'s detected '
        'boxes, every epoch. **Table-1 AP uses one scoring rule for every '
        'head: an instance is ranked by its box score** (MMPose\'s '
        '`score_mode=\'bbox\'`), so AP measures localisation alone; a '
        'second table gives AP under each head\'s own keypoint scores '
        '(`score_mode=\'bbox_keypoint\'`: ArgmaxHead the heatmap maximum, '
        'IntegralHead A(2)). A(s), chi-square fits and E_de/E_re come from '
        '`tools/analysis/heatmap_stats.py` on ground-truth boxes '
        '(detection heatmaps: positive part over its sum).',
        f'- Seeds: {args.seeds} for {", ".join(SEEDED)}; one for the rest. '
        f'Seed spread of AP (largest std over seeds among those three): '
        f'{noise:.3f}; each claim\'s tolerance is that spread for its own '
        'metric, and a difference within it is called a tie.',
        '',
        '## Convergence',
        '',
        'Criterion: with T epochs and q = round(T/4), the val AP gained over '
        'the last q epochs (all after the last lr drop) is at most '
        f'{CONVERGENCE_MAX_SHARE:.0%} of the AP gained over the whole run '
        f'(from 0). {len(converged)} of {len(results)} runs meet it'
        + ('.' if len(converged) == len(results) else
           '; the others are still improving at the end, and their numbers '
           'describe models short of convergence.'),
        '',
        convergence_table(results),
        '',
        'The last column is how fast AP still rose before the first lr '
        'drop: where it is large, the schedule ended the rise, so a met '
        'criterion says that training stopped improving under this recipe, '
        'not that a longer one would not do better.',
        '',
        scratch_section(by_name) if args.pretraining else
        'No pretraining (`--pretrain-epochs 0`): every run starts from '
        'seeded weights alone.',
        '',
        '## Table 1 (paper: COCO, SBL-R50; here: synthetic, small ResNet-18)',
        '',
        'AP under the shared rule (box score); A(2) on ground-truth boxes:',
        '',
        report.comparison_table(table1, TABLE1_COLUMNS),
        '',
        'Paper AP (COCO): ' + ', '.join(
            f'{n} {ap}' for n, ap in paper.items()) + '.',
        '',
        'The same models under each head\'s own keypoint scores:',
        '',
        report.comparison_table(table1, OWN_COLUMNS),
        '',
        rule_dependence(by_name),
        '',
        f'![per-difficulty]({rel(figures["bars"])})',
        '',
        '## Fig. 2(b) and Fig. I: activation sums A(s) against s',
        '',
        activation_table(table1_by_name),
        '',
        f'![activation sums]({rel(figures["activation"])})',
        '',
        '## Fig. 2(c) and App. A.3: best-fit sigma by Pearson chi-square',
        '',
        'Mean chi-square of the heatmap against Gaussian templates on the '
        'paper\'s grid, in the paper\'s windows (s = 4 easy/medium, 8 hard); '
        'the best sigma is the least.',
        '',
        sigma_fit_table(table1_by_name),
        '',
        '## Fig. 2(d): detection trained with different sigmas',
        '',
        report.comparison_table(fig2d, TABLE1_COLUMNS),
        '',
        '## Fig. 4(b): convergence',
        '',
        f'![curves]({rel(figures["curves"])})',
        '',
        '## Table IV(b): prior-to-integral gradient ratio over training',
        '',
        'log10 of the mean ratio ||dL_prior/dh|| / ||dL_integral/dh|| per '
        'epoch (`PriorGradientRatioHook`, every 25 iterations; 0 means 1:1).',
        '',
        gradient_ratio_table(table1_by_name),
        '',
        '## Table V: localised against dispersed instances',
        '',
        f'Instances split by the integral baseline\'s A(1) > {TABLE5_A1} '
        f'(ground-truth boxes): {n_loc} localised (l), {n_disp} dispersed '
        '(d). The paper reports AP per group; a per-instance group has no '
        'box-score ranking of its own here, so the group columns give the '
        'mean OKS of each instance\'s prediction on its ground-truth box.',
        '',
        table5_text,
        '',
        '## App. A.2: E_de >= E_re',
        '',
        epe_table(report.group_by_variant(table1)),
        '',
        '## The paper\'s claims on this data (shared scoring rule)',
        '',
        claims_table(by_name, noise),
        '',
        '## Where the synthetic data differs from COCO',
        '',
        '- People are articulated 2D stick-and-blob figures with exact '
        'labels: no annotation noise, no ambiguity of a joint\'s position, '
        'so the localisation error floor is lower than on COCO.',
        '- Difficulty is set by design: each factor\'s hard / medium / easy '
        'levels hold about 25 / 30 / 45 % of the val instances, and a '
        'person\'s three factors share one level 80 % of the time.',
        '- Left and right are told apart only by shading (the far side is '
        'darker) and the face.',
        '- Small models trained for minutes on thousands of crops'
        + (' (from a backbone pretrained for minutes on silhouettes of the '
           'same images)' if args.pretraining else ' from initialisation')
        + ', not ImageNet-pretrained ResNet-50 for 210 epochs on 150k: '
        'absolute AP is not comparable with the paper\'s.',
    ]
    if skipped:
        why = ('not finished by an earlier invocation (--reuse-only: an '
               'invocation stopped by its --budget, or cut short)'
               if args.reuse_only else 'not run within the budget')
        lines += ['', f'Left out, {why}: {", ".join(skipped)}.']
    with open(args.doc, 'w') as f:
        f.write('\n'.join(lines) + '\n')


def plural(count: int, noun: str) -> str:
    """``'1 epoch'``, ``'6 epochs'``."""
    return f'{count} {noun}' + ('' if count == 1 else 's')


def starting_weights_line(args) -> str:
    """The setup's line on the starting weights and the pretraining."""
    common = ('every variant of a seed starts from the same network '
              '(`initial_weights`: the detection model built under that seed, '
              'the heads\' layers being identical), so the variants differ '
              'only in decoding and supervision.')
    record = args.pretraining
    if record is None:
        return ('- Starting weights: no ImageNet here and no pretraining '
                f'(`--pretrain-epochs 0`): {common}')
    losses = record['epoch_losses']
    return (
        '- Starting weights: no ImageNet here; as its stand-in, the backbone '
        'was pretrained once on a task neutral to both heads, segmenting the '
        'person of each top-down crop (the generator\'s silhouette polygons '
        'at 64x48, binary cross-entropy; '
        '`configs/synthetic/pretrain_r18_silhouette.py`, '
        f'{plural(record["epochs"], "epoch")} of the train split, '
        f'{record["train_seconds"] / 60:.1f} min of training iterations, '
        f'loss {losses[0]:.3f} in its first epoch and {losses[-1]:.3f} in '
        f'its last; settings key {record["settings_key"]}'
        + (', reused from the cache' if record['reused'] else '')
        + '). Only its backbone is kept; the heads start seeded. Then '
        + common)


def scratch_section(by_name: dict) -> str:
    """What the pretraining is worth: detection from it against detection
    from the seeded weights alone, the same seed and recipe."""
    scratch = by_name.get(SCRATCH[0], [])
    pretrained = [r for r in by_name.get('detection', []) if r['seed'] == 0]
    if not scratch or not pretrained:
        return ('The pretraining\'s control (detection from seeded weights '
                'alone) was not run.')
    curves = {name: [m.get('coco/AP', np.nan) for m in r['val_metrics']]
              for name, r in (('pretrained backbone', pretrained[0]),
                              ('from scratch', scratch[0]))}
    epochs = max(len(c) for c in curves.values())
    lines = [
        'What the pretraining is worth: `detection_seed0` against '
        '`detection_scratch_seed0` (the same seed, head weights and recipe; '
        'only the backbone\'s starting weights differ). Val AP (shared rule) '
        'per epoch:',
        '',
        '| start | ' + ' | '.join(f'epoch {e + 1}' for e in range(epochs))
        + ' |',
        '|' + ' --- |' * (epochs + 1)]
    for name, curve in curves.items():
        lines.append(f'| {name} | ' + ' | '.join(f'{v:.3f}' for v in curve)
                     + ' |')
    return '\n'.join(lines)


def optimizer_lr(results: list) -> float:
    """The learning rate the runs trained with (from their dumped config)."""
    from mmengine.config import Config
    first = results[0]
    return Config.fromfile(osp.join(first['work_dir'], osp.basename(
        first['config']))).optim_wrapper.optimizer.lr


def plot_activation_sums(by_name: dict, out_file: str) -> str:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), sharey=True)
    for ax, split in zip(axes, ('easy', 'medium', 'hard')):
        for name, runs in by_name.items():
            stats = runs[0].get('heatmap_stats')
            if stats and stats['splits'][split].get('activation_sum'):
                ax.plot(stats['splits'][split]['activation_sum'], marker='o',
                        ms=3, label=name)
        ax.set(title=f'A(s), {split}', xlabel='s (heatmap px)')
        ax.grid(alpha=0.3)
    axes[0].set_ylabel('activation sum')
    axes[-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_file, dpi=110)
    plt.close(fig)
    return out_file


if __name__ == '__main__':
    main()
