"""Checkpoint loading runs no code (issue 22, items 1 and 6).

Before: ``import mmipr`` re-registered MMEngine's local loader with
``torch.load(weights_only=False)``, so a ``.pth`` whose pickle carries a
payload ran it through ``load_from``, ``--resume`` and ``tools/test.py``.
Now MMEngine's loader is mmipr's allowlisting one: payloads are refused with
a message naming the global and the opt-in, and MMEngine's and MMPose's own
checkpoints still load.
"""
import functools
import http.server
import os
import os.path as osp
import pickle
import subprocess
import sys
import textwrap
import threading
from collections import Counter, OrderedDict

import numpy as np
import pytest
import torch
from conftest import REPO
from mmengine.config import Config
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import _load_checkpoint, save_checkpoint

import mmipr  # noqa: F401  (registers the loader)
from mmipr.checkpoint_loader import (
    TRUSTED_ENV,
    UntrustedCheckpointError,
    is_trusted,
    load_checkpoint_file,
)
from mmipr.engine.checkpoint import check_checkpoint_matches, checkpoint_head_type

DETECTION = osp.join(REPO, 'configs', 'synthetic', 'sbl_r18_detection.py')
INTEGRAL = osp.join(REPO, 'configs', 'synthetic', 'sbl_r18_integral_kl2.py')


class Payload:
    """Unpickling it runs a shell command that creates ``marker``."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


class AttributeProbe:
    """Unpickles as ``getattr(HistoryBuffer, 'register_statistics')``: an
    attribute outside the allowed pairs."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, 'register_statistics')


def payload_checkpoint(folder, legacy: bool = False) -> tuple:
    """A checkpoint with a payload beside ordinary weights; (path, marker)."""
    marker = str(folder / 'marker')
    path = str(folder / ('payload_legacy.pth' if legacy else 'payload.pth'))
    torch.save(dict(state_dict={'w': torch.ones(2)}, meta=Payload(marker)),
               path, _use_new_zipfile_serialization=not legacy)
    return path, marker


# --------------------------------------------------------------- refused
@pytest.mark.parametrize('legacy', [False, True], ids=['zip', 'legacy'])
def test_payload_checkpoint_runs_nothing_and_names_the_global(tmp_path,
                                                              legacy):
    path, marker = payload_checkpoint(tmp_path, legacy)
    # MMEngine's loading path: load_from, --resume, tools/test.py
    with pytest.raises(UntrustedCheckpointError) as info:
        _load_checkpoint(path, map_location='cpu')
    assert not osp.exists(marker)
    message = str(info.value)
    assert 'posix.system' in message and path in message
    assert f'{TRUSTED_ENV}={osp.abspath(path)}' in message
    assert 'trusted=True' in message
    # a ValueError (the tools print it without a traceback) and an
    # UnpicklingError (what torch.load raises)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, pickle.UnpicklingError)


def test_plain_pickle_file_is_refused(tmp_path):
    marker = tmp_path / 'marker'
    path = tmp_path / 'plain.pkl'
    path.write_bytes(pickle.dumps({'meta': Payload(str(marker))}, protocol=2))
    with pytest.raises(UntrustedCheckpointError, match='system'):
        load_checkpoint_file(str(path))
    assert not marker.exists()


def test_getattr_is_allowed_for_history_buffer_statistics_only(tmp_path):
    path = str(tmp_path / 'probe.pth')
    torch.save(dict(meta=dict(x=AttributeProbe())), path)
    with pytest.raises(UntrustedCheckpointError,
                       match="getattr.*'register_statistics'"):
        load_checkpoint_file(path)


# ---------------------------------------------------------------- opt-in
def test_trusted_argument_loads_the_payload(tmp_path):
    path, marker = payload_checkpoint(tmp_path)
    with pytest.raises(UntrustedCheckpointError):
        load_checkpoint_file(path, trusted=False)
    assert not osp.exists(marker)
    load_checkpoint_file(path, trusted=True)
    assert osp.exists(marker)  # full pickle: the payload ran


