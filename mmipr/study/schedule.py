"""Running a list of runs in order under one progress bar, within a budget.

The one training loop of the demo and the study: each run is reused when it
has finished with the same settings, else trained (:func:`~mmipr.study.runs.
run`). With a budget, a run starts only if it is expected to finish in time
(its epochs at the median wall minutes per epoch of the runs so far, reused
ones included, as the estimate); with ``reuse_only`` none starts. What was
left out is returned with the reason.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
from tqdm import tqdm

from .runs import RunSpec, build_config, find_finished, iterations_per_run, run


@dataclass
class Schedule:
    """What :func:`train_runs` did.

    Args:
        results (list[dict]): the results of the runs done or reused, in
            plan order.
        skipped (dict): run id -> why it was left out.
    """

    results: list = field(default_factory=list)
    skipped: dict = field(default_factory=dict)


def train_runs(specs: list[RunSpec], work_root: str, *, desc: str,
               budget: float | None = None, started: float | None = None,
               reuse_only: bool = False,
               after_run: Callable[[dict], None] | None = None,
               minutes_per_epoch: Sequence[float] = ()) -> Schedule:
    """Reuse or train ``specs`` in order.

    Args:
        specs (list[RunSpec]): the runs, in priority order.
        work_root (str): runs are written to ``work_root/<run_id>``.
        desc (str): the progress bar's label.
        budget (float, optional): minutes since ``started``; no run starts
            that is not expected to finish within them. Default: None (no
            limit).
        started (float, optional): ``time.perf_counter()`` when the budget
            began. Default: now.
        reuse_only (bool): start no run; use finished ones only.
        after_run (callable, optional): called with each result, right away
            (a study cut short keeps what it derived from finished runs).
        minutes_per_epoch (Sequence[float]): wall minutes per epoch of runs
            known from elsewhere (the ledger's records), part of the
            estimate. Default: none.

    Returns:
        Schedule: the results and the runs left out, with the reasons.
    """
    started = time.perf_counter() if started is None else started
    with tempfile.TemporaryDirectory() as probe_dir:
        per_epoch = iterations_per_run(build_config(specs[0], probe_dir)) \
            / specs[0].epochs
    schedule = Schedule()
    with tqdm(total=round(per_epoch * sum(s.epochs for s in specs)),
              desc=desc, unit='it',
              dynamic_ncols=True) as progress:
        finished = {s.run_id: find_finished(s, work_root) for s in specs}
        # The estimate of a run's minutes: its epochs at the median minutes
        # per epoch so far, reused runs included (their recorded wall time):
        # a short run is not refused for a long one's time, nor every run
        # for one slowed by another job on the machine.
        rates = list(minutes_per_epoch) + [
            wall_minutes_per_epoch(f.result) for f in finished.values()
            if f.result and 'wall_seconds' in f.result]
        for spec in specs:
            match = finished[spec.run_id]
            spent = (time.perf_counter() - started) / 60
            per_epoch_minutes = float(np.median(rates)) if rates else 0.0
            estimate = per_epoch_minutes * spec.epochs
            why = None
            if match.result is None and reuse_only:
                why = match.reason
            elif match.result is None and budget is not None and \
                    spent + estimate > budget:
                why = (f'not expected to finish within the budget of '
                       f'{budget:g} min ({spent:.1f} min spent; its '
                       f'{spec.epochs} epochs at {per_epoch_minutes:.2f} min '
                       f'each, the median so far: {estimate:.1f})')
            if why is not None:
                schedule.skipped[spec.run_id] = why
                progress.update(round(per_epoch * spec.epochs))
                continue
            tic = time.perf_counter()
            result = run(spec, work_root, progress)
            schedule.results.append(result)
            if after_run is not None:
                after_run(result)
            if not result.get('reused'):
                rates.append((time.perf_counter() - tic) / 60 / spec.epochs)
    return schedule


def wall_minutes_per_epoch(result: dict) -> float:
    """A finished run's (or ledger record's) wall minutes per epoch,
    validation included."""
    return result['wall_seconds'] / 60 / result['epochs']
