"""A study work dir belongs to one process; caches and folders that cannot
poison later runs (issue 22, items 4 and 5)."""
import json
import os
import os.path as osp
import subprocess
import sys
import textwrap

import pytest
import torch
from conftest import REPO

from mmipr.study.cache import cached_file_ok, file_record
from mmipr.study.workdir import LOCK_FILE, WorkDirLockedError, usable_folder, work_dir_lock
from mmipr.utils.validation import InvalidArgumentError

DETECTION = osp.join(REPO, 'configs', 'synthetic', 'sbl_r18_detection.py')

HOLDER = textwrap.dedent('''
    import sys, time
    sys.path.insert(0, sys.argv[2])
    from mmipr.study.workdir import work_dir_lock
    with work_dir_lock(sys.argv[1]):
        print('locked', flush=True)
        time.sleep(60)
''')


def test_a_second_process_stops_at_once_naming_the_holder(tmp_path):
    holder = subprocess.Popen([sys.executable, '-c', HOLDER, str(tmp_path),
                               REPO], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'locked'
        with pytest.raises(WorkDirLockedError) as err:
            with work_dir_lock(str(tmp_path)):
                pass
        message = str(err.value)
        assert f'process {holder.pid} on ' in message
        assert 'started 20' in message and 'in use by' in message
    finally:
        holder.kill()
        holder.wait()
    # the kill left the lock file: a stale lock, taken over with a warning
    assert osp.exists(tmp_path / LOCK_FILE)
    with pytest.warns(UserWarning, match=f'process {holder.pid} .* no '
                      'longer runs'):
        with work_dir_lock(str(tmp_path)) as me:
            assert me['pid'] == os.getpid()
            saved = json.loads((tmp_path / LOCK_FILE).read_text())
            assert saved['pid'] == os.getpid()
    assert not osp.exists(tmp_path / LOCK_FILE)  # released


def test_the_same_process_cannot_hold_a_work_dir_twice(tmp_path):
    with work_dir_lock(str(tmp_path)):
        with pytest.raises(WorkDirLockedError, match=str(os.getpid())):
            with work_dir_lock(str(tmp_path)):
                pass
    with work_dir_lock(str(tmp_path)):  # free again after the first
        pass


def test_a_folder_setting_that_is_a_file_is_named(tiny_coco, tmp_path,
                                                  monkeypatch):
    """Used to be raw FileExistsError / NotADirectoryError tracebacks."""
    a_file = tmp_path / 'file'
    a_file.write_text('x')
    with pytest.raises(InvalidArgumentError, match="--work-dir is .*file"):
        usable_folder(str(a_file), '--work-dir')
    with pytest.raises(InvalidArgumentError,
                       match='MMIPR_CACHE is .*cannot be created'):
        usable_folder(str(a_file / 'sub'), 'MMIPR_CACHE')
    with pytest.raises(InvalidArgumentError, match='--work-dir'):
        with work_dir_lock(str(a_file)):
            pass
    from mmipr.study.pretrain import pretrained_backbone
    monkeypatch.setenv('MMIPR_CACHE', str(a_file))
    with pytest.raises(InvalidArgumentError, match='MMIPR_CACHE is'):
        pretrained_backbone(osp.join(REPO, 'configs', 'synthetic',
                                     'pretrain_r18_silhouette.py'),
                            tiny_coco, epochs=1)


def _weights(path):
    torch.save(dict(state_dict={'w': torch.arange(100.)}), path)
    return path


@pytest.mark.parametrize('damage', ['empty', 'truncated', 'altered'])
def test_a_bad_cached_file_is_named_and_set_aside(tmp_path, damage):
    path = _weights(str(tmp_path / 'w.pth'))
    record = file_record(path)
    assert cached_file_ok(path, record, 'the weights')
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write({'empty': b'', 'truncated': data[:len(data) // 2],
                 'altered': data[:-1] + bytes([data[-1] ^ 1])}[damage])
    why = {'empty': 'empty', 'truncated': 'bytes where its record',
           'altered': 'sha256'}[damage]
    with pytest.warns(UserWarning, match=f'the weights {path} is unusable: '
                      f'.*{why}.*moved to'):
        assert not cached_file_ok(path, record, 'the weights')
    assert not osp.exists(path)
    assert len([p for p in os.listdir(tmp_path) if '.bad-' in p]) == 1


def test_a_file_without_record_is_checked_by_loading_it(tmp_path):
    path = _weights(str(tmp_path / 'w.pth'))
    assert cached_file_ok(path, {}, 'the weights')  # an older mmipr's
    open(path, 'wb').close()
    with pytest.warns(UserWarning, match='empty'):
        assert not cached_file_ok(path, {}, 'the weights')


def test_zero_byte_initial_weights_are_rebuilt_the_same(tmp_path):
    """A zero-byte cached weight file used to break every later run with
    EOFError: Ran out of input, naming no path."""
    from mmipr.study.setup import initial_weights
    path = initial_weights(DETECTION, 0, str(tmp_path))
    state = torch.load(path, weights_only=True)['state_dict']
    assert osp.exists(osp.splitext(path)[0] + '.json')
    open(path, 'wb').close()
    with pytest.warns(UserWarning, match='initial weights .* empty'):
        again = initial_weights(DETECTION, 0, str(tmp_path))
    assert again == path
    rebuilt = torch.load(path, weights_only=True)['state_dict']
    assert all(torch.equal(state[k], rebuilt[k]) for k in state)
