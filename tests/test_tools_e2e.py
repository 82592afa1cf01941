"""The command-line tools end to end on the CPU: mim, torchrun (gloo), resume.

Each test trains the CPU-sized synthetic configs for an epoch or three on the
tiny synthetic dataset of ``conftest.tiny_coco`` and checks what a user would:
a checkpoint, evaluated metrics, every validation instance predicted once,
a killed run resuming where it stopped.
"""
import contextlib
import hashlib
import importlib.metadata
import json
import os
import os.path as osp
import pickle
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch
from conftest import REPO, cli_options, data_options

pytestmark = pytest.mark.slow

BIN = osp.dirname(sys.executable)
DETECTION = 'configs/synthetic/sbl_r18_detection.py'
INTEGRAL_KL = 'configs/synthetic/sbl_r18_integral_kl2.py'
VAL_ANN = 'annotations/person_keypoints_val2017.json'
TRAIN_IMAGES = 16  # first 16 training instances: 2 iterations of 8


def small_run(data_root: str, validate: bool = True, dump: bool = False,
              **extra) -> list:
    """``--cfg-options`` for a short CPU run on ``data_root``.

    MMPose's tools apply ``--cfg-options`` last: ``validate=False`` leaves out
    the val options (``--no-validate`` has set ``val_dataloader`` to None),
    ``dump=True`` addresses the first test evaluator (``--dump`` has made
    ``test_evaluator`` a list).
    """
    options = data_options(data_root)
    options.update({
        'train_cfg.max_epochs': 1,
        'train_dataloader.dataset.indices': TRAIN_IMAGES,
        'train_dataloader.batch_size': 8,
        'val_dataloader.batch_size': 8,
        'test_dataloader.batch_size': 8,
        'train_dataloader.num_workers': 0,
        'val_dataloader.num_workers': 0,
        'test_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'val_dataloader.persistent_workers': False,
        'test_dataloader.persistent_workers': False,
    })
    options.update(extra)
    if not validate:
        options = {k: v for k, v in options.items()
                   if not k.startswith('val_')}
    if dump:
        options['test_evaluator.0.ann_file'] = options.pop(
            'test_evaluator.ann_file')
    return cli_options(options)


def environment(**extra) -> dict:
    """The venv's executables first on PATH; the repo not on PYTHONPATH, so
    ``mim`` runs the installed mmipr."""
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ['PATH'],
               OMP_NUM_THREADS='1', **extra)
    env.pop('PYTHONPATH', None)
    return env


