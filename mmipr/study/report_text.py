"""The study's document: its prose around the tables and figures
(``docs/reproduction.md``, written by :func:`write_study_document`)."""
from __future__ import annotations

import os
import os.path as osp
import re

import numpy as np
from mmengine.config import Config

from .claims import (
    claim_rows,
    claims_table,
    judged,
    parse_claims,
    saturation_rows,
    spread,
    verdict_changes,
)
from .figures import plot_activation_sums, plot_curves, plot_difficulty_bars
from .ledger import SATURATION_TOLERANCE, SOURCE_ROOT, committed_text
from .plan import (
    BEYOND,
    DOUBLE_VARIANTS,
    EARLY_STUDY,
    MMPOSE_INTEGRAL_AP,
    PRETRAIN_CONFIG,
    PRETRAIN_TASK,
    SCRATCH,
    SEEDED,
    TABLE1,
    TABLE5_A1,
    TARGET_AP,
    StudySettings,
    half_epochs,
    synthetic_config,
)
from .report import comparison_table, group_by_variant, split_counts_line
from .runs import VALIDATIONS_PER_RUN, lr_drops, val_interval
from .tables import (
    OWN_COLUMNS,
    TABLE1_COLUMNS,
    activation_table,
    doubling_gains,
    doubling_text,
    epe_table,
    gradient_ratio_table,
    length_curves,
    length_table,
    rule_dependence,
    saturation_table,
    scratch_section,
    sigma_fit_table,
    table5,
)


