"""Trained study models committed under ``weights/``, and their evaluation.

The seed-0 models of the main variants (:data:`TRAINED_VARIANTS`) are
committed as ``weights/<variant>_seed<k>.pth`` + ``.json``
(:mod:`~mmipr.study.committed_weights`: float16, sha256 checked), so a
fresh clone evaluates trained models in seconds instead of training them for
hours. :func:`commit_trained` writes one from the checkpoint of a finished
study run, after checking that the checkpoint *is* that run: re-evaluated on
the study's val split it must give the metrics of the run's ledger record.
Its record then states, besides the fields every committed weights file has:

- ``run_id``, ``variant``, ``seed``, ``epochs``, ``config``: the run (its
  ``settings_key`` is the run's ledger key, so :meth:`Ledger.find
  <mmipr.study.ledger.Ledger.find>` finds its record whatever its id is now);
- ``final``: every metric of the stored (float16) weights on the full val
  split, under both scoring rules (:func:`evaluate_weights`);
- ``ledger_final``: the same metrics as the run's record states them
  (float32, at the end of training);
- ``val_check``: the metrics of the stored weights on the first
  :data:`VAL_CHECK_IMAGES` val images, which :func:`val_subset` regenerates
  in seconds: what ``tests/test_trained_weights.py`` re-evaluates.
"""
from __future__ import annotations

import math
import os.path as osp
import tempfile
from typing import Mapping

from mmipr.datasets.synthetic_coco import write_split
from mmipr.engine.checkpoint import checkpoint_problem
from mmipr.utils.validation import InvalidArgumentError

from .claims import saturation_rows, spread
from .committed_weights import committed, save_weights, stored_tensors, verify_weights
from .ledger import Ledger
from .plan import MIN_STUDY_EPOCHS, SEEDED, TABLE1, half_epochs, synthetic_config
from .records import json_number, record_result
from .runs import RunSpec, build_config, build_runner, synthetic_data_options

#: the variants whose seed-0 models are committed
TRAINED_VARIANTS = SEEDED
#: the val images of a committed model's re-evaluation check
VAL_CHECK_IMAGES = 20
#: the largest difference between a checkpoint's re-evaluated metrics and
#: its run's record that still counts as the same model (float32 noise of
#: another processor; a different model differs by far more)
SAME_MODEL_TOLERANCE = 1e-4
#: the metrics the identity check compares (the report's headline numbers)
IDENTITY_KEYS = ('coco/AP', 'own/AP', 'coco/easy_medium/AP', 'coco/hard/AP',
                 'coco/easy_medium/EPE', 'coco/hard/EPE')


class NotTheRunError(InvalidArgumentError):
    """A checkpoint does not reproduce the metrics of the run it is said to
    be."""


def trained_weights_path(weights_dir: str, variant: str, seed: int = 0
                         ) -> str:
    """``<weights_dir>/<variant>_seed<seed>.pth``."""
    return osp.join(weights_dir, f'{variant}_seed{seed}.pth')


def variant_config(variant: str) -> str:
    """The ``configs/synthetic`` file name of a :data:`TABLE1` variant."""
    configs = {name: config for name, config, _ in TABLE1}
    if variant not in configs:
        raise InvalidArgumentError(
            f'{variant!r} is not a Table 1 variant of the study; choose '
            f'among {sorted(configs)}')
    return configs[variant]


def val_subset(out_dir: str, num_images: int = VAL_CHECK_IMAGES) -> str:
    """The study's val split cut to its first ``num_images`` images.

    The generator renders each image from its own seed (``image_rng``), so
    these are byte for byte the study's first val images, annotations and
    detected boxes included.

    Returns:
        str: ``out_dir``, a dataset root holding only the val split.
    """
    write_split(out_dir, 'val', num_images, seed=0, workers=1,
                progress=False)
    return out_dir


