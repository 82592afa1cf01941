"""Checkpoints that survive a kill, and resumption that finishes what a kill
cut off.

MMEngine 0.10.7's :class:`~mmengine.hooks.CheckpointHook` removes the oldest
checkpoint (``max_keep_ckpts``) and the previous best one *before* it writes
the new one, and writes it in place: a kill during ``torch.save`` leaves a
truncated file and, with ``max_keep_ckpts=1``, nothing to resume from.
:class:`AtomicCheckpointHook` writes each checkpoint through
:func:`mmipr.utils.io.atomic_output` (a hidden file in the same folder,
renamed over the checkpoint once complete) and removes old checkpoints only
after that; ``last_checkpoint`` is written (by MMEngine) after the rename, so
it always names a complete file.

MMEngine saves an epoch's checkpoint *before* that epoch's validation (and
saves it again after the validation only when the best checkpoint changed),
and a resumed run continues with the next epoch: a run killed during validation
never validates that epoch (and its best checkpoint may be wrong).
:class:`ResumeValidationHook` records in each checkpoint's meta whether the
validation of its epoch had finished, and after resuming runs the validation
that was cut off.
"""
from __future__ import annotations

import contextlib
import glob
import os
import os.path as osp
from typing import Iterator, List, Optional

from mmengine.dist import is_main_process
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import CheckpointHook, Hook
from mmengine.runner import EpochBasedTrainLoop
from mmpose.registry import HOOKS

from mmipr.utils.io import atomic_output
from mmipr.utils.validation import InvalidArgumentError, check_bool, check_choice, check_number

#: meta key: the epoch whose validation had finished when it was saved
VALIDATED_EPOCH = 'validated_epoch'


def leftover_pattern(out_dir: str) -> str:
    """Glob pattern of the temporary files a kill during saving leaves in
    ``out_dir``: :func:`~mmipr.utils.io.atomic_output` writes
    ``<name>.pth`` to ``.<name>.pth.<random>`` beside it.

    Args:
        out_dir (str): the checkpoint folder.

    Returns:
        str: the pattern, e.g. ``work_dirs/run/.*.pth.*``.
    """
    return osp.join(glob.escape(out_dir), '.*.pth.*')