def write_study_document(settings: StudySettings, pretraining: dict | None,
                         commit: str, runs: list, skipped: dict,
                         minutes: float, stale: dict | None = None) -> None:
    """Write the study's document (``settings.doc``) and its figures
    (``figures/<document name>/`` beside it) from the ledger's records
    alone.

    Args:
        settings (StudySettings): the invocation.
        pretraining (dict, optional): the pretraining's record (None: no
            pretraining).
        commit (str): the commit the study ran at.
        runs (list[dict]): the records' results
            (:func:`~mmipr.study.records.record_result`), the runs of other
            lengths (T // 2: the saturation pairs; T // 4, 2T: AP against
            training length) included.
        skipped (dict): run id -> why it was left out.
        minutes (float): this invocation's minutes.
        stale (dict, optional): run id -> why its record was stale (it was
            retrained, or is among ``skipped``).
    """
    stale = stale or {}
    # one folder per document: two documents in one folder keep their own
    fig_dir = osp.join(osp.dirname(settings.doc), 'figures',
                       osp.splitext(osp.basename(settings.doc))[0])
    os.makedirs(fig_dir, exist_ok=True)
    results = [r for r in runs if r['epochs'] == settings.epochs]
    halves = [r for r in runs if r['epochs'] == half_epochs(settings.epochs)]
    by_name = group_by_variant(results)
    table1 = [r for n, _, _ in TABLE1 for r in by_name.get(n, [])]
    fig2d = [r for n in ('detection_sigma0.5', 'detection_sigma1',
                         'detection', 'detection_sigma3')
             for r in by_name.get(n, [])]
    main3 = [r for n in SEEDED for r in by_name.get(n, [])]
    beyond = [r for n in ('integral', 'integral_kl2') + tuple(
        n for n, _, _ in BEYOND) for r in by_name.get(n, [])]
    table1_by_name = group_by_variant(table1)
    figures = dict(
        curves=plot_curves(main3, osp.join(fig_dir, 'study_curves.png')),
        bars=plot_difficulty_bars(
            table1, osp.join(fig_dir, 'study_difficulty.png')),
        activation=plot_activation_sums(
            table1_by_name, osp.join(fig_dir, 'study_activation_sums.png')))
    paper = {n: ap for n, _, ap in TABLE1}
    noise = spread(by_name)
    rel = lambda p: osp.relpath(p, osp.dirname(settings.doc))  # noqa: E731
    command = settings.command
    reused = [r for r in runs if r.get('reused', False)]
    run_minutes = sum(r['wall_seconds'] for r in runs) / 60
    train_minutes = sum(r['train_seconds'] for r in runs) / 60
    reuse_note = (
        f' It reused {len(reused)} of its {len(runs)} runs from the ledger '
        '(records whose settings key matches: config, data file contents, '
        'starting weights, study version), trained '
        f'{len(runs) - len(reused)}.'
        if reused else f' It trained {len(runs)} runs.')
    if skipped:
        reuse_note += (f' **{len(skipped)} planned runs have no current record '
                       'yet** and are left out (listed at the end): where a '
                       'table or claim needs one, it shows "-" or "not '
                       'measured".')
    saturation = saturation_rows(by_name, halves, noise)
    judged = [r for r in saturation if r['saturated'] is not None]
    table5_text, n_loc, n_disp = table5(table1_by_name)
    lines = [
        '# Reproduction on the synthetic dataset',
        '',
        f'Produced by `{command}` at commit {commit}; this invocation took '
        f'{minutes:.0f} minutes.{reuse_note} '
        f'The runs took {run_minutes:.0f} minutes (training and validation; '
        f'{train_minutes:.0f} minutes in training iterations) on the '
        f'machines their records name ({core_hours_text(runs)}), plus the '
        'heatmap statistics. Every '
        'number below is read from the ledger, one record per run '
        f'(`{shown_path(settings.ledger_dir)}/<run_id>.json`, each with its '
        'commit, '
        'settings key and machine).',
        '',
        stale_text(stale, skipped),
        '',
        '## Setup',
        '',
        f'- Data: `tools/dataset/make_synthetic_coco.py`, {settings.num_train} '
        f'train / {settings.num_val} val images, seed 0 '
        f'({split_counts_line(results)}).',
        '- Models: `configs/synthetic/`: ResNet-18 at half width, 128x96 '
        'input, four deconvolutions (64, 64, 32, 32 channels) to the '
        'paper\'s 64x48 heatmaps, so every sigma (0.5-4), window (A(s); '
        's = 4 and 8 for chi-square) and grid is the paper\'s own number.',
        f'- One recipe for every variant: {settings.epochs} epochs, batch 32, '
        f'Adam {runs[0]["lr"]:g} (fused), a linear warm-up, lr x0.1 after '
        f'epochs {" and ".join(map(str, lr_drops(settings.epochs)))} '
        '(MMPose\'s schedule shape: 170/210 and 200/210 of training, '
        'rounded to whole epochs, the second at most T - 1, the first '
        'before it; `mmipr.study.runs.lr_drops`), validation every '
        f'{val_interval(settings.epochs)} epochs and after the last (about '
        f'{VALIDATIONS_PER_RUN} points per curve), '
        f'{precision(runs[0]["config"])}, channels-last weights, images '
        'decoded once in the main process.',
        starting_weights_line(pretraining),
        '- Fairness conventions: detection targets are Gaussians centred on '
        'the exact sub-pixel keypoint (`unbiased=True`, hence DARK '
        'decoding), as the prior is; the L1 loss (`VisibleL1Loss`) and the '
        'prior are averaged over the same visible joints; the prior weight '
        'is 1:1 with the L1 at initialisation (`KLPriorLoss`, 0.0525).',
        '- Evaluation: DifficultySplitCocoMetric on the dataset\'s detected '
        'boxes, at the validated epochs. **Table-1 AP uses one scoring rule for every '
        'head: an instance is ranked by its box score** (MMPose\'s '
        '`score_mode=\'bbox\'`), so AP measures localisation alone; a '
        'second table gives AP under each head\'s own keypoint scores '
        '(`score_mode=\'bbox_keypoint\'`: ArgmaxHead the heatmap maximum, '
        'IntegralHead A(2)). A(s), chi-square fits and E_de/E_re come from '
        '`tools/analysis/heatmap_stats.py` on ground-truth boxes '
        '(detection heatmaps: positive part over its sum).',
        f'- Seeds: {settings.seeds} for {", ".join(SEEDED)}; one for the rest. '
        f'Seed spread of AP (largest std over seeds among those three): '
        f'{noise:.3f}; each claim\'s tolerance is that spread for its own '
        'metric, and a difference within it is called a tie.',
        '',
        '## Saturation: trained to capacity?',
        '',
        'Criterion: a variant is trained to capacity at T epochs when its '
        'AP at T exceeds its AP at T/2 (the same schedule shape, the same '
        f'seed) by at most {SATURATION_TOLERANCE:.0%} relative, or by less '
        'than the seed spread. Both runs end with the same lr drops, so a '
        'run that is still learning gains from the doubled length. '
        f'{sum(bool(r["saturated"]) for r in judged)} of {len(judged)} '
        'judged variants saturated'
        + ('.' if len(judged) == len(saturation) else
           '; a variant without a T/2 run is not judged.'),
        '',
        saturation_table(saturation),
        '',
        '## AP against training length: the target regime',
        '',
        target_regime_text(runs, settings.first_seed, settings.num_train),
        '',
        scratch_section(by_name) if pretraining else
        'No pretraining (`--pretrain-epochs 0`): every run starts from '
        'seeded weights alone.',
        '',
        '## Table 1 (paper: COCO, SBL-R50; here: synthetic, small ResNet-18)',
        '',
        'AP under the shared rule (box score); A(2) on ground-truth boxes:',
        '',
        comparison_table(table1, TABLE1_COLUMNS),
        '',
        'Paper AP (COCO): ' + ', '.join(
            f'{n} {ap}' for n, ap in paper.items()) + '.',
        '',
        'The same models under each head\'s own keypoint scores:',
        '',
        comparison_table(table1, OWN_COLUMNS),
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
        comparison_table(fig2d, TABLE1_COLUMNS),
        '',
        '## Beyond the paper: the alternatives MMPose users have',
        '',
        'MMPose publishes integral models on COCO val2017 (ResNet-50, '
        '256x256, from a heatmap model): '
        + ', '.join(f'{k} {v}' for k, v in MMPOSE_INTEGRAL_AP.items())
        + ' AP. Their ideas in the regime of Table 1 (same data, recipe, '
        'start, seed 0 and scoring rule): integral regression debiased as '
        'Gu et al. 2021 derive it (`integral_gu2021`), with DSNT\'s '
        'Jensen-Shannon prior (`integral_js2`, sigma 2), and with MMPose\'s '
        'debias formula plus the paper\'s KL prior (`integral_debias_kl2`); '
        'integral regression and the KL prior (sigma 2) for reference. '
        'Their verdicts are in the claims below.',
        '',
        comparison_table(beyond, TABLE1_COLUMNS),
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
        epe_table(group_by_variant(table1)),
        '',
        '## The paper\'s claims on this data (shared scoring rule)',
        '',
        claims_table(by_name, noise),
        '',
        '## Against the early-training study',
        '',
        early_study_text(claim_rows(by_name, noise)),
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
        + (' (from a backbone pretrained for minutes on the body parts of '
           'the same images)' if pretraining else ' from initialisation')
        + ', not ImageNet-pretrained ResNet-50 for 210 epochs on 150k: '
        'absolute AP is not comparable with the paper\'s.',
    ]
    if skipped:
        lines += ['', 'Left out:', '']
        lines += [f'- `{run_id}`: {why}' for run_id, why in skipped.items()]
    with open(settings.doc, 'w') as f:
        f.write('\n'.join(lines) + '\n')


