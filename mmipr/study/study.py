"""The paper's study on the synthetic dataset (``tools/reproduce.py``).

:func:`run_study` holds the work dir (:func:`~mmipr.study.workdir.
work_dir_lock`), sets up the data, the pretrained backbone and the initial
weights (:func:`~mmipr.study.setup.prepare`), reuses or trains the planned
runs within the budget (:func:`~mmipr.study.plan.study_plan`,
:func:`~mmipr.study.schedule.train_runs`), derives each model's statistics
(:mod:`mmipr.study.derived`) and writes the document from the results alone
(:func:`~mmipr.study.report_text.write_study_document`).
"""
from __future__ import annotations

import os.path as osp
import subprocess
import time
from dataclasses import dataclass

from mmipr.utils.validation import check_number

from .derived import attach_statistics, heatmap_stats
from .plan import MIN_STUDY_EPOCHS, StudySettings, study_plan
from .report_text import write_study_document
from .schedule import Schedule, train_runs
from .setup import prepare
from .workdir import StudyError, work_dir_lock

#: the source tree (for the commit the study ran at)
SOURCE_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


class NoFinishedRunsError(StudyError):
    """No planned run was finished or trained: there is nothing to report."""


@dataclass
class StudyOutcome:
    """What :func:`run_study` did.

    Args:
        schedule (Schedule): the runs' results and those left out.
        minutes (float): minutes until the last run (the document's
            statistics not included).
    """

    schedule: Schedule
    minutes: float


def source_commit() -> str:
    """The commit of the source tree, noting uncommitted changes."""
    try:
        sha = subprocess.check_output(['git', 'rev-parse', 'HEAD'],
                                      cwd=SOURCE_ROOT, text=True,
                                      stderr=subprocess.DEVNULL).strip()
        dirty = subprocess.check_output(['git', 'status', '--porcelain',
                                         '--untracked-files=no'],
                                        cwd=SOURCE_ROOT, text=True,
                                        stderr=subprocess.DEVNULL).strip()
        return sha + (' (with uncommitted changes)' if dirty else '')
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'


def nothing_to_report(settings: StudySettings, schedule: Schedule) -> str:
    """Which runs were looked for, and why none could be used."""
    lines = [f'no run of the study is finished in {settings.work_dir} '
             'with the current settings, so there is nothing to report; '
             f'looked for {len(schedule.skipped)} runs:']
    lines += [f'  {run_id}: {why}' for run_id, why in schedule.skipped.items()]
    lines.append('Run without --reuse-only to train them.'
                 if settings.reuse_only else
                 'Give a larger --budget to train them.')
    return '\n'.join(lines)


def run_study(settings: StudySettings) -> StudyOutcome:
    """Run the study and write its document (``settings.doc``).

    Args:
        settings (StudySettings): the invocation.

    Returns:
        StudyOutcome: the runs and the minutes spent.

    Raises:
        WorkDirLockedError: another process holds the work dir.
        NoFinishedRunsError: no run could be used (``reuse_only`` with no
            finished run, or a budget too small for any); the message lists
            each run looked for and why it was not usable.
        InvalidArgumentError: an unusable setting (``epochs`` below
            :data:`~mmipr.study.plan.MIN_STUDY_EPOCHS`, a work dir or
            ``MMIPR_CACHE`` that is not a usable folder).
    """
    check_number('run_study', 'epochs', settings.epochs, integer=True,
                 low=MIN_STUDY_EPOCHS,
                 hint='two lr drops, then the last quarter of training')
    started = time.perf_counter()
    # Before anything is written: the study's own outputs (docs/) must not
    # count as uncommitted changes.
    commit = source_commit()
    with work_dir_lock(settings.work_dir):
        start = prepare(settings)
        record = start.pretraining
        if record is not None and not record['reused']:
            print(f'pretrained the backbone in '
                  f'{record["train_seconds"] / 60:.1f} min: {start.backbone}')
        specs = study_plan(settings, start.weights,
                           pretrained=start.backbone is not None)
        stats = {}

        def derive(result: dict) -> None:
            # right away: a study cut short keeps every finished model's
            stats[result['run_id']] = heatmap_stats(result)

        schedule = train_runs(
            specs, settings.work_dir, desc='study', budget=settings.budget,
            started=started, reuse_only=settings.reuse_only,
            after_run=derive)
        if not schedule.results:
            raise NoFinishedRunsError(nothing_to_report(settings, schedule))
        for run_id, why in schedule.skipped.items():
            print(f'left out {run_id}: {why}')
        minutes = (time.perf_counter() - started) / 60
        attach_statistics(schedule.results, stats)
        write_study_document(settings, record, commit, schedule.results,
                             list(schedule.skipped), minutes)
    print(f'wrote {settings.doc} ({minutes:.0f} min)')
    return StudyOutcome(schedule, minutes)
