"""Checkpoints under kills (issue 15, item 5): a kill while a checkpoint is
written leaves a resumable one, and a run killed during an epoch's validation
validates that epoch when resumed.

The runs are a toy MMEngine model (a linear layer on 8 samples, 3 epochs) so
that a whole run takes well under a second; the ``slow`` tests run it in a
subprocess killed with SIGKILL at a controlled point (this file is also the
subprocess's script).
"""
import glob
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time
from typing import List, Optional

import pytest
import torch
from mmengine.evaluator import BaseMetric, Evaluator
from mmengine.hooks import CheckpointHook, Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint
from torch.utils.data import Dataset

import mmipr  # noqa: F401  (registers mmipr's hooks)
from mmipr.engine.hooks import AtomicCheckpointHook, ResumeValidationHook
from mmipr.engine.hooks.checkpoint_hooks import VALIDATED_EPOCH, leftover_pattern

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
MAX_EPOCHS = 3


class ToyData(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(inputs=torch.tensor([i / 8., 1.]),
                    data_samples=torch.tensor([2 * i / 8.]))


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(torch.stack(inputs)
                          if isinstance(inputs, list) else inputs)[:, 0]
        target = torch.stack(data_samples) if isinstance(
            data_samples, list) else data_samples
        target = target.reshape(out.shape)
        if mode == 'loss':
            return dict(loss=((out - target)**2).mean())
        return [dict(err=float(e)) for e in (out - target).abs()]


class ToyMetric(BaseMetric):
    """Mean absolute error (``score`` = its negative); calls ``on_epoch``
    (the test's kill switch) with the epoch being validated."""

    def __init__(self, on_process=None):
        super().__init__()
        self.on_process = on_process

    def process(self, data_batch, data_samples):
        if self.on_process is not None:
            self.on_process()
        self.results += [s['err'] for s in data_samples]

    def compute_metrics(self, results):
        return dict(score=-sum(results) / len(results))


class RecordValidations(Hook):
    """Appends each finished validation's epoch and score to a JSON file."""

    priority = 'VERY_LOW'

    def __init__(self, path: str):
        self.path = path

    def after_val_epoch(self, runner, metrics=None):
        done = json.load(open(self.path)) if osp.exists(self.path) else []
        done.append([runner.epoch, metrics['score']])
        with open(self.path, 'w') as f:
            json.dump(done, f)


def validations(work_dir: str) -> List[list]:
    path = osp.join(work_dir, 'validations.json')
    return json.load(open(path)) if osp.exists(path) else []


_RUNS = [0]


def toy_runner(work_dir: str, resume: bool = False, atomic: bool = True,
               resume_val: bool = True, max_keep_ckpts: int = 1,
               on_process=None, load_from: Optional[str] = None) -> Runner:
    """A 3-epoch toy run validating every epoch, keeping ``max_keep_ckpts``
    checkpoints and the best one (``score``)."""
    _RUNS[0] += 1
    hook = AtomicCheckpointHook if atomic else CheckpointHook
    custom = [RecordValidations(osp.join(work_dir, 'validations.json'))]
    if resume_val:
        custom.append(ResumeValidationHook())
    torch.manual_seed(0)
    loader = dict(dataset=ToyData(), batch_size=4, num_workers=0,
                  sampler=dict(type='DefaultSampler', shuffle=False),
                  collate_fn=dict(type='default_collate'))
    return Runner(
        model=ToyModel(), work_dir=work_dir,
        experiment_name=f'toy_{os.getpid()}_{_RUNS[0]}_{time.time_ns()}',
        train_dataloader=loader, val_dataloader=loader,
        val_evaluator=Evaluator(ToyMetric(on_process)),
        train_cfg=dict(by_epoch=True, max_epochs=MAX_EPOCHS, val_interval=1),
        val_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        default_hooks=dict(checkpoint=hook(
            interval=1, max_keep_ckpts=max_keep_ckpts, save_best='score',
            rule='greater')),
        custom_hooks=custom, resume=resume, load_from=load_from,
        default_scope='mmengine')


def last_checkpoint(work_dir: str) -> str:
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def checkpoints(work_dir: str) -> List[str]:
    """The checkpoints and the temporary files of unfinished ones."""
    return sorted(n for n in os.listdir(work_dir) if '.pth' in n)


def leftovers(work_dir: str) -> List[str]:
    """Temporary files of checkpoints whose saving did not finish."""
    return glob.glob(leftover_pattern(work_dir))


class Killed(BaseException):
    """Stands in for SIGKILL in-process: nothing after it runs (a
    BaseException, so that no ``except Exception`` cleans up)."""


def cut_saving_short(monkeypatch, at: str):
    """Make the torch.save of the checkpoint named ``at`` write half of its
    bytes and then "die"."""
    import mmengine.runner.checkpoint as ckpt_module
    real = ckpt_module.save_checkpoint

    def save(checkpoint, filename, *args, **kwargs):
        if osp.basename(filename).lstrip('.').startswith(at):
            real(checkpoint, filename, *args, **kwargs)
            with open(filename, 'rb') as f:
                data = f.read()
            with open(filename, 'wb') as f:
                f.write(data[:len(data) // 2])
            raise Killed()
        return real(checkpoint, filename, *args, **kwargs)

    monkeypatch.setattr('mmengine.runner.runner.save_checkpoint', save)


# ------------------------------------------------- a kill during saving
@pytest.mark.parametrize('atomic', [False, True],
                         ids=['CheckpointHook', 'AtomicCheckpointHook'])
def test_kill_while_saving_leaves_a_resumable_checkpoint(
        tmp_path, monkeypatch, atomic):
    work = str(tmp_path)
    cut_saving_short(monkeypatch, 'epoch_2.pth')
    with pytest.raises(Killed):
        toy_runner(work, atomic=atomic).train()
    last = last_checkpoint(work)
    if not atomic:
        # MMEngine's behaviour (the fault): epoch_1.pth was removed before
        # epoch_2.pth was written, and epoch_2.pth is truncated
        assert not osp.exists(osp.join(work, 'epoch_1.pth'))
        with pytest.raises(Exception):
            _load_checkpoint(osp.join(work, 'epoch_2.pth'))
        return
    # the complete epoch_1.pth is kept and named; epoch_2's temporary file
    # was removed with the exception (a real kill leaves it: see the slow
    # test below)
    assert last == osp.join(work, 'epoch_1.pth')
    assert _load_checkpoint(last)['meta']['epoch'] == 1
    assert not osp.exists(osp.join(work, 'epoch_2.pth'))
    assert not leftovers(work)
    monkeypatch.undo()
    runner = toy_runner(work, resume=True)
    runner.train()
    assert runner.epoch == MAX_EPOCHS
    # max_keep_ckpts=1 holds
    names = checkpoints(work)
    assert 'epoch_3.pth' in names and 'epoch_1.pth' not in names
    assert not leftovers(work)
    assert last_checkpoint(work) == osp.join(work, 'epoch_3.pth')


def test_kill_while_saving_the_best_keeps_the_previous_best(
        tmp_path, monkeypatch):
    # scores improve every epoch: epoch 2's best replaces epoch 1's
    work = str(tmp_path)
    cut_saving_short(monkeypatch, 'best_score_epoch_2.pth')
    with pytest.raises(Killed):
        toy_runner(work).train()
    names = checkpoints(work)
    assert 'best_score_epoch_1.pth' in names  # MMEngine removes it first
    assert 'best_score_epoch_2.pth' not in names
    _load_checkpoint(osp.join(work, 'best_score_epoch_1.pth'))


def test_atomic_hook_saves_as_checkpoint_hook_does(tmp_path):
    plain, atomic = str(tmp_path / 'plain'), str(tmp_path / 'atomic')
    toy_runner(plain, atomic=False, max_keep_ckpts=2).train()
    toy_runner(atomic, atomic=True, max_keep_ckpts=2).train()
    assert checkpoints(plain) == checkpoints(atomic) == [
        'best_score_epoch_3.pth', 'epoch_2.pth', 'epoch_3.pth']
    a = _load_checkpoint(osp.join(plain, 'epoch_3.pth'))
    b = _load_checkpoint(osp.join(atomic, 'epoch_3.pth'))
    for key, value in a['state_dict'].items():
        assert torch.equal(value, b['state_dict'][key])
    assert last_checkpoint(atomic) == osp.join(atomic, 'epoch_3.pth')


def test_atomic_hook_is_registered():
    from mmengine.registry import DefaultScope
    from mmpose.registry import HOOKS
    with DefaultScope.overwrite_default_scope('mmpose'):  # as the configs
        hook = HOOKS.build(dict(type='AtomicCheckpointHook', interval=1,
                                max_keep_ckpts=1))
        assert isinstance(hook, AtomicCheckpointHook)
        assert isinstance(HOOKS.build(dict(type='ResumeValidationHook')),
                          ResumeValidationHook)


# ------------------------------------------------ constructor arguments
#: (hook, argument, bad value, what the message says): before, each was
#: accepted and failed or misbehaved later (interval=2.5 saved at epochs
#: where epoch % 2.5 == 0, '1' raised a TypeError in the first epoch,
#: max_keep_ckpts=0 kept every checkpoint)
BAD_HOOK_ARGUMENTS = [
    (AtomicCheckpointHook, 'interval', 2.5, 'whole number'),
    (AtomicCheckpointHook, 'interval', '1', 'whole number'),
    (AtomicCheckpointHook, 'interval', True, 'whole number'),
    (AtomicCheckpointHook, 'interval', -2, '>= -1'),
    (AtomicCheckpointHook, 'interval', 0, 'got 0'),
    (AtomicCheckpointHook, 'max_keep_ckpts', 0, 'keep every checkpoint'),
    (AtomicCheckpointHook, 'max_keep_ckpts', 1.0, 'whole number'),
    (AtomicCheckpointHook, 'max_keep_ckpts', float('nan'), 'whole number'),
    (AtomicCheckpointHook, 'save_begin', -1, '>= 0'),
    (AtomicCheckpointHook, 'by_epoch', 1, 'True or False'),
    (AtomicCheckpointHook, 'save_optimizer', 'yes', 'True or False'),
    (AtomicCheckpointHook, 'save_param_scheduler', None, 'True or False'),
    (AtomicCheckpointHook, 'save_last', 0, 'True or False'),
    (AtomicCheckpointHook, 'rule', 'greatest', "['greater', 'less', None]"),
    (AtomicCheckpointHook, 'rule', ['greater', 'more'], 'more'),
    (ResumeValidationHook, 'interval', 1, 'unexpected keyword'),
]


@pytest.mark.parametrize(
    'hook,name,value,allowed', BAD_HOOK_ARGUMENTS,
    ids=[f'{h.__name__}-{n}={v!r}' for h, n, v, _ in BAD_HOOK_ARGUMENTS])
def test_bad_hook_arguments_are_named_when_built(hook, name, value,
                                                 allowed):
    kwargs = {name: value}
    if name == 'rule':
        kwargs['save_best'] = ['a', 'b'][:len(value)] \
            if isinstance(value, list) else 'score'
    with pytest.raises((ValueError, TypeError)) as info:
        hook(**kwargs)
    message = str(info.value)
    assert name in message and allowed in message, message
    if hook is AtomicCheckpointHook:
        assert 'AtomicCheckpointHook' in message
        assert repr(value) in message or isinstance(value, list)


@pytest.mark.parametrize('kwargs', [
    dict(), dict(interval=1, max_keep_ckpts=1), dict(interval=-1),
    dict(max_keep_ckpts=-1, save_begin=2, by_epoch=False),
    dict(save_best='score', rule='greater'),
    dict(save_best=['a', 'b'], rule=['greater', 'less']),
])
def test_good_hook_arguments_build_as_checkpoint_hooks_do(kwargs):
    atomic, plain = AtomicCheckpointHook(**kwargs), CheckpointHook(**kwargs)
    for name in ('interval', 'max_keep_ckpts', 'save_begin', 'by_epoch',
                 'save_best', 'rules'):
        assert getattr(atomic, name, None) == getattr(plain, name, None)


# ------------------------------------------- a kill during validation
def kill_switch(epoch_of, at_epoch: int, action):
    """``on_process`` callback: run ``action`` while validating epoch
    ``at_epoch`` (``epoch_of()`` gives the runner's epoch)."""
    def on_process():
        if epoch_of() == at_epoch:
            action()
    return on_process


def _raise_killed():
    raise Killed()


@pytest.mark.parametrize('resume_val', [False, True],
                         ids=['MMEngine', 'ResumeValidationHook'])
def test_validation_cut_off_by_a_kill_runs_after_resuming(
        tmp_path, resume_val):
    work = str(tmp_path)
    holder = {}
    runner = toy_runner(work, resume_val=resume_val, on_process=kill_switch(
        lambda: holder['runner'].epoch, 2, _raise_killed))
    holder['runner'] = runner
    with pytest.raises(Killed):
        runner.train()
    assert [e for e, _ in validations(work)] == [1]
    assert last_checkpoint(work) == osp.join(work, 'epoch_2.pth')
    if resume_val:  # written before the validation of epoch 2
        assert _load_checkpoint(last_checkpoint(work))['meta'][
            VALIDATED_EPOCH] == 1
    resumed = toy_runner(work, resume=True, resume_val=resume_val)
    resumed.train()
    epochs = [e for e, _ in validations(work)]
    if not resume_val:
        assert epochs == [1, 3]  # MMEngine's behaviour (the fault)
        return
    assert epochs == [1, 2, 3]
    # the same metrics as a run never killed
    whole = str(tmp_path / 'whole')
    toy_runner(whole).train()
    assert sum(validations(work), []) == pytest.approx(
        sum(validations(whole), []))
    assert 'best_score_epoch_3.pth' in checkpoints(work)


def test_resume_from_a_validated_checkpoint_does_not_validate_again(
        tmp_path):
    work = str(tmp_path)
    toy_runner(work, max_keep_ckpts=3).train()
    best = osp.join(work, 'best_score_epoch_3.pth')
    assert _load_checkpoint(best)['meta'][VALIDATED_EPOCH] == 3
    # MMEngine saves an epoch's checkpoint again after its validation when
    # the best one changed (here every epoch improves)
    assert _load_checkpoint(osp.join(work, 'epoch_2.pth'))['meta'][
        VALIDATED_EPOCH] == 2
    before = validations(work)
    toy_runner(work, resume=True, load_from=best, max_keep_ckpts=3).train()
    assert validations(work) == before  # nothing left to do
    toy_runner(work, resume=True, load_from=osp.join(work, 'epoch_2.pth'),
               max_keep_ckpts=3).train()
    assert validations(work)[3:] == before[2:]  # epoch 3 again, not 2
    # load_from without resume is a new run: nothing to catch up on
    other = str(tmp_path / 'other')
    toy_runner(other, load_from=best).train()
    assert [e for e, _ in validations(other)] == [1, 2, 3]


def test_validation_cut_off_in_the_last_epoch_runs_after_resuming(tmp_path):
    work = str(tmp_path)
    holder = {}
    runner = toy_runner(work, on_process=kill_switch(
        lambda: holder['runner'].epoch, MAX_EPOCHS, _raise_killed))
    holder['runner'] = runner
    with pytest.raises(Killed):
        runner.train()
    toy_runner(work, resume=True).train()
    assert [e for e, _ in validations(work)] == [1, 2, 3]


# -------------------------------------------------------- real SIGKILLs
def _run_script(mode: str, work: str, *, wait_for: Optional[str] = None,
                timeout: float = 240) -> int:
    """Run this file as a script in ``mode``; with ``wait_for``, SIGKILL it
    once that file exists. Returns the exit status."""
    # this checkout's mmipr, not an installed copy
    path = os.pathsep.join([REPO, os.environ.get('PYTHONPATH', '')])
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=path)
    proc = subprocess.Popen([sys.executable, __file__, mode, work], env=env,
                            cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    if wait_for is not None:
        deadline = time.time() + timeout
        while not osp.exists(wait_for) and proc.poll() is None:
            assert time.time() < deadline, 'the run never reached the kill'
            time.sleep(0.05)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    try:
        _, err = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
    if wait_for is None and proc.returncode:
        raise AssertionError(err.decode()[-3000:])
    return proc.returncode


@pytest.mark.slow
def test_sigkill_while_saving_leaves_a_resumable_checkpoint(tmp_path):
    work = str(tmp_path)
    flag = osp.join(work, 'saving_epoch_2')
    status = _run_script('slow-save', work, wait_for=flag)
    assert status == -signal.SIGKILL
    assert last_checkpoint(work) == osp.join(work, 'epoch_1.pth')
    assert 'epoch_2.pth' not in checkpoints(work)
    # the half-written temporary file of epoch 2 is left ...
    assert [osp.basename(p).startswith('.epoch_2.pth.')
            for p in leftovers(work)] == [True]
    _load_checkpoint(osp.join(work, 'epoch_1.pth'))
    assert _run_script('resume', work) == 0
    assert last_checkpoint(work) == osp.join(work, 'epoch_3.pth')
    assert not leftovers(work)  # ... and removed when training starts


@pytest.mark.slow
def test_sigkill_during_validation_is_validated_after_resuming(tmp_path):
    work = str(tmp_path)
    flag = osp.join(work, 'validating_epoch_2')
    status = _run_script('slow-val', work, wait_for=flag)
    assert status == -signal.SIGKILL
    assert [e for e, _ in validations(work)] == [1]
    assert _run_script('resume', work) == 0
    assert [e for e, _ in validations(work)] == [1, 2, 3]


def _script(mode: str, work: str) -> None:
    """Subprocess side of the slow tests."""
    os.makedirs(work, exist_ok=True)
    torch.set_num_threads(1)
    if mode == 'resume':
        toy_runner(work, resume=True).train()
        return
    if mode == 'slow-save':
        import mmengine.runner.runner as runner_module
        real = runner_module.save_checkpoint

        def save(checkpoint, filename, *args, **kwargs):
            real(checkpoint, filename, *args, **kwargs)
            if osp.basename(filename).lstrip('.').startswith('epoch_2.pth'):
                with open(filename, 'r+b') as f:  # half written ...
                    f.truncate(os.path.getsize(filename) // 2)
                open(osp.join(work, 'saving_epoch_2'), 'w').close()
                time.sleep(600)  # ... when the SIGKILL comes

        runner_module.save_checkpoint = save
        toy_runner(work).train()
    elif mode == 'slow-val':
        holder = {}

        def wait_for_the_kill():
            open(osp.join(work, 'validating_epoch_2'), 'w').close()
            time.sleep(600)

        runner = toy_runner(work, on_process=kill_switch(
            lambda: holder['runner'].epoch, 2, wait_for_the_kill))
        holder['runner'] = runner
        runner.train()


if __name__ == '__main__':
    _script(sys.argv[1], sys.argv[2])
