"""The paper's study on the synthetic dataset (``tools/reproduce.py``).

:func:`run_study` holds the work dir (:func:`~mmipr.study.workdir.
work_dir_lock`), sets up the data, the pretrained backbone and the initial
weights (:func:`~mmipr.study.setup.prepare`), then reads the ledger
(:class:`~mmipr.study.ledger.Ledger`) for each planned run
(:func:`~mmipr.study.plan.study_plan`): a record whose settings key matches
is reused as it is, on any machine and in any clone; a missing run, or one
whose record is stale (another key), is trained within the budget
(:func:`~mmipr.study.schedule.train_runs`). Right after a run finishes, the
statistics of its model are derived (:mod:`mmipr.study.derived`) and its
record written (:func:`~mmipr.study.records.make_record`), so the work dir
can be discarded. The document is written from the records alone
(:func:`~mmipr.study.report_text.write_study_document`), naming every stale
record.
"""
from __future__ import annotations

import os.path as osp
import time
from dataclasses import dataclass, field

from mmipr.engine.preflight import check_data_paths
from mmipr.utils.validation import InvalidArgumentError, check_number

from .derived import heatmap_stats, instance_stats, needs_instance_stats
from .ledger import Ledger, Lookup, source_commit
from .plan import MIN_EPOCHS_HINT, MIN_STUDY_EPOCHS, StudySettings, study_plan
from .records import make_record, record_result
from .report_text import shown_path, write_study_document
from .runs import RunSpec, build_config, settings_key
from .schedule import Schedule, train_runs, wall_minutes_per_epoch
from .setup import prepare
from .trained import TRAINED_VARIANTS, commit_trained
from .workdir import StudyError, work_dir_lock


class NoFinishedRunsError(StudyError):
    """No planned run was finished or trained: there is nothing to report."""


@dataclass
class StudyOutcome:
    """What :func:`run_study` did.

    Args:
        schedule (Schedule): the runs' results (reused records first
            counted as ``reused``) and those left out.
        minutes (float): minutes of this invocation.
        stale (dict): run id -> why its record was stale (it was retrained,
            or left out and named so).
    """

    schedule: Schedule
    minutes: float
    stale: dict = field(default_factory=dict)


def nothing_to_report(settings: StudySettings, skipped: dict) -> str:
    """Which runs were looked for, and why none could be used."""
    lines = [f'no run of the study has a current record in '
             f'{settings.ledger_dir} or was trained, so there is nothing to '
             f'report; looked for {len(skipped)} runs:']
    lines += [f'  {run_id}: {why}' for run_id, why in skipped.items()]
    lines.append('Run without --reuse-only to train them.'
                 if settings.reuse_only else
                 'Give a larger --budget to train them.')
    return '\n'.join(lines)


def lookup_run(spec: RunSpec, ledger: Ledger, work_root: str) -> Lookup:
    """What the ledger holds for ``spec`` under its current settings key
    (:func:`~mmipr.study.runs.settings_key`: config, data file contents,
    starting weights' tensors, study version)."""
    cfg = build_config(spec, osp.join(work_root, spec.run_id))
    check_data_paths(cfg, phases=('train', 'val'))
    return ledger.lookup(spec.run_id, settings_key(cfg))


def stale_reason(found: Lookup) -> str:
    """Why a stale record is not used, in words."""
    return (f'its record has settings key {found.recorded_key}, the current '
            f'settings give {found.key} (the config, a data file, the '
            'starting weights or the study version changed)')