def evaluate_weights(variant: str, weights: str, data_root: str,
                     work_dir: str) -> dict[str, float | None]:
    """Every metric of ``weights`` on the val split of ``data_root``, as the
    study's final validation computes them (its config and evaluators:
    :func:`~mmipr.study.runs.build_config`, both scoring rules).

    Args:
        variant (str): the :data:`TABLE1` variant (its config).
        weights (str): a checkpoint (``state_dict``), e.g. a run's
            ``epoch_T.pth`` or committed float16 weights (cast to float32
            when loaded).
        data_root (str): a synthetic dataset root with a val split.
        work_dir (str): the runner's folder (logs).

    Returns:
        dict: metric name -> value (None where not finite).
    """
    # a validation has no schedule: any valid run length builds the config
    spec = RunSpec(variant, synthetic_config(variant_config(variant)),
                   epochs=MIN_STUDY_EPOCHS, cfg_options=synthetic_data_options(data_root),
                   load_from=weights)
    metrics = build_runner(build_config(spec, work_dir)).val()
    return {k: json_number(v) for k, v in sorted(metrics.items())}


def metric_differences(got: Mapping, want: Mapping, keys=None,
                       tolerance: float = SAME_MODEL_TOLERANCE) -> list[str]:
    """``'key: got x, recorded y'`` for each of ``keys`` (default: every key
    of ``want``) whose values differ by more than ``tolerance`` (absolute, or
    relative for values above 1 such as EPE in px)."""
    diffs = []
    for key in keys or sorted(want):
        a, b = got.get(key), want.get(key)
        same = (a is None and b is None) or (
            a is not None and b is not None and math.isclose(
                a, b, rel_tol=tolerance, abs_tol=tolerance))
        if not same:
            diffs.append(f'{key}: got {a}, recorded {b}')
    return diffs


def commit_trained(run: str, checkpoint: str, ledger: Ledger,
                   weights_dir: str, data_root: str, *, command: str,
                   commit: str, work_dir: str | None = None) -> dict:
    """Commit the model of the finished study run ``run`` to
    ``weights_dir`` (:func:`trained_weights_path`).

    Args:
        run (str): the run's ledger id (e.g. ``'detection_seed0'``).
        checkpoint (str): its final checkpoint.
        ledger (Ledger): the ledger holding its record.
        weights_dir (str): the committed weights' folder.
        data_root (str): the study's dataset (its val split is re-evaluated).
        command (str): the command that writes the weights, for the record.
        commit (str): the source commit, for the record.
        work_dir (str, optional): the evaluations' folder. Default: a
            temporary folder.

    Returns:
        dict: the weights' record (module doc).

    Raises:
        InvalidArgumentError: ``run`` has no record, or is not seed-0 of a
            :data:`TRAINED_VARIANTS` variant.
        NotTheRunError: ``checkpoint`` does not give the record's metrics.
    """
    record = ledger.read(run)
    if record is None:
        raise InvalidArgumentError(
            f'{run} has no record in {ledger.folder}: commit the model of a '
            'finished study run (python tools/reproduce.py writes records)')
    if record['variant'] not in TRAINED_VARIANTS or record['seed'] != 0:
        raise InvalidArgumentError(
            f'{run} is not seed 0 of a main variant {TRAINED_VARIANTS}: '
            'only those models are committed')
    problem = checkpoint_problem(checkpoint)
    if problem:
        raise InvalidArgumentError(
            f'the checkpoint {checkpoint} {problem}: pass the final '
            f'checkpoint of {run} (its work dir\'s epoch_{record["epochs"]}'
            '.pth)')
    import torch

    from mmipr.checkpoint_loader import load_checkpoint_file
    variant = record['variant']
    with tempfile.TemporaryDirectory() as tmp:
        work_dir = work_dir or tmp
        evaluated = evaluate_weights(variant, checkpoint, data_root,
                                     osp.join(work_dir, 'checkpoint'))
        diffs = metric_differences(evaluated, record['final'], IDENTITY_KEYS)
        if diffs:
            raise NotTheRunError(
                f'{checkpoint} is not the model of {run}: re-evaluated on '
                f'{data_root} it differs from the record ('
                + '; '.join(diffs) + '). Pass the checkpoint that run '
                'wrote, and the dataset it was trained on.')
        state = load_checkpoint_file(checkpoint, map_location='cpu')
        state = state.get('state_dict', state)
        # the numbers of what is committed: the float16 weights
        stored = osp.join(work_dir, 'stored.pth')
        torch.save(dict(state_dict={
            k: v.float() if v.is_floating_point() else v
            for k, v in stored_tensors(state).items()}), stored)
        final = evaluate_weights(variant, stored, data_root,
                                 osp.join(work_dir, 'full'))
        subset = val_subset(osp.join(work_dir, 'subset_data'))
        check = evaluate_weights(variant, stored, subset,
                                 osp.join(work_dir, 'subset'))
    return save_weights(
        trained_weights_path(weights_dir, variant, record['seed']), state,
        dict(command=command, commit=commit,
             settings_key=record['settings_key'],
             seconds=record['train_seconds'], final=final,
             ledger_final={k: record['final'].get(k) for k in final},
             val_check=dict(num_images=VAL_CHECK_IMAGES, metrics=check),
             run_id=run, variant=variant, seed=record['seed'],
             epochs=record['epochs'], config=record['config']),
        meta=dict(run_id=run, variant=variant, epochs=record['epochs']))