def test_environment_variable_trusts_listed_files_and_folders(
        tmp_path, monkeypatch):
    (tmp_path / 'trusted').mkdir()
    (tmp_path / 'other').mkdir()
    path, marker = payload_checkpoint(tmp_path / 'trusted')
    other, other_marker = payload_checkpoint(tmp_path / 'other')
    monkeypatch.delenv(TRUSTED_ENV, raising=False)
    assert not is_trusted(path)
    # a list of files and folders, as PATH: only those are trusted
    monkeypatch.setenv(TRUSTED_ENV, os.pathsep.join(
        [str(tmp_path / 'nowhere.pth'), str(tmp_path / 'trusted')]))
    with pytest.raises(UntrustedCheckpointError):
        _load_checkpoint(other, map_location='cpu')
    assert not osp.exists(other_marker)
    _load_checkpoint(path, map_location='cpu')
    assert osp.exists(marker)
    # a folder's name as a prefix of another folder's is not a match
    monkeypatch.setenv(TRUSTED_ENV, str(tmp_path / 'oth'))
    assert not is_trusted(other)
    monkeypatch.setenv(TRUSTED_ENV, other)
    assert is_trusted(other) and not is_trusted(path)


def test_import_mmipr_leaves_torch_load_strict(tmp_path):
    # before: `import mmipr` made every local torch.load through MMEngine
    # full pickle for the rest of the process
    path, marker = payload_checkpoint(tmp_path)
    code = textwrap.dedent(f'''
        import os, pickle, torch
        import mmipr
        from mmengine.runner.checkpoint import _load_checkpoint
        before = set(torch.serialization.get_safe_globals())
        for load in (torch.load, _load_checkpoint):
            try:
                load({path!r})
            except pickle.UnpicklingError as e:
                print('refused', type(e).__name__)
        print('marker', os.path.exists({marker!r}))
        after = set(torch.serialization.get_safe_globals())
        print('unchanged', after == before)
    ''')
    env = dict(os.environ, PYTHONPATH=REPO)
    env.pop(TRUSTED_ENV, None)
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, timeout=300, cwd=REPO, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [line for line in out.stdout.splitlines()
             if line.startswith(('refused', 'marker', 'unchanged'))]
    assert lines == [
        'refused UnpicklingError', 'refused UntrustedCheckpointError',
        'marker False', 'unchanged True']


def test_safe_globals_of_the_user_are_kept(tmp_path):
    # the allowlist is added for one load and removed, except what the user
    # had added before
    original = torch.serialization.get_safe_globals()
    torch.serialization.add_safe_globals([HistoryBuffer])
    try:
        path = str(tmp_path / 'ok.pth')
        torch.save(dict(meta=dict(sigmas=np.ones(3))), path)
        load_checkpoint_file(path)
        assert HistoryBuffer in torch.serialization.get_safe_globals()
        assert np.ndarray not in torch.serialization.get_safe_globals()
    finally:
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(original)


# -------------------------------------------------- what must still load
def mmengine_style_checkpoint() -> dict:
    """What an MMPose training checkpoint holds (MMEngine 0.10.7's
    Runner.save_checkpoint): numpy metadata, HistoryBuffers (whose
    statistics methods pickle as getattr), optimizer and scheduler state
    (a Counter of milestones), the config text."""
    from mmengine.optim import MultiStepLR
    from mmpose.datasets import CocoDataset
    model = torch.nn.Linear(2, 3)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.ones(1, 2)).sum().backward()
    optimizer.step()
    scheduler = MultiStepLR(optimizer, milestones=[2, 3], by_epoch=True)
    history = HistoryBuffer()
    history.update(0.5)
    dataset_meta = CocoDataset._load_metainfo(
        dict(from_file='configs/_base_/datasets/coco.py'))
    assert isinstance(dataset_meta['sigmas'], np.ndarray)
    return dict(
        meta=dict(epoch=1, iter=3, cfg=Config.fromfile(DETECTION).pretty_text,
                  seed=np.int64(7), dataset_meta=dataset_meta,
                  mmengine_version='0.10.7', time='20261203_185718'),
        state_dict=model.state_dict(),
        message_hub=dict(log_scalars=OrderedDict(loss=history),
                         runtime_info=dict(epoch=1, max_iters=3),
                         resumed_keys=dict(epoch=False)),
        optimizer=optimizer.state_dict(),
        param_schedulers=[scheduler.state_dict()])


