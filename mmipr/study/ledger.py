"""The ledger: one committed JSON record per finished study run.

No session on this machine can train the study to capacity, and the next
session may start on a fresh machine with only what was committed. So a
finished run writes a compact record under ``docs/study/runs/<run_id>.json``,
the study reads the ledger before training and trains only what is missing,
and the report is written from records alone.

A record is reused only where its ``settings_key`` equals the key the study
computes now (:func:`ledger_key`): the config after inheritance with every
machine-specific path replaced by a placeholder, the contents of every data
file and of the starting weights, and :data:`STUDY_VERSION`, the hand-bumped
version of the code that trains and evaluates (guarded by
``tests/test_golden.py``, which fails when the golden numbers change under an
unchanged version). A record whose key differs is *stale*: never mixed in,
named in the report, retrained.

Run ids are ``<variant>[_T<epochs>]_seed<k>`` (:func:`run_id`); a study
with another T renames the records to its ids first (:meth:`Ledger.align`).
"""
from __future__ import annotations

import hashlib
import json
import os
import os.path as osp
import platform
import re
import subprocess
from dataclasses import dataclass
from typing import Iterable, Mapping

from mmipr.utils.io import atomic_output, file_digest

#: The version of the code that determines a study run's numbers (training,
#: decoding, losses, evaluation). Bump it, and re-record the golden cases
#: (``python tests/golden/golden_case.py record``), whenever a change alters
#: them; a pure refactor leaves it, and so every ledger record, as it is.
STUDY_VERSION = 1

#: the source tree (for the commit the study ran at)
SOURCE_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: the ledger's folder, relative to the repository root
LEDGER_DIR = osp.join('docs', 'study', 'runs')

_RUN_ID = re.compile(r'^(?P<variant>[a-z0-9_.]+?)(?:_T(?P<epochs>\d+))?'
                     r'_seed(?P<seed>\d+)$')


def run_id(variant: str, seed: int, epochs: int | None = None,
           study_epochs: int | None = None) -> str:
    """The ledger id of a run: ``<variant>[_T<epochs>]_seed<k>``.

    Args:
        variant (str): e.g. ``'integral_kl2'``.
        seed (int): the run's seed.
        epochs (int, optional): its training length T.
        study_epochs (int, optional): the study's T; a run of exactly that
            length has no ``_T`` part (``detection_seed0``), any other has
            (``detection_T20_seed0``).

    Returns:
        str: the id.
    """
    if not re.fullmatch(r'[a-z0-9_.]+', variant) or variant.endswith('_'):
        raise ValueError(f'variant {variant!r}: use lower-case letters, '
                         'digits, dots and inner underscores only')
    length = '' if epochs is None or epochs == study_epochs else f'_T{epochs}'
    return f'{variant}{length}_seed{seed}'


def parse_run_id(text: str) -> tuple[str, int | None, int]:
    """``(variant, epochs or None, seed)`` of a run id (:func:`run_id`)."""
    match = _RUN_ID.match(text)
    if match is None:
        raise ValueError(f'{text!r} is not a run id '
                         '(<variant>[_T<epochs>]_seed<k>)')
    epochs = match['epochs']
    return (match['variant'], int(epochs) if epochs else None,
            int(match['seed']))


def _canonical(value, replacements: Mapping[str, str]):
    """``value`` with every string's machine-specific prefix replaced."""
    if isinstance(value, str):
        for old, new in replacements.items():
            value = value.replace(old, new)
        return value
    if isinstance(value, Mapping):
        return {k: _canonical(v, replacements) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v, replacements) for v in value]
    return value


def ledger_key(cfg_dict: Mapping, data_root: str, files: Iterable[str],
               study_version: int = STUDY_VERSION) -> str:
    """The settings key of a study run, the same on any machine and clone.

    Args:
        cfg_dict (Mapping): the run's config after inheritance
            (``Config.to_dict()``); ``work_dir`` is ignored, every occurrence
            of ``data_root`` becomes ``<data_root>``, and ``load_from`` becomes
            the digest of the tensors of the file it names
            (:func:`state_digest`).
        data_root (str): the dataset root (its absolute path is machine
            specific).
        files (Iterable[str]): every file whose contents determine the run
            (annotation and detection files, the dataset's generation marker);
            hashed by contents, named relative to ``data_root`` where they
            lie under it.
        study_version (int): Default: :data:`STUDY_VERSION`.

    Returns:
        str: 16 hex digits.
    """
    root = osp.abspath(data_root).rstrip('/') + '/'
    replacements = {root: '<data_root>/', data_root.rstrip('/') + '/':
                    '<data_root>/'}
    cfg = {k: v for k, v in dict(cfg_dict).items() if k != 'work_dir'}
    if cfg.get('load_from'):
        cfg['load_from'] = 'tensors:' + state_digest(cfg['load_from'])
    cfg = _canonical(cfg, replacements)
    digest = hashlib.sha256(json.dumps(cfg, sort_keys=True,
                                       default=repr).encode())
    digest.update(f'study_version={study_version}'.encode())
    for path in sorted({osp.abspath(f) for f in files}):
        name = _canonical(path, replacements) if path.startswith(root) \
            else 'sha256-only'
        digest.update(f'{name}:{file_digest(path)}'.encode())
    return digest.hexdigest()[:16]