def target_regime_text(runs: list[dict], seed: int, num_train: int) -> str:
    """AP against training length (seed ``seed``) set against the target
    regime (:data:`~mmipr.study.plan.TARGET_AP`): the table, where
    detection's curve flattens or how far it is from flat, and what stands
    between it and the target (``num_train``: the train images)."""
    table = length_table(runs, SEEDED + (SCRATCH[0], ), seed)
    name = DOUBLE_VARIANTS[0]
    ap = length_curves(runs, [name], seed).get(name)
    if not ap:
        return f'No run of {name} under seed {seed}: no curve.'
    em = length_curves(runs, [name], seed, 'coco/easy_medium/AP')[name]
    longest = max(ap)
    target = (f'AP >= {TARGET_AP["coco/AP"]:g} and AP e/m >= '
              f'{TARGET_AP["coco/easy_medium/AP"]:g}')
    met = (ap[longest] >= TARGET_AP['coco/AP']
           and em[longest] >= TARGET_AP['coco/easy_medium/AP'])
    lines = [
        f'AP / AP e/m (shared rule, seed {seed}) of each main variant, and '
        'of the pretraining\'s control (detection from seeded weights '
        'alone), at each training length it was run at, every length with '
        'MMPose\'s schedule shape.',
        '',
        table,
        '',
        f'The target regime is {name} {target} on this val split. '
        f'{name.capitalize()} reaches AP {ap[longest]:.3f} and AP e/m '
        f'{em[longest]:.3f} at T={longest}, its longest run: the target is '
        + ('met.' if met else 'not met.')]
    gains = doubling_gains(ap)
    if not gains:
        return '\n'.join(lines)
    steps = '; '.join(map(doubling_text, gains))
    flat = [g for g in gains if g['saturated']]
    lines += ['', f'Each doubling of T added to {name}\'s AP: {steps}.']
    if flat:
        lines[-1] += (f' The curve flattens at T={flat[0]["epochs"]}: '
                      f'doubling it gained at most {SATURATION_TOLERANCE:.0%}'
                      ', so length is no longer what holds it back.')
    elif not met:
        last = gains[-1]['gain']
        run = next(r for r in runs if r['name'] == name
                   and r['seed'] == seed and r['epochs'] == longest)
        needed = (max(0.0, TARGET_AP['coco/AP'] - ap[longest]) / last
                  if last > 0 else float('inf'))
        # the tolerance keeps an exact quotient from rounding up a doubling
        doublings = (int(np.ceil(needed - 1e-9)) if np.isfinite(needed)
                     else None)
        lines[-1] += (f' The curve has not flattened by T={longest}: the '
                      f'last doubling still gained '
                      f'{gains[-1]["relative"]:.0%}.')
        if doublings:
            epochs = longest * 2 ** doublings
            hours = run['train_seconds'] / run['epochs'] * epochs / 3600
            lines[-1] += (
                f' Even if every further doubling added as much as the last '
                f'({last:+.3f} AP; a flattening curve adds less), AP '
                f'{TARGET_AP["coco/AP"]:g} would take {doublings} more '
                f'doublings: T={epochs} epochs, about {hours:.0f} hours of '
                'training iterations at this run\'s rate on its machine.')
    lines += [
        '',
        'What stands between this regime and the target, besides length: '
        'the model (ResNet-18 at half width on 128x96 crops; the paper\'s '
        f'SBL uses ResNet-50 at 256x192), the data ({num_train} synthetic '
        'images against COCO\'s 150k instances) and the start (a backbone '
        'pretrained for minutes on the same images, where the paper starts '
        'from ImageNet). ' + start_worth(runs, name, seed)]
    return '\n'.join(lines)