def test_mmengine_training_checkpoint_loads(tmp_path):
    path = str(tmp_path / 'epoch_1.pth')
    expected = mmengine_style_checkpoint()
    save_checkpoint(expected, path)
    checkpoint = _load_checkpoint(path, map_location='cpu')
    meta = checkpoint['meta']
    np.testing.assert_array_equal(meta['dataset_meta']['sigmas'],
                                  expected['meta']['dataset_meta']['sigmas'])
    assert meta['seed'] == 7 and type(meta['seed']) is np.int64
    buffer = checkpoint['message_hub']['log_scalars']['loss']
    assert buffer.current() == 0.5 and buffer.statistics('mean') == 0.5
    assert isinstance(checkpoint['param_schedulers'][0]['milestones'],
                      Counter)
    assert checkpoint['optimizer']['state'][0]['step'] == 1
    for key, value in expected['state_dict'].items():
        assert torch.equal(checkpoint['state_dict'][key], value)


@pytest.mark.parametrize('era', ['mmengine', 'mmcv'])
def test_checkpoint_in_the_format_of_mmposes_published_ones_loads(
        tmp_path, era):
    # MMPose's tools/misc/publish_model.py keeps `meta` and `state_dict`
    # and saves with _use_new_zipfile_serialization=False; the model zoo's
    # older files carry an MMCV runner's meta (versions, time, config text)
    model = torch.nn.Conv2d(3, 17, 1)
    state = OrderedDict((f'keypoint_head.final_layer.{k}', v)
                        for k, v in model.state_dict().items())
    if era == 'mmengine':
        meta = mmengine_style_checkpoint()['meta']
    else:
        meta = dict(mmcv_version='1.3.8', mmpose_version='0.16.0',
                    time='Thu Jun 24 12:00:00 2021', epoch=210, iter=123690,
                    env_info='sys.platform: linux', seed=0,
                    exp_name='res50_coco_256x192.py',
                    config="model = dict(type='TopDown', keypoint_head=dict("
                    "type='TopdownHeatmapSimpleHead', out_channels=17))")
    path = str(tmp_path / 'res50_coco_256x192-ec54d7f3_20200709.pth')
    torch.save(dict(meta=meta, state_dict=state), path,
               _use_new_zipfile_serialization=False)
    checkpoint = _load_checkpoint(path, map_location='cpu')
    assert set(checkpoint) == {'meta', 'state_dict'}
    assert torch.equal(checkpoint['state_dict'][
        'keypoint_head.final_layer.weight'], model.weight)
    expected = 'ArgmaxHead' if era == 'mmengine' else \
        'TopdownHeatmapSimpleHead'
    assert checkpoint_head_type(checkpoint) == expected


# ------------------------------------------------------------- downloads
@pytest.fixture
def http_folder(tmp_path, monkeypatch):
    """A folder served on localhost; torch's hub cache under tmp_path."""
    served = tmp_path / 'served'
    served.mkdir()
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=str(served))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()


def test_downloaded_checkpoints_are_loaded_with_the_allowlist(
        http_folder, monkeypatch):
    # before: MMEngine's http loader called torch.hub with weights_only=False
    served, url = http_folder
    path, marker = payload_checkpoint(served)
    with pytest.raises(UntrustedCheckpointError, match='posix.system') as info:
        _load_checkpoint(f'{url}/payload.pth', map_location='cpu')
    assert not osp.exists(marker)
    cached = osp.join(os.environ['TORCH_HOME'], 'hub', 'checkpoints',
                      'payload.pth')
    assert f'{TRUSTED_ENV}={cached}' in str(info.value)
    # torchvision:// names resolve to URLs and load the same way
    import mmengine.runner.checkpoint as mmengine_checkpoint
    monkeypatch.setattr(mmengine_checkpoint, 'get_torchvision_models',
                        lambda: dict(evil=f'{url}/payload.pth'))
    with pytest.raises(UntrustedCheckpointError):
        _load_checkpoint('torchvision://evil', map_location='cpu')
    assert not osp.exists(marker)
    save_checkpoint(mmengine_style_checkpoint(), str(served / 'good.pth'))
    checkpoint = _load_checkpoint(f'{url}/good.pth', map_location='cpu')
    assert checkpoint['meta']['epoch'] == 1


