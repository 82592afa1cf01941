"""The package's papers: mim's model index, LICENSE, CITATION.cff.

``mim search mmipr`` reads ``<installed mmipr>/.mim/model-index.yml``. The
test installs a copy of this checkout into a temporary folder (pip
``--target``, no dependencies: the wheel setuptools builds from setup.cfg)
and runs the ``mim`` command with only that copy on ``PYTHONPATH``.
"""
import configparser
import glob
import os
import os.path as osp
import re
import shutil
import subprocess
import sys

import yaml
from conftest import REPO
from mmengine.config import Config
from test_configs_families import metafile_entry, mmpose_base

BIN = osp.dirname(sys.executable)


#: config folders of other networks and datasets, each config a delta on an
#: MMPose config (tests/test_configs_families.py)
FAMILY_FOLDERS = ('hrnet', 'hand', 'from_heatmap')


def model_configs() -> list:
    """Every model config of the repo (the pretraining and learnability
    configs of the synthetic study are not pose models of the paper)."""
    return sorted(
        osp.relpath(p, REPO)
        for p in glob.glob(osp.join(REPO, 'configs', '*.py'))
        + glob.glob(osp.join(REPO, 'configs', 'synthetic', 'sbl_r18_*.py'))
        + [p for folder in FAMILY_FOLDERS
           for p in glob.glob(osp.join(REPO, 'configs', folder, '*.py'))])


def test_metafile_lists_every_model_config_in_mmposes_format():
    with open(osp.join(REPO, 'model-index.yml')) as f:
        index = yaml.safe_load(f)
    models = []
    for path in index['Import']:
        with open(osp.join(REPO, path)) as f:
            meta = yaml.safe_load(f)
        (collection, ) = meta['Collections']
        assert collection['Paper']['Title'] == \
            'Dive Deeper into Integral Pose Regression'
        models += meta['Models']
    assert sorted(m['Config'] for m in models) == model_configs()
    for model in models:
        assert model['Name'] == osp.splitext(osp.basename(model['Config']))[0]
        assert model['In Collection'] == collection['Name']
        # the architecture named is the config's, after inheritance: the
        # network as MMPose's metafile of the base config names it
        path = osp.join(REPO, model['Config'])
        head = Config.fromfile(path).model.head
        prior = head.get('prior_loss')
        network = ['SimpleBaseline2D', 'ResNet']
        if model['Config'].split('/')[1] in FAMILY_FOLDERS:
            base = metafile_entry(mmpose_base(path))['Metadata']
            network = base['Architecture']
            assert model['Metadata']['Training Data'] == \
                base['Training Data']
            width, height = head.decoder.input_size
            assert model['Metadata']['Input Size'] == f'{height}x{width}'
        assert model['Metadata']['Architecture'] == network + [head.type] + (
            [prior.type] if prior else [])


def test_mim_search_lists_the_configs(tmp_path):
    # built from a copy: setuptools builds in the source tree (build/,
    # *.egg-info), which must not collect stale files in the checkout
    source = tmp_path / 'source'
    shutil.copytree(REPO, source, symlinks=True, ignore=shutil.ignore_patterns(
        '.git', 'build', 'dist', '*.egg-info', 'data', 'work_dirs',
        '__pycache__', '.pytest_cache', '.ruff_cache'))
    target = tmp_path / 'site'
    proc = subprocess.run(
        [sys.executable, '-m', 'pip', 'install', '-q', '--no-deps',
         '--no-build-isolation', '--target', str(target), str(source)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert osp.isfile(target / 'mmipr' / '.mim' / 'model-index.yml')

    env = dict(os.environ, PYTHONPATH=str(target))
    proc = subprocess.run([osp.join(BIN, 'mim'), 'search', 'mmipr'],
                          cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    listed = sorted(re.findall(r'^config\s+(\S+)$', proc.stdout, re.M))
    assert listed == model_configs(), proc.stdout[-3000:]
    for config in listed:  # shipped with the package
        assert osp.isfile(target / 'mmipr' / '.mim' / config)


def test_license_is_the_apache_2_0_text_setup_cfg_declares():
    cfg = configparser.ConfigParser()
    cfg.read(osp.join(REPO, 'setup.cfg'))
    assert cfg['metadata']['license'] == 'Apache-2.0'
    with open(osp.join(REPO, 'LICENSE')) as f:
        text = f.read()
    assert 'Apache License\n                           Version 2.0' in text
    assert 'TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION' \
        in text
    assert 'END OF TERMS AND CONDITIONS' in text
    assert len(text.split()) > 1500  # the full text, not a stub


def test_citation_cff_cites_the_paper_and_the_project():
    with open(osp.join(REPO, 'CITATION.cff')) as f:
        cff = yaml.safe_load(f)
    # the keys CFF 1.2.0 requires
    assert cff['cff-version'] == '1.2.0'
    for key in ('message', 'title', 'authors'):
        assert cff[key]
    assert 'mmipr' in cff['title']
    from mmipr.version import __version__
    assert cff['version'] == __version__
    assert cff['license'] == 'Apache-2.0'
    paper = cff['preferred-citation']
    assert paper['title'] == 'Dive Deeper into Integral Pose Regression'
    assert [a['family-names'] for a in paper['authors']] == \
        ['Gu', 'Yang', 'Yao']
    assert paper['year'] == 2022 and 'ICLR' in paper['collection-title']
    assert paper['url'].endswith('id=vHVcB-ak3Si')
