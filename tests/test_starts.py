"""The comparison of neutral starts (mmipr.study.starts and its CLI)."""
import os.path as osp
import subprocess
import sys

import pytest
from conftest import REPO

from mmipr.study.plan import PRETRAIN_CONFIG
from mmipr.study.starts import (
    START_CONFIGS,
    STARTS,
    StartsSettings,
    pretraining_of,
    write_starts_document,
)
from mmipr.utils.validation import InvalidArgumentError

CLI = osp.join(REPO, 'tools', 'analysis', 'compare_starts.py')


def test_the_committed_document_is_the_commands_and_names_the_studys_start(
        tmp_path):
    # docs/starts.md is the command's method text and table; the study
    # starts from the start that led its table
    method = write_starts_document(
        StartsSettings(doc=str(tmp_path / 'starts.md')), None)
    method = method[:method.index('Not measured yet')]
    with open(osp.join(REPO, 'docs', 'starts.md')) as f:
        committed = f.read()
    assert 'python tools/analysis/compare_starts.py\n' in method
    assert committed.startswith(method)
    table = [line for line in committed[len(method):].splitlines()
             if line.startswith('| ')]
    header = [c.strip() for c in table[0].strip('|').split('|')]
    rows = [dict(zip(header, (c.strip() for c in line.strip('|').split('|'))))
            for line in table[2:]]
    assert [r['start'] for r in rows] == list(STARTS)
    best = max(rows, key=lambda r: (float(r['detection AP']),
                                    float(r['integral AP'])))
    assert START_CONFIGS[best['start']] == PRETRAIN_CONFIG


def test_each_start_pretrains_on_its_data_for_its_epochs():
    settings = StartsSettings(pretrain_epochs=6, long_epochs=12,
                              pretrain_images=6000)
    assert pretraining_of('scratch', settings) is None
    config, root, epochs, images = pretraining_of('silhouette_more',
                                                  settings)
    assert (root, epochs, images) == (settings.pretrain_root, 6, 6000)
    assert pretraining_of('silhouette_long', settings)[1:] == (
        settings.data_root, 12, 3000)
    assert pretraining_of('parts', settings)[0].endswith(
        'pretrain_r18_parts.py')
    # by default the two larger pretrainings cost the same
    defaults = StartsSettings()
    assert defaults.pretrain_images * defaults.pretrain_epochs == \
        defaults.num_train * defaults.long_epochs


def test_bad_settings_are_clear_errors():
    with pytest.raises(InvalidArgumentError, match='starts must be some of'):
        StartsSettings(starts=('imagenet',))
    with pytest.raises(InvalidArgumentError, match='study\'s seed'):
        StartsSettings(pretrain_seed=0)
    with pytest.raises(InvalidArgumentError, match='finetune_epochs'):
        StartsSettings(finetune_epochs=0)
    with pytest.raises(InvalidArgumentError, match='finetune_epochs.*lr drops'):
        StartsSettings(finetune_epochs=2)  # lr_drops needs 3


@pytest.mark.slow
def test_the_cli_compares_tiny_starts_and_reuses_them(tmp_path):
    args = [sys.executable, CLI, '--data-root', str(tmp_path / 'data'),
            '--num-train', '8', '--num-val', '4', '--pretrain-root',
            str(tmp_path / 'pre'), '--pretrain-images', '16',
            '--pretrain-epochs', '1', '--long-epochs', '2',
            '--finetune-epochs', '3', '--work-dir', str(tmp_path / 'work'),
            '--cache-dir', str(tmp_path / 'cache'), '--doc',
            str(tmp_path / 'starts.md'), '--starts', 'scratch',
            'silhouette_more', 'parts']
    first = subprocess.run(args, cwd=REPO, capture_output=True, text=True,
                           timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    with open(tmp_path / 'starts.md') as f:
        doc = f.read()
    assert ' '.join(['python', 'tools/analysis/compare_starts.py']
                    + args[2:]) in doc
    rows = [line for line in doc.splitlines()
            if line.startswith('| ') and line.split(' | ')[0][2:] in STARTS]
    assert [r.split(' | ')[0][2:] for r in rows] == [
        'scratch', 'silhouette_more', 'parts']
    more = rows[1].split(' | ')
    assert more[1:3] == ['16', '1'] and float(more[4]) > 0
    assert osp.isdir(tmp_path / 'pre' / 'train2017')
    # a second invocation reuses every pretraining and run
    second = subprocess.run(args, cwd=REPO, capture_output=True, text=True,
                            timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert 'backbone trained' in first.stdout
    assert 'backbone trained' not in second.stdout
    assert second.stdout.count('backbone reused') == 2
    assert second.stdout.count('(reused,') == 6
    with open(tmp_path / 'starts.md') as f:
        assert f.read() == doc