# ---------------------------------------------------- head type (item 6)
@pytest.fixture(scope='module')
def models():
    from mmpose.registry import MODELS
    return {name: MODELS.build(Config.fromfile(path).model)
            for name, path in (('ArgmaxHead', DETECTION),
                               ('IntegralHead', INTEGRAL))}


@pytest.mark.parametrize('trained,into', [('ArgmaxHead', 'IntegralHead'),
                                          ('IntegralHead', 'ArgmaxHead')])
def test_other_head_type_is_said_once(tmp_path, models, trained, into,
                                      recwarn):
    # before: the checkpoint loaded without a word
    config = DETECTION if trained == 'ArgmaxHead' else INTEGRAL
    path = str(tmp_path / f'{trained}.pth')
    torch.save(dict(state_dict=models[trained].state_dict(),
                    meta=dict(cfg=Config.fromfile(config).pretty_text)),
               path)
    with pytest.warns(UserWarning, match=f'trained with {trained}') as info:
        check_checkpoint_matches(models[into], path)
    message, = [str(w.message) for w in info
                if 'trained with' in str(w.message)]
    assert path in message and into in message
    recwarn.clear()
    check_checkpoint_matches(models[into], path)  # said once
    assert not [w for w in recwarn if 'trained with' in str(w.message)]
    check_checkpoint_matches(models[trained], path)  # same head: nothing
    assert not [w for w in recwarn if 'trained with' in str(w.message)]


def test_head_type_is_read_without_running_the_config():
    # the config text is parsed, never executed
    code = "import os; os.system('touch x'); model = dict(head=dict(" \
        "type='IntegralHead'))"
    assert checkpoint_head_type(dict(meta=dict(cfg=code))) == 'IntegralHead'
    assert checkpoint_head_type(dict(meta=dict())) is None
    assert checkpoint_head_type(dict(meta=dict(cfg='model = ('))) is None
    assert checkpoint_head_type({'w': torch.ones(1)}) is None


# ------------------------------------------------------------ the tools
def test_test_tool_refuses_a_payload_checkpoint_in_words(
        tiny_coco, tmp_path, monkeypatch, capsys):
    # before: tools/test.py ran the payload while loading the checkpoint
    from conftest import data_options

    from mmipr.engine.runner_tools import run_tool, test_main
    path, marker = payload_checkpoint(tmp_path)
    monkeypatch.delenv(TRUSTED_ENV, raising=False)
    options = [f'{k}={v}' for k, v in data_options(tiny_coco).items()]
    monkeypatch.setattr(sys, 'argv', [
        'test.py', INTEGRAL, path, '--work-dir', str(tmp_path / 'work'),
        '--cfg-options', *options])
    with pytest.raises(SystemExit) as info:
        run_tool(test_main, 'test.py')
    assert not osp.exists(marker)
    message = str(info.value.code)
    assert message.startswith('test.py: error: Refused to load the '
                              f'checkpoint {path}')
    assert 'posix.system' in message and TRUSTED_ENV in message


def test_empty_bytes_in_a_checkpoint_load(tmp_path):
    """Pickle protocol 2 (torch.save's) writes ``b''`` as the global
    ``bytes()``: a one-epoch OneHand10K checkpoint held one and was refused
    (tests/test_e2e_families.py); ``bytes`` builds data only."""
    path = str(tmp_path / 'hand.pth')
    torch.save(dict(meta=dict(empty=b'', data=b'\x00x'),
                    state_dict=dict(w=torch.ones(2))), path)
    loaded = load_checkpoint_file(path)
    assert loaded['meta'] == dict(empty=b'', data=b'\x00x')