def trained_models(weights_dir: str) -> list[str]:
    """The committed trained models under ``weights_dir``, in
    :data:`TRAINED_VARIANTS` order (those present)."""
    present = set(committed(weights_dir))
    return [p for v in TRAINED_VARIANTS
            if (p := trained_weights_path(weights_dir, v)) in present]



def trained_results(weights_dir: str, data_root: str, work_dir: str,
                    heatmaps: bool = True) -> list[dict]:
    """Each committed trained model (:func:`trained_models`) evaluated on
    the val split of ``data_root``, as a result the report's tables and
    figures read.

    Args:
        weights_dir (str): the committed weights' folder.
        data_root (str): the study's dataset.
        work_dir (str): ``<work_dir>/<variant>`` per model (its config and
            logs).
        heatmaps (bool): also compute the heatmap statistics on
            ground-truth boxes (A(s), chi-square fits, E_de, E_re).
            Default: True.

    Returns:
        list[dict]: per model: ``name`` (variant), ``run_id``, ``seed``,
        ``epochs``, ``config``, ``work_dir``, ``checkpoint`` (the weights),
        ``metrics``, ``heatmap_stats``, ``train_seconds`` and ``record``
        (the weights' record, checked against the file).
    """
    from mmipr.analysis.heatmap_stats_report import model_heatmap_stats

    results = []
    for path in trained_models(weights_dir):
        record = verify_weights(path)
        variant = record['variant']
        run_dir = osp.join(work_dir, variant)
        metrics = evaluate_weights(variant, path, data_root, run_dir)
        config = synthetic_config(variant_config(variant))
        stats = None
        if heatmaps:
            # the config the runner dumped, with the data paths
            stats = model_heatmap_stats(
                osp.join(run_dir, osp.basename(config)), path,
                label=variant, normalize='sum', num_workers=0,
                progress=False)
        results.append(dict(
            name=variant, run_id=record['run_id'], seed=record['seed'],
            epochs=record['epochs'], config=config, work_dir=run_dir,
            checkpoint=path, metrics=metrics, heatmap_stats=stats,
            train_seconds=record['seconds'], record=record))
    return results


def trained_saturation(results: list[dict], ledger: Ledger) -> list[dict]:
    """The saturation criterion of each committed model's run, from the
    ledger: its AP at T (its record) against the same variant and seed at
    T // 2, with the seed spread of the ledger's runs at T as the tie
    tolerance (:func:`~mmipr.study.claims.saturation_rows`).

    Args:
        results (list[dict]): :func:`trained_results`.
        ledger (Ledger): the committed ledger.

    Returns:
        list[dict]: :func:`~mmipr.study.claims.saturation_rows`' rows (a run
        without a T/2 record is "not judged").
    """
    records = ledger.records()
    by_name, halves, at_t = {}, [], {}
    for result in results:
        run = ledger.find(result['record']['settings_key'])
        if run is None:
            continue
        by_name[result['name']] = [record_result(run, reused=True)]
        halves += [record_result(r, reused=True) for r in records
                   if r.get('variant') == run['variant']
                   and r.get('seed') == run['seed']
                   and r['epochs'] == half_epochs(run['epochs'])]
        at_t[result['name']] = [record_result(r, reused=True)
                                for r in records
                                if r.get('variant') == run['variant']
                                and r['epochs'] == run['epochs']]
    return saturation_rows(by_name, halves, spread(at_t))
