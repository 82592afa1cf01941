"""A finished run as a ledger record, and a record as the report's result.

:func:`make_record` condenses a run's result (:func:`~mmipr.study.runs.run`)
and the statistics derived from its model right after it finished
(:mod:`mmipr.study.derived`) into the compact record the ledger commits
(:class:`~mmipr.study.ledger.Ledger`): everything the report needs, nothing
that names this machine's folders, so the run's work dir and checkpoint can
be discarded. :func:`record_result` turns a record back into the result the
report's tables and figures read (``metrics``, ``val_metrics``, ...), so the
report is written from records alone.
"""
from __future__ import annotations

import math
import os.path as osp

from .derived import merge_heatmap_stats
from .ledger import STUDY_VERSION, machine_description

#: the AP keys of the validation curve (``ap_curve``)
CURVE_KEYS = ('coco/AP', 'own/AP', 'coco/easy_medium/AP', 'coco/hard/AP')
#: the per-instance statistics Table V needs (annotation id -> these)
INSTANCE_KEYS = ('oks', 'A(1)', 'A(2)')
#: significant decimals of the per-instance statistics (keeps records small)
INSTANCE_DECIMALS = 4


def json_number(value) -> float | None:
    """A JSON-safe number: NaN and infinities become None."""
    value = float(value)
    return value if math.isfinite(value) else None


def _float(value) -> float:
    """A record's number back as a float (None: NaN)."""
    return math.nan if value is None else float(value)


def make_record(result: dict, commit: str, heatmap_stats: dict | None,
                instance_stats: dict | None) -> dict:
    """The ledger record of one finished run.

    Args:
        result (dict): the run's result (:func:`~mmipr.study.runs.run`).
        commit (str): the commit the study ran at (``+dirty`` with
            uncommitted changes).
        heatmap_stats (dict, optional): the model's heatmap statistics on
            ground-truth boxes (:func:`~mmipr.study.derived.heatmap_stats`;
            its machine paths are dropped).
        instance_stats (dict, optional): its per-instance statistics
            (Table V), kept as :data:`INSTANCE_KEYS` rounded to
            :data:`INSTANCE_DECIMALS` decimals.

    Returns:
        dict: the record (:data:`~mmipr.study.ledger.Ledger.REQUIRED` and
        ``variant``, ``seed``, ``study_version``, ``config``, ``lr``,
        ``lr_drop_epochs``, ``val_interval``, ``epoch_losses``,
        ``grad_ratios``, ``heatmap_stats``, ``instance_stats``,
        ``train_seconds``, ``wall_seconds``, ``machine``,
        ``resumed_after``).
    """
    validated = result['val_metrics']
    curve = dict(epoch=[int(m['epoch']) for m in validated])
    for key in CURVE_KEYS:
        curve[key] = [json_number(m.get(key, math.nan)) for m in validated]
    final = {k: json_number(v) for k, v in result['metrics'].items()
             if k != 'epoch'}
    hm = None
    if heatmap_stats is not None:
        hm = {k: v for k, v in heatmap_stats.items()
              if k not in ('config', 'checkpoint')}
    instances = None
    if instance_stats is not None:
        instances = {
            str(ann): {k: (None if json_number(e[k]) is None
                           else round(float(e[k]), INSTANCE_DECIMALS))
                       for k in INSTANCE_KEYS}
            for ann, e in instance_stats.items()}
    return dict(
        run_id=result['run_id'], variant=result['name'],
        seed=result['seed'], epochs=result['epochs'],
        settings_key=result['settings_key'], commit=commit,
        study_version=STUDY_VERSION,
        config=osp.basename(result['config']), lr=result['lr'],
        lr_drop_epochs=result['lr_drop_epochs'],
        val_interval=result['val_interval'], ap_curve=curve, final=final,
        epoch_losses=[json_number(v) for v in result['epoch_losses']],
        grad_ratios=[json_number(v) for v in result['grad_ratios']],
        heatmap_stats=hm, instance_stats=instances,
        train_seconds=round(result['train_seconds'], 1),
        wall_seconds=round(result['wall_seconds'], 1),
        machine=machine_description(),
        resumed_after=result.get('resumed_after', []))


def record_result(record: dict, reused: bool) -> dict:
    """The report's view of a record: the result keys its tables and
    figures read.

    Args:
        record (dict): a ledger record (:func:`make_record`).
        reused (bool): whether it was found in the ledger (not trained by
            this invocation).

    Returns:
        dict: ``run_id``, ``name``, ``seed``, ``epochs``, ``config`` (its
        file name), ``val_metrics``
        (per validated epoch: ``epoch`` and :data:`CURVE_KEYS`),
        ``metrics`` (``final`` plus ``hm/<split>/...`` from the heatmap
        statistics), ``epoch_losses``, ``grad_ratios``, ``heatmap_stats``,
        ``instance_stats``, ``lr``, ``lr_drop_epochs``, ``train_seconds``,
        ``wall_seconds``, ``settings_key``, ``commit``, ``machine``,
        ``reused``; NaN where the record holds None.
    """
    curve = record['ap_curve']
    val_metrics = [
        dict(epoch=epoch, **{k: _float(curve[k][i]) for k in CURVE_KEYS
                             if k in curve})
        for i, epoch in enumerate(curve['epoch'])]
    instances = record.get('instance_stats')
    if instances is not None:
        instances = {ann: {k: _float(v) for k, v in e.items()}
                     for ann, e in instances.items()}
    result = dict(
        run_id=record['run_id'], name=record['variant'],
        seed=record['seed'], epochs=record['epochs'],
        config=record['config'], val_metrics=val_metrics,
        metrics={k: _float(v) for k, v in record['final'].items()},
        epoch_losses=[_float(v) for v in record['epoch_losses']],
        grad_ratios=[_float(v) for v in record['grad_ratios']],
        heatmap_stats=record.get('heatmap_stats'),
        instance_stats=instances, lr=record['lr'],
        lr_drop_epochs=record['lr_drop_epochs'],
        train_seconds=record['train_seconds'],
        wall_seconds=record['wall_seconds'],
        settings_key=record['settings_key'], commit=record['commit'],
        machine=record.get('machine', ''), reused=reused)
    merge_heatmap_stats([result], {result['run_id']: result['heatmap_stats']})
    return result