def state_digest(weights: str) -> str:
    """The digest of the tensors of a checkpoint (names, dtypes, shapes,
    values), the same wherever and however the file was written.

    A file digest would not do: ``torch.save`` names its archive after the
    file, and the initial weights' ``meta`` holds machine paths.

    Args:
        weights (str): a ``.pth`` holding a ``state_dict`` (or the bare
            ``{name: tensor}``).

    Returns:
        str: 64 hex digits.
    """
    import torch

    from mmipr.checkpoint_loader import load_checkpoint_file
    blob = load_checkpoint_file(weights, map_location='cpu')
    state = blob.get('state_dict', blob) if isinstance(blob, Mapping) \
        else blob
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name]
        if not isinstance(tensor, torch.Tensor):
            continue
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f'{name}:{tensor.dtype}:{tuple(tensor.shape)}'.encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def source_commit() -> str:
    """The commit of the source tree: ``git rev-parse HEAD``, with
    ``+dirty`` when tracked files have uncommitted changes; ``unknown``
    outside a git clone."""
    try:
        sha = subprocess.check_output(['git', 'rev-parse', 'HEAD'],
                                      cwd=SOURCE_ROOT, text=True,
                                      stderr=subprocess.DEVNULL).strip()
        dirty = subprocess.check_output(['git', 'status', '--porcelain',
                                         '--untracked-files=no'],
                                        cwd=SOURCE_ROOT, text=True,
                                        stderr=subprocess.DEVNULL).strip()
        return sha + ('+dirty' if dirty else '')
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'


def committed_text(commit: str, path: str) -> str | None:
    """The text of ``path`` (relative to the source tree) at ``commit``:
    ``git show COMMIT:PATH``; None outside a git clone or where the commit
    or the file is not in its history."""
    try:
        return subprocess.check_output(['git', 'show', f'{commit}:{path}'],
                                       cwd=SOURCE_ROOT, text=True,
                                       stderr=subprocess.DEVNULL)
    except (OSError, subprocess.CalledProcessError):
        return None


def machine_description() -> str:
    """A short description of this machine (processor, cores, torch)."""
    import torch
    model = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            names = [line.split(':', 1)[1].strip() for line in f
                     if line.startswith('model name')]
        model = names[0] if names else model
    except OSError:
        pass
    return (f'{model}, {os.cpu_count()} cores, {torch.get_num_threads()} '
            f'torch threads, torch {torch.__version__}')


@dataclass(frozen=True)
class Lookup:
    """What the ledger holds for one run.

    Attributes:
        run_id (str): the run.
        status (str): ``'current'`` (a record with the expected key),
            ``'stale'`` (a record with another key: retrain, name it) or
            ``'missing'``.
        record (dict | None): the record, when current.
        recorded_key (str | None): the key of a stale record.
        key (str | None): the key looked up.
    """

    run_id: str
    status: str
    record: dict | None = None
    recorded_key: str | None = None
    key: str | None = None