def run_study(settings: StudySettings) -> StudyOutcome:
    """Run the study and write its document (``settings.doc``).

    Args:
        settings (StudySettings): the invocation (``ledger_dir`` must be
            set).

    Returns:
        StudyOutcome: the runs, the minutes spent and the stale records.

    Raises:
        WorkDirLockedError: another process holds the work dir.
        NoFinishedRunsError: no run could be used (``reuse_only`` with no
            current record, or a budget too small for any); the message
            lists each run looked for and why it was not usable.
        InvalidArgumentError: an unusable setting (``epochs`` below
            :data:`~mmipr.study.plan.MIN_STUDY_EPOCHS`, no ``ledger_dir``, a
            work dir or ``MMIPR_CACHE`` that is not a usable folder).
    """
    check_number('run_study', 'epochs', settings.epochs, integer=True,
                 low=MIN_STUDY_EPOCHS, hint=MIN_EPOCHS_HINT)
    if not settings.ledger_dir:
        raise InvalidArgumentError(
            'run_study: ledger_dir is empty; the study reads and writes its '
            'runs\' records there (default docs/study/runs)')
    started = time.perf_counter()
    # Before anything is written: the study's own outputs (docs/) must not
    # count as uncommitted changes.
    commit = source_commit()
    ledger = Ledger(settings.ledger_dir)
    for old, new in ledger.align(settings.epochs):
        print(f'ledger record {old} is {new} in a study of T={settings.epochs}'
              f' epochs: renamed (commit the rename)')
    with work_dir_lock(settings.work_dir):
        start = prepare(settings, commit=commit)
        record = start.pretraining
        if record is not None and not record['reused']:
            print(f'pretrained the backbone in '
                  f'{record["train_seconds"] / 60:.1f} min: {start.backbone}')
        specs = study_plan(settings, start.weights,
                           pretrained=start.backbone is not None)
        found = {s.run_id: lookup_run(s, ledger, settings.work_dir)
                 for s in specs}
        stale = {rid: stale_reason(f) for rid, f in found.items()
                 if f.status == 'stale'}
        for run_id, why in stale.items():
            print(f'stale ledger record {run_id}: {why}; it is retrained')
        results = {rid: record_result(f.record, reused=True)
                   for rid, f in found.items() if f.status == 'current'}
        missing = [s for s in specs if s.run_id not in results]

        def finish(result: dict) -> None:
            # right away: the record must hold everything the report needs
            # before the work dir can be discarded (a T/2 run's heatmap
            # statistics are not reported, so not computed)
            full = result.get('study_epochs') in (None, result['epochs'])
            stats = heatmap_stats(result) if full else None
            if full and stats is None:
                print(f'{result["run_id"]} has no record yet (its heatmap '
                      'statistics failed); the next invocation retries')
                return
            inst = instance_stats(result) if needs_instance_stats(result) \
                else None
            path = ledger.write(make_record(result, commit, stats, inst))
            print(f'wrote {path}')
            if (settings.commit_weights and full and result['seed'] == 0
                    and result['name'] in TRAINED_VARIANTS):
                model = commit_trained(
                    result['run_id'], result['checkpoint'], ledger,
                    settings.weights_dir, settings.data_root,
                    command=settings.command, commit=commit)
                ap = model['final']['coco/AP']
                print(f"wrote the model of {result['run_id']} to "
                      f"{settings.weights_dir} (AP {ap:.3f}; commit it with "
                      'its record)')
            results[result['run_id']] = record_result(
                ledger.read(result['run_id']), reused=False)

        schedule = Schedule()
        if missing and settings.reuse_only:
            schedule.skipped = {
                s.run_id: (f'stale record: {stale[s.run_id]}'
                           if s.run_id in stale else
                           f'no record in {shown_path(settings.ledger_dir)}')
                for s in missing}
        elif missing:
            schedule = train_runs(
                missing, settings.work_dir, desc='study',
                budget=settings.budget, started=started, after_run=finish,
                minutes_per_epoch=[wall_minutes_per_epoch(r)
                                   for r in results.values()])
        schedule.results = [results[s.run_id] for s in specs
                            if s.run_id in results]
        if not schedule.results:
            raise NoFinishedRunsError(nothing_to_report(settings,
                                                        schedule.skipped))
        for run_id, why in schedule.skipped.items():
            print(f'left out {run_id}: {why}')
        minutes = (time.perf_counter() - started) / 60
        write_study_document(settings, record, commit, schedule.results,
                             schedule.skipped, minutes, stale)
    print(f'wrote {settings.doc} ({minutes:.0f} min)')
    return StudyOutcome(schedule, minutes, stale)