def start_worth(runs: list[dict], name: str, seed: int) -> str:
    """What the pretrained start is worth to ``name``: its AP against the
    pretraining's control (:data:`~mmipr.study.plan.SCRATCH`) at the longest
    length both were run at, in words."""
    pretrained = length_curves(runs, [name], seed).get(name, {})
    scratch = length_curves(runs, [SCRATCH[0]], seed).get(SCRATCH[0], {})
    shared = sorted(set(pretrained) & set(scratch))
    if not shared:
        return ('The pretraining\'s control has no run of a length '
                f'{name} was run at: what the start is worth is not measured.')
    at = shared[-1]
    gain = pretrained[at] - scratch[at]
    return (f'At T={at}, {name} from the pretrained backbone reached AP '
            f'{pretrained[at]:.3f} and from seeded weights alone '
            f'{scratch[at]:.3f}: {gain:+.3f} AP for the pretraining.')


def early_study_text(rows: list) -> str:
    """Which verdicts (``rows``: :func:`~mmipr.study.claims.claim_rows`)
    changed from the early-training study (:data:`~mmipr.study.plan.
    EARLY_STUDY`, read from git), and how."""
    commit, path = EARLY_STUDY['commit'], EARLY_STUDY['path']
    where = f'`git show {commit[:7]}:{path}`'
    earlier = parse_claims(committed_text(commit, path) or '')
    if not earlier:
        return (f'The early-training study\'s document ({where}) is not in '
                'this checkout\'s history: no comparison.')
    both = [(t, earlier[t][1], now) for t, _, _, now in rows
            if t in earlier and judged(earlier[t][1]) and judged(now)]
    changed = [(t, old, now) for t, old, now in both if old != now]
    unmeasured = [t for t, _, _, now in rows
                  if t in earlier and judged(earlier[t][1])
                  and not judged(now)]
    lines = [
        f'The early-training study ({where}; {EARLY_STUDY["recipe"]}) '
        'judged the same claims. Its verdicts against this study\'s '
        '(changed ones in bold):',
        '',
        verdict_changes(rows, earlier),
        '',
        f'{len(both) - len(changed)} of the {len(both)} claims measured in '
        'both studies keep their verdict'
        + (': none changed (the measured columns show how far the numbers '
           'moved).' if not changed else
           f'; {len(changed)} changed, each because its difference crossed '
           'the tie tolerance (the measured columns): '
           + '; '.join(f'"{t}": {old} -> {now}' for t, old, now in changed)
           + '.')]
    if unmeasured:
        lines[-1] += (f' {plural(len(unmeasured), "claim")} measured there '
                      'have no run at this T yet, so their earlier verdicts '
                      'are neither confirmed nor overturned: '
                      + '; '.join(f'"{t}" (earlier: {earlier[t][1]})'
                                  for t in unmeasured) + '.')
    return '\n'.join(lines)


