"""The ledger's ids, keys, records and the saturation criterion; committed
weights checked against their records."""
import json
import os
import os.path as osp

import pytest
import torch
from conftest import REPO

from mmipr.study.committed_weights import (
    BUDGET_BYTES,
    WEIGHTS_DIR,
    WeightsMismatchError,
    committed,
    load_weights,
    save_weights,
    total_bytes,
    verify_weights,
)
from mmipr.study.ledger import Ledger, ledger_key, parse_run_id, run_id, saturation
from mmipr.study.plan import PRETRAIN_CONFIG


def test_run_ids_round_trip():
    assert run_id('detection', 0, 30, study_epochs=30) == 'detection_seed0'
    assert run_id('detection', 0, 20, study_epochs=30) == \
        'detection_T20_seed0'
    assert run_id('integral_kl0.5', 2) == 'integral_kl0.5_seed2'
    for rid, parsed in [('detection_T20_seed0', ('detection', 20, 0)),
                        ('integral_kl2_seed1', ('integral_kl2', None, 1)),
                        ('detection_sigma0.5_T8_seed3',
                         ('detection_sigma0.5', 8, 3))]:
        assert parse_run_id(rid) == parsed
    with pytest.raises(ValueError, match='not a run id'):
        parse_run_id('detection')
    with pytest.raises(ValueError, match='variant'):
        run_id('Detection', 0)


def _data(root):
    os.makedirs(root, exist_ok=True)
    for name, text in [('ann.json', '{"a": 1}'), ('marker.json', '{}')]:
        with open(osp.join(root, name), 'w') as f:
            f.write(text)
    return [osp.join(root, 'ann.json'), osp.join(root, 'marker.json')]


def test_key_is_the_same_in_another_clone_and_machine(tmp_path):
    """Paths differ between clones; contents and settings decide."""
    keys = []
    for clone in ('a', 'b'):
        root = str(tmp_path / clone / 'data')
        files = _data(root)
        weights = str(tmp_path / clone / 'init.pth')
        torch.save({'w': torch.ones(2)}, weights)
        cfg = dict(work_dir=str(tmp_path / clone / 'work'),
                   load_from=weights,
                   train_dataloader=dict(dataset=dict(
                       data_root=root + '/', ann_file='ann.json')))
        keys.append(ledger_key(cfg, root, files + [weights]))
    assert keys[0] == keys[1]


def test_key_changes_with_config_data_start_and_version(tmp_path):
    root = str(tmp_path / 'data')
    files = _data(root)
    weights = str(tmp_path / 'init.pth')
    torch.save({'w': torch.ones(2)}, weights)
    cfg = dict(lr=1e-3, load_from=weights)
    base = ledger_key(cfg, root, files)
    assert ledger_key(dict(cfg, lr=2e-3), root, files) != base
    assert ledger_key(cfg, root, files, study_version=999) != base
    torch.save({'w': torch.zeros(2)}, weights)
    assert ledger_key(cfg, root, files) != base
    torch.save({'w': torch.ones(2)}, weights)
    assert ledger_key(cfg, root, files) == base
    with open(files[0], 'w') as f:
        f.write('{"a": 2}')
    assert ledger_key(cfg, root, files) != base


def _record(rid, key):
    return dict(run_id=rid, settings_key=key, commit='abc', epochs=4,
                ap_curve=dict(epochs=[2, 4], AP=[0.1, 0.2]),
                final={'coco/AP': 0.2})


def test_ledger_lookup_current_stale_missing(tmp_path):
    ledger = Ledger(str(tmp_path / 'runs'))
    assert ledger.lookup('detection_seed0', 'k1').status == 'missing'
    ledger.write(_record('detection_seed0', 'k1'))
    found = ledger.lookup('detection_seed0', 'k1')
    assert found.status == 'current' and found.record['final'][
        'coco/AP'] == 0.2
    stale = ledger.lookup('detection_seed0', 'k2')
    assert stale.status == 'stale' and stale.recorded_key == 'k1'
    assert stale.record is None
    assert ledger.run_ids() == ['detection_seed0']


def test_ledger_refuses_a_damaged_record(tmp_path):
    ledger = Ledger(str(tmp_path))
    with open(tmp_path / 'detection_seed0.json', 'w') as f:
        f.write('{"run_id": "detection_seed0"')
    with pytest.raises(ValueError, match='unreadable'):
        ledger.read('detection_seed0')
    with open(tmp_path / 'detection_seed0.json', 'w') as f:
        json.dump(dict(run_id='integral_seed0'), f)
    with pytest.raises(ValueError, match='not a record of run'):
        ledger.read('detection_seed0')
    with pytest.raises(ValueError, match='needs'):
        ledger.write(dict(run_id='detection_seed0'))


@pytest.mark.parametrize('full, half, spread, saturated, within', [
    (0.364, 0.276, 0.0, False, ''),          # issue 24's curve, 15 -> 30
    (0.520, 0.500, 0.0, True, 'relative'),   # +4 %
    (0.560, 0.500, 0.0, False, ''),          # +12 %
    (0.560, 0.500, 0.07, True, 'seed spread'),
    (0.480, 0.500, 0.0, True, 'relative'),   # a drop is no gain
])
def test_saturation_criterion(full, half, spread, saturated, within):
    verdict = saturation(full, half, spread)
    assert verdict['saturated'] is saturated
    assert verdict['within'] == within
    assert verdict['relative'] == pytest.approx((full - half) / half)


def test_weights_round_trip_and_tamper(tmp_path):
    path = str(tmp_path / 'w' / 'backbone.pth')
    state = {'conv.weight': torch.randn(4, 3, 3, 3),
             'bn.num_batches_tracked': torch.tensor(7)}
    record = save_weights(path, state, dict(
        command='python x.py', commit='abc', settings_key='k', seconds=1.0,
        final={'loss': 0.1}))
    loaded, rec = load_weights(path)
    assert rec == record and rec['dtype'] == 'float16'
    assert loaded['conv.weight'].dtype == torch.float32
    torch.testing.assert_close(loaded['conv.weight'],
                               state['conv.weight'].half().float())
    assert loaded['bn.num_batches_tracked'].item() == 7
    with open(path, 'r+b') as f:  # one flipped byte near the end
        f.seek(-20, 2)
        byte = f.read(1)
        f.seek(-20, 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(WeightsMismatchError, match='backbone.pth'):
        verify_weights(path)
    os.remove(path)
    with pytest.raises(FileNotFoundError, match='backbone.pth is missing'):
        verify_weights(path)
    with pytest.raises(ValueError, match='needs'):
        save_weights(path, state, dict(command='x'))


def test_committed_weights_match_their_records():
    folder = osp.join(REPO, WEIGHTS_DIR)
    files = committed(folder)
    # the study's backbone is committed: a fresh machine starts from it
    assert osp.join(folder, osp.splitext(PRETRAIN_CONFIG)[0] + '.pth') in files
    for path in files:
        verify_weights(path)
    assert total_bytes(folder) <= BUDGET_BYTES