class Ledger:
    """The records under one folder (default: ``<repo>/docs/study/runs``).

    Args:
        folder (str): where the ``<run_id>.json`` records are.
    """

    REQUIRED = ('run_id', 'settings_key', 'commit', 'epochs', 'ap_curve',
                'final')

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def path(self, run: str) -> str:
        parse_run_id(run)
        return osp.join(self.folder, f'{run}.json')

    def read(self, run: str) -> dict | None:
        """The record of ``run``, or None if there is none.

        Raises:
            ValueError: if the file is not a valid record (a committed file
                is never silently ignored: fix or delete it).
        """
        path = self.path(run)
        if not osp.exists(path):
            return None
        try:
            with open(path) as f:
                record = json.load(f)
        except (OSError, ValueError) as err:
            raise ValueError(f'ledger record {path} is unreadable ({err}); '
                             'restore it from git or delete it to retrain '
                             'the run') from None
        missing = [k for k in self.REQUIRED if k not in record]
        if missing or record.get('run_id') != run:
            raise ValueError(
                f'ledger record {path} is not a record of run {run} '
                f'(missing {missing}, run_id {record.get("run_id")!r}); '
                'restore it from git or delete it to retrain the run')
        return record

    def lookup(self, run: str, settings_key: str) -> Lookup:
        """Whether ``run`` has a current record for ``settings_key``."""
        record = self.read(run)
        if record is None:
            return Lookup(run, 'missing', key=settings_key)
        if record['settings_key'] != settings_key:
            return Lookup(run, 'stale', recorded_key=record['settings_key'],
                          key=settings_key)
        return Lookup(run, 'current', record=record, key=settings_key)

    def write(self, record: Mapping) -> str:
        """Write ``record`` atomically as ``<run_id>.json``; its path."""
        missing = [k for k in self.REQUIRED if k not in record]
        if missing:
            raise ValueError(f'a ledger record needs {missing}')
        path = self.path(record['run_id'])
        with atomic_output(path) as tmp, open(tmp, 'w') as f:
            json.dump(record, f, indent=1, sort_keys=True)
            f.write('\n')
        return path

    def align(self, study_epochs: int) -> list[tuple[str, str]]:
        """Rename every record to its id under a study of ``study_epochs``.

        A run's id names its length only when it differs from the study's T
        (:func:`run_id`), so a study with another T looks for its runs under
        other ids: the ``detection_seed0`` of a study at T=20 is the
        ``detection_T20_seed0`` (the T/2 run) of one at T=40. Renaming keeps
        every finished run findable by the id the study computes, whatever
        T the previous one used; a record's settings key does not depend on
        its id. A record whose new id is taken by another record stays where
        it is (the study then finds the other one, current or stale).

        Args:
            study_epochs (int): the study's T.

        Returns:
            list[tuple[str, str]]: ``(old id, new id)`` of each renamed
            record.
        """
        renamed = []
        for old in self.run_ids():
            record = self.read(old)
            variant, _, seed = parse_run_id(old)
            new = run_id(variant, seed, record['epochs'], study_epochs)
            if new == old or osp.exists(self.path(new)):
                continue
            self.write(dict(record, run_id=new))
            os.remove(self.path(old))
            renamed.append((old, new))
        return renamed

    def find(self, settings_key: str) -> dict | None:
        """The record whose settings key is ``settings_key``, whatever its
        id is now (ids follow the study's T: :meth:`align`), or None."""
        return next((r for r in self.records()
                     if r['settings_key'] == settings_key), None)

    def records(self) -> list[dict]:
        """Every record, in :meth:`run_ids` order."""
        return [self.read(run) for run in self.run_ids()]

    def run_ids(self) -> list[str]:
        """Every run with a record, sorted."""
        if not osp.isdir(self.folder):
            return []
        return sorted(name[:-len('.json')] for name in os.listdir(self.folder)
                      if name.endswith('.json') and _RUN_ID.match(name[:-5]))


#: the saturation criterion's relative gain from T/2 to T
SATURATION_TOLERANCE = 0.05


def saturation(ap_full: float, ap_half: float, seed_spread: float = 0.0,
               tolerance: float = SATURATION_TOLERANCE) -> dict:
    """The saturation criterion: trained to capacity at T epochs when AP at
    T exceeds AP at T/2 (same schedule shape, same seed) by at most
    ``tolerance`` relative, or by less than the seed spread.

    A schedule that stops learning early cannot meet it by itself: both runs
    end with the same lr drops, so a run that is still learning gains from
    the doubled length.

    Args:
        ap_full (float): AP of the run of T epochs.
        ap_half (float): AP of the run of T/2 epochs.
        seed_spread (float): the seed spread of AP (std over seeds), the tie
            tolerance. Default: 0.
        tolerance (float): relative gain allowed. Default: 0.05.

    Returns:
        dict: ``saturated`` (bool), ``gain`` (AP_T - AP_T/2), ``relative``
        (gain / AP_T/2), ``within`` (``'relative'``, ``'seed spread'`` or
        ``''``).
    """
    gain = ap_full - ap_half
    relative = gain / ap_half if ap_half > 0 else float('inf')
    within = ('relative' if relative <= tolerance else
              'seed spread' if gain < seed_spread else '')
    return dict(saturated=bool(within), gain=gain, relative=relative,
                within=within)