def core_hours_text(runs: list[dict]) -> str:
    """The runs' core-hours in words: wall time times the cores each
    record's machine names (``'..., 2 cores, ...'``)."""
    cores = [re.search(r'(\d+) cores', r.get('machine') or '') for r in runs]
    hours = sum(r['wall_seconds'] * int(c.group(1))
                for r, c in zip(runs, cores) if c) / 3600
    unknown = sum(c is None for c in cores)
    return (f'{hours:.1f} core-hours: wall time times the cores of each '
            'machine' + (f'; {plural(unknown, "run")} without a machine\'s '
                         'core count left out' if unknown else ''))


def plural(count: int, noun: str) -> str:
    """``'1 epoch'``, ``'6 epochs'``."""
    return f'{count} {noun}' + ('' if count == 1 else 's')


def starting_weights_line(record: dict | None) -> str:
    """The setup's line on the starting weights and the pretraining
    (``record``: the pretraining's, None without one)."""
    common = ('every variant of a seed starts from the same network '
              '(`initial_weights`: the detection model built under that seed, '
              'the heads\' layers being identical), so the variants differ '
              'only in decoding and supervision.')
    if record is None:
        return ('- Starting weights: no ImageNet here and no pretraining '
                f'(`--pretrain-epochs 0`): {common}')
    losses = record['epoch_losses']
    return (
        '- Starting weights: no ImageNet here; as its stand-in, the backbone '
        f'was pretrained once on a task neutral to both heads, {PRETRAIN_TASK} '
        f'(`configs/synthetic/{PRETRAIN_CONFIG}`, chosen in `docs/starts.md`, '
        f'{plural(record["epochs"], "epoch")} of the train split, '
        f'{record["train_seconds"] / 60:.1f} min of training iterations, '
        f'loss {losses[0]:.3f} in its first epoch and {losses[-1]:.3f} in '
        f'its last; settings key {record["settings_key"]}'
        + (', the committed `weights/` file' if record.get('committed')
           else ', reused from the cache' if record['reused'] else '')
        + '). Only its backbone is kept; the heads start seeded. Then '
        + common)


def stale_text(stale: dict, skipped: dict) -> str:
    """The stale records, named: retrained, or left out (never mixed in)."""
    if not stale:
        return 'No ledger record was stale.'
    lines = ['Stale ledger records (their settings key no longer matches; '
             'never mixed in):']
    lines += [f'- `{run_id}`: {why}; '
              + ('left out' if run_id in skipped else 'retrained')
              for run_id, why in stale.items()]
    return '\n'.join(lines)


def shown_path(path: str) -> str:
    """``path`` relative to the repository where it lies inside it (the
    document is committed; a machine's absolute path means nothing to its
    readers)."""
    full = osp.abspath(path)
    inside = full.startswith(SOURCE_ROOT.rstrip('/') + '/')
    return osp.relpath(full, SOURCE_ROOT) if inside else path


def precision(config: str) -> str:
    """The arithmetic a ``configs/synthetic`` config trains in, in words,
    read from its optimiser wrapper."""
    wrapper = Config.fromfile(synthetic_config(osp.basename(config))) \
        .optim_wrapper.get('type', 'OptimWrapper')
    if wrapper == 'OptimWrapper':
        return 'float32 (MMEngine\'s `OptimWrapper`)'
    return f'mixed precision (`{wrapper}`)'