@contextlib.contextmanager
def _patched(obj, name: str, value) -> Iterator[None]:
    """Shadow ``obj.name`` by an instance attribute for the block."""
    had = name in vars(obj)
    previous = vars(obj).get(name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        if had:
            setattr(obj, name, previous)
        else:
            delattr(obj, name)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """:class:`~mmengine.hooks.CheckpointHook` whose checkpoints are complete
    or absent, never truncated, and which never removes the last complete one
    before its successor is complete.

    Same arguments as ``CheckpointHook``, checked when it is built: the
    numbers are whole (``interval`` and ``max_keep_ckpts`` -1 or at least 1,
    ``save_begin`` at least 0), the switches booleans, ``rule`` ``'greater'``,
    ``'less'`` or None (or a list of them). Each checkpoint (per interval, the
    last, the best) is written through :func:`~mmipr.utils.io.atomic_output`
    (a hidden temporary file in the output folder, flushed to disk and
    renamed to ``<name>``: atomic on one file system); checkpoints that
    ``max_keep_ckpts`` or a new best one retire are removed only once the
    new file is complete, and ``last_checkpoint`` is written after the
    rename. A temporary file left by a killed run is removed when training
    starts. Storage backends other than local files are left to
    ``CheckpointHook``'s own behaviour.

    Examples:
        >>> default_hooks = dict(checkpoint=dict(
        ...     type='AtomicCheckpointHook', interval=1, max_keep_ckpts=1,
        ...     save_best='coco/AP', rule='greater'))
    """

    def __init__(self, interval: int = -1, by_epoch: bool = True,
                 save_optimizer: bool = True,
                 save_param_scheduler: bool = True,
                 max_keep_ckpts: int = -1, save_last: bool = True,
                 rule=None, save_begin: int = 0, **kwargs) -> None:
        owner = type(self).__name__
        for name, value in (('interval', interval),
                            ('max_keep_ckpts', max_keep_ckpts)):
            check_number(owner, name, value, integer=True, low=-1)
            if value == 0:
                raise InvalidArgumentError(
                    f'{owner}: {name} must be -1 or a whole number >= 1, got '
                    f'0; MMEngine would treat 0 as -1 ('
                    + ('never save by interval, only the last checkpoint'
                       if name == 'interval' else 'keep every checkpoint')
                    + '), so say -1 if that is meant')
        check_number(owner, 'save_begin', save_begin, integer=True, low=0)
        for name, value in (('by_epoch', by_epoch),
                            ('save_optimizer', save_optimizer),
                            ('save_param_scheduler', save_param_scheduler),
                            ('save_last', save_last)):
            check_bool(owner, name, value)
        for value in (rule if isinstance(rule, list) else [rule]):
            check_choice(owner, 'rule', value, ('greater', 'less', None))
        super().__init__(interval=interval, by_epoch=by_epoch,
                         save_optimizer=save_optimizer,
                         save_param_scheduler=save_param_scheduler,
                         max_keep_ckpts=max_keep_ckpts, save_last=save_last,
                         rule=rule, save_begin=save_begin, **kwargs)

    def before_train(self, runner) -> None:
        """Set up the output folder (``CheckpointHook``) and remove the
        temporary files of a run killed while saving.

        Args:
            runner (Runner): the runner of the training process.
        """
        super().before_train(runner)
        if self._is_local() and is_main_process():
            for path in glob.glob(leftover_pattern(self.out_dir)):
                runner.logger.info(
                    f'Removing {path}, left by a run killed while saving it.')
                os.remove(path)

    def _is_local(self) -> bool:
        return isinstance(getattr(self, 'file_backend', None), LocalBackend)

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        with self._atomic_saving(runner):
            super()._save_checkpoint_with_step(runner, step, meta)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        with self._atomic_saving(runner):
            super()._save_best_checkpoint(runner, metrics)

    @contextlib.contextmanager
    def _atomic_saving(self, runner) -> Iterator[None]:
        """Within the block, ``runner.save_checkpoint`` writes through
        :func:`~mmipr.utils.io.atomic_output`, and the backend's removals
        wait until the block has finished without an error (then spare what
        it wrote)."""
        if not self._is_local() or getattr(self, '_saving_atomically', False):
            # (MMEngine's best-checkpoint saving re-saves the epoch's
            # checkpoint within: the outer block covers it)
            yield
            return
        backend = self.file_backend
        save = runner.save_checkpoint  # bound, master-only
        written: List[str] = []
        retired: List[tuple] = []

        def atomic_save(out_dir: str, filename: str, *args, **kwargs):
            if not is_main_process():
                return  # Runner.save_checkpoint writes on the main one only
            final = osp.join(out_dir, filename)
            with atomic_output(final) as tmp:
                save(out_dir, osp.relpath(tmp, out_dir), *args, **kwargs)
            written.append(osp.abspath(final))

        def defer(method: str):
            return lambda path: retired.append((method, path))

        with _patched(runner, 'save_checkpoint', atomic_save), \
                _patched(backend, 'remove', defer('remove')), \
                _patched(backend, 'rmtree', defer('rmtree')), \
                _patched(self, '_saving_atomically', True):
            yield
        for method, path in retired:
            if osp.abspath(path) not in written:
                getattr(backend, method)(path)


@HOOKS.register_module()
class ResumeValidationHook(Hook):
    """After resuming, run the validation a kill cut off.

    MMEngine saves epoch ``E``'s checkpoint before validating epoch ``E`` and
    resumes with epoch ``E + 1``, so a run killed during (or just before) that
    validation would never validate epoch ``E``: its metrics would be
    missing and its best checkpoint could be wrong. This hook writes into each
    checkpoint's ``meta`` the epoch whose validation had finished
    (``validated_epoch``); when training resumes from epoch ``E``'s
    checkpoint, the validation of ``E`` was due (``val_begin``,
    ``val_interval``, the last epoch) and ``validated_epoch`` is not ``E``,
    it runs the validation loop once before training continues. Checkpoints
    written without this hook carry no record and are validated again (a
    repeated validation gives the same metrics). Only epoch-based training
    loops are handled.

    Its priority is ``LOWEST`` so that the other hooks' ``before_train``
    (the checkpoint hook's, which the best-checkpoint logic needs) have run
    before the validation it starts.

    Examples:
        >>> custom_hooks = [dict(type='ResumeValidationHook')]
    """

    priority = 'LOWEST'

    def __init__(self) -> None:
        self._training = False
        self._validating: Optional[int] = None
        self._validated: Optional[int] = None
        self._loaded_meta: Optional[dict] = None

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep the meta of the checkpoint loaded (resumed or ``load_from``).

        Args:
            runner (Runner): the runner.
            checkpoint (dict): the loaded checkpoint.
        """
        self._loaded_meta = dict(checkpoint.get('meta') or {})

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Record which epoch's validation has finished.

        A checkpoint saved during validation (the best one, after the
        metrics) counts that validation as finished.

        Args:
            runner (Runner): the runner.
            checkpoint (dict): the checkpoint about to be saved.
        """
        done = self._validating if self._validating is not None \
            else self._validated
        checkpoint.setdefault('meta', {})[VALIDATED_EPOCH] = done

    def before_val_epoch(self, runner) -> None:
        """Note that the validation of the current epoch has started.

        Args:
            runner (Runner): the runner.
        """
        if self._training:
            self._validating = runner.epoch

    def after_val_epoch(self, runner, metrics: Optional[dict] = None) -> None:
        """Note that the validation of the current epoch has finished.

        Args:
            runner (Runner): the runner.
            metrics (dict, optional): the validation metrics.
        """
        if self._validating is not None:
            self._validated = self._validating

    def after_val(self, runner) -> None:
        """Leave the validation.

        Args:
            runner (Runner): the runner.
        """
        self._validating = None

    def before_train(self, runner) -> None:
        """Run the validation of the resumed epoch if a kill cut it off.

        Args:
            runner (Runner): the runner.
        """
        self._training = True
        meta, self._loaded_meta = self._loaded_meta, None
        epoch = runner.epoch
        resumed = meta is not None and epoch > 0 and meta.get('epoch') == epoch
        self._validated = meta.get(VALIDATED_EPOCH) if resumed else None
        if not resumed or self._validated == epoch \
                or not self._validation_due(runner, epoch):
            return
        runner.logger.info(
            f'Resumed from the checkpoint of epoch {epoch}, whose validation '
            'did not finish (the run was stopped before or during it): '
            'running it now.')
        runner.val_loop.run()

    def after_train(self, runner) -> None:
        """Leave the training.

        Args:
            runner (Runner): the runner.
        """
        self._training = False

    @staticmethod
    def _validation_due(runner, epoch: int) -> bool:
        """Whether the training loop validates after ``epoch`` (as
        ``EpochBasedTrainLoop.run`` decides)."""
        loop = runner.train_loop
        if not isinstance(loop, EpochBasedTrainLoop) or runner.val_loop is None:
            return False
        loop._decide_current_val_interval()
        return epoch >= loop.val_begin and (
            epoch % loop.val_interval == 0 or epoch == loop.max_epochs)