def run(cmd: list, cwd: str, timeout: int = 300, **env) -> str:
    """Run ``cmd`` (``env``: extra environment variables); on failure show
    the end of its output."""
    proc = subprocess.run(cmd, cwd=cwd, env=environment(**env),
                          timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    assert proc.returncode == 0, \
        f'{" ".join(cmd)} failed:\n{proc.stdout[-5000:]}'
    return proc.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def val_instances(data_root: str) -> list:
    """Ids of the annotations COCO's keypoint evaluation counts."""
    with open(osp.join(data_root, VAL_ANN)) as f:
        anns = json.load(f)['annotations']
    return sorted(a['id'] for a in anns
                  if a['num_keypoints'] > 0 and not a.get('iscrowd', 0))


def load(path: str) -> dict:
    return torch.load(path, map_location='cpu', weights_only=False)


def stale_installed_files() -> list:
    """Repo files that differ from the installed copy mim runs."""
    installed = str(importlib.metadata.distribution('mmipr').locate_file(
        'mmipr'))
    stale = []
    for folder, target in (('mmipr', installed),
                           ('tools', osp.join(installed, '.mim', 'tools')),
                           ('configs', osp.join(installed, '.mim',
                                                'configs'))):
        for dirpath, _, files in os.walk(osp.join(REPO, folder)):
            for name in files:
                if not name.endswith(('.py', '.sh')):
                    continue
                src = osp.join(dirpath, name)
                dst = osp.join(target, osp.relpath(src, osp.join(REPO,
                                                                  folder)))
                digests = [hashlib.sha256(open(p, 'rb').read()).digest()
                           if osp.exists(p) else None for p in (src, dst)]
                if digests[0] != digests[1]:
                    stale.append(osp.relpath(src, REPO))
    return stale


def test_mim_train_then_mim_test_from_another_directory(tiny_coco, tmp_path):
    mim = osp.join(BIN, 'mim')
    if not osp.exists(mim):
        pytest.skip('openmim is not installed in this environment')
    stale = stale_installed_files()
    assert not stale, ('the installed mmipr (which mim runs) differs from '
                       f'the source in {stale[:5]}: run tools/bootstrap.sh')
    work = tmp_path / 'work'
    run([mim, 'train', 'mmipr', DETECTION, '--work-dir', str(work),
         *small_run(tiny_coco)], cwd=REPO)
    checkpoint = work / 'epoch_1.pth'
    assert checkpoint.is_file()
    assert load(str(checkpoint))['meta']['epoch'] == 1

    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    run([mim, 'test', 'mmipr', osp.basename(DETECTION), '--checkpoint',
         str(checkpoint), '--out', 'metrics.json',
         *small_run(tiny_coco)], cwd=str(elsewhere))
    with open(elsewhere / 'metrics.json') as f:
        metrics = json.load(f)
    assert 0 <= metrics['coco/AP'] <= 1
    assert metrics['coco/all/count'] == len(val_instances(tiny_coco))


def test_dist_train_and_dist_test_on_two_cpu_processes(tiny_coco, tmp_path):
    work = tmp_path / 'work'
    run(['bash', osp.join(REPO, 'tools', 'dist_train.sh'), INTEGRAL_KL, '2',
         '--work-dir', str(work), '--no-validate',
         *small_run(tiny_coco, validate=False)],
        cwd=REPO, PORT=str(free_port()))
    checkpoint = work / 'epoch_1.pth'
    # 2 processes x 8 of the 16 instances: one iteration per epoch
    assert load(str(checkpoint))['meta']['iter'] == 1

    metrics_file, dump_file = tmp_path / 'metrics.json', tmp_path / 'p.pkl'
    run(['bash', osp.join(REPO, 'tools', 'dist_test.sh'), INTEGRAL_KL,
         str(checkpoint), '2', '--work-dir', str(work), '--out',
         str(metrics_file), '--dump', str(dump_file),
         *small_run(tiny_coco, dump=True)],
        cwd=REPO, PORT=str(free_port()))

    expected = val_instances(tiny_coco)
    with open(dump_file, 'rb') as f:
        predictions = pickle.load(f)
    # gathered from both processes, each instance once (no sampler padding)
    assert sorted(p['id'] for p in predictions) == expected
    with open(metrics_file) as f:
        metrics = json.load(f)
    assert metrics['coco/all/count'] == len(expected)
    assert metrics['coco/all/paired'] == len(expected)
    assert sum(metrics[f'coco/{s}/count']
               for s in ('easy', 'medium', 'hard')) == len(expected)


def test_killed_training_resumes_from_its_last_checkpoint(tiny_coco,
                                                          tmp_path):
    work = tmp_path / 'work'
    iters_per_epoch = TRAIN_IMAGES // 8
    cmd = [sys.executable, osp.join(REPO, 'tools', 'train.py'), INTEGRAL_KL,
           '--work-dir', str(work), '--no-validate',
           *small_run(tiny_coco, validate=False, **{
               'train_cfg.max_epochs': 3,
               'default_hooks.checkpoint.interval': 1,
               'default_hooks.checkpoint.max_keep_ckpts': -1})]
    log = open(tmp_path / 'first.log', 'w')
    proc = subprocess.Popen(cmd, cwd=REPO, env=environment(), stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    # MMEngine writes last_checkpoint once a checkpoint is completely saved
    marker = work / 'last_checkpoint'
    deadline = time.time() + 240
    try:
        while not marker.exists() and proc.poll() is None \
                and time.time() < deadline:
            time.sleep(0.1)
    finally:
        with contextlib.suppress(ProcessLookupError):  # already ended
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        log.close()
    assert marker.exists(), open(tmp_path / 'first.log').read()[-5000:]
    # the run may have saved more than epoch 1 before the kill landed
    resume_from = marker.read_text().strip()
    done = load(resume_from)['meta']['epoch']
    assert 1 <= done < 3, 'training ended before it could be killed'

    out = run(cmd + ['--resume'], cwd=REPO)
    assert f'Auto resumed from the latest checkpoint {resume_from}' in out
    assert f'resumed epoch: {done}, iter: {done * iters_per_epoch}' in out
    final = load(str(work / 'epoch_3.pth'))
    assert final['meta']['epoch'] == 3
    assert final['meta']['iter'] == 3 * iters_per_epoch
    # Adam's step counts span both runs: its state was resumed, not reset
    steps = {float(s['step']) for s in final['optimizer']['state'].values()}
    assert steps == {3 * iters_per_epoch}
    # per-iteration warm-up and per-epoch decay both continued
    warmup, decay = final['param_schedulers']
    assert warmup['last_step'] == 3 * iters_per_epoch
    assert decay['last_step'] == 3


def test_the_pretraining_config_trains_with_mmposes_train_tool(tiny_coco,
                                                               tmp_path):
    # A user's path to the study's neutral pretraining: MMPose's train tool,
    # no validation; the checkpoint holds the backbone the study keeps.
    work = tmp_path / 'work'
    options = {k: v for k, v in data_options(tiny_coco).items()
               if k.startswith('train_')}
    options.update({'train_cfg.max_epochs': 1,
                    'train_dataloader.dataset.indices': TRAIN_IMAGES,
                    'train_dataloader.batch_size': 8})
    run([sys.executable, osp.join(REPO, 'tools', 'train.py'),
         'configs/synthetic/pretrain_r18_silhouette.py', '--work-dir',
         str(work), *cli_options(options)], cwd=REPO)
    state = load(str(work / 'epoch_1.pth'))['state_dict']
    assert any(k.startswith('backbone.') for k in state)
    assert state['head.final_layer.weight'].shape[0] == 1


def study_cli(data_root: str, work_dir: str, doc: str, *extra,
              **env) -> subprocess.CompletedProcess:
    """``tools/reproduce.py`` on the tiny dataset, as a user runs it."""
    cmd = [sys.executable, osp.join(REPO, 'tools', 'reproduce.py'),
           '--data-root', data_root, '--num-train', '24', '--num-val', '12',
           '--work-dir', work_dir, '--doc', doc, '--seeds', '1',
           '--epochs', '4',
           # never the repository's own ledger
           '--ledger', osp.join(osp.dirname(doc), 'ledger'), *extra]
    return subprocess.run(cmd, cwd=REPO, env=environment(**env), timeout=300,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)


def test_reuse_only_with_no_finished_run_says_which_and_why(tiny_coco,
                                                            tmp_path):
    """Used to end in IndexError (report.py, results[0]), writing nothing."""
    doc = tmp_path / 'doc.md'
    proc = study_cli(tiny_coco, str(tmp_path / 'work'), str(doc),
                     '--pretrain-epochs', '0', '--reuse-only')
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr
    # 3 seeded variants, the Fig. 2(d) sweep, the prior sweep, the three
    # alternatives beyond the paper and detection's 2T run (no pretraining,
    # so no control from scratch; T // 2 = 2 is too short for saturation
    # pairs, T // 4 = 1 for the shortest length)
    assert 'looked for 14 runs' in proc.stderr
    assert 'detection_T8_seed0: no ' in proc.stderr
    assert 'integral_debias_kl2_seed0: no ' in proc.stderr
    assert 'detection_seed0: no ' in proc.stderr
    assert 'integral_kl3_seed0: no ' in proc.stderr
    assert 'Run without --reuse-only' in proc.stderr
    assert not doc.exists()


def test_a_second_study_on_a_held_work_dir_stops_at_once(tiny_coco,
                                                         tmp_path):
    from mmipr.study.workdir import work_dir_lock
    work = str(tmp_path / 'work')
    with work_dir_lock(work):
        proc = study_cli(tiny_coco, work, str(tmp_path / 'doc.md'),
                         '--pretrain-epochs', '0')
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert f'is in use by process {os.getpid()} on ' in proc.stderr
    assert 'Traceback' not in proc.stderr


@pytest.mark.parametrize('setting', ['--work-dir', 'MMIPR_CACHE'])
def test_a_folder_setting_that_is_a_file_is_named_by_the_cli(
        tiny_coco, tmp_path, setting):
    """Used to be raw FileExistsError / NotADirectoryError tracebacks."""
    a_file = tmp_path / 'a_file'
    a_file.write_text('not a folder')
    if setting == '--work-dir':
        proc = study_cli(tiny_coco, str(a_file), str(tmp_path / 'doc.md'),
                         '--pretrain-epochs', '0')
    else:
        proc = study_cli(tiny_coco, str(tmp_path / 'work'),
                         str(tmp_path / 'doc.md'), '--pretrain-epochs', '1',
                         MMIPR_CACHE=str(a_file))
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert f'{setting} is {str(a_file)!r}' in proc.stderr
    assert 'Traceback' not in proc.stderr
