"""The one list of library internals the evaluation relies on
(mmipr.evaluation.engines.private_api): present in the installed libraries,
and complete (no engine reaches a private name that is not listed)."""
import ast
import glob
import os.path as osp

import pytest
from conftest import REPO

from mmipr.evaluation.engines import private_api
from mmipr.evaluation.engines.private_api import PRIVATE_API, PrivateAttribute, missing_private_api

ENGINES = sorted(glob.glob(osp.join(REPO, 'mmipr', 'evaluation', 'engines',
                                    '*.py')))


def test_installed_libraries_have_every_listed_internal():
    missing = missing_private_api()
    assert not missing, '\n'.join(missing)


def test_a_missing_internal_is_named_with_versions(monkeypatch):
    gone = PrivateAttribute('xtcocotools', 'xtcocotools.cocoeval:COCOeval',
                            '_renamed_in_a_future_release', 'attribute',
                            'engines.xtcocotools: an example')
    monkeypatch.setattr(private_api, 'PRIVATE_API', (*PRIVATE_API, gone))
    missing = missing_private_api()
    assert len(missing) == 1
    assert "'_renamed_in_a_future_release'" in missing[0]
    assert 'xtcocotools 1.14.3 (mmipr checked 1.14.3)' in missing[0]
    assert 'engines.xtcocotools' in missing[0]


def _private(name: str) -> bool:
    return name.startswith('_') and not name.startswith('__')


@pytest.mark.parametrize('path', ENGINES, ids=osp.basename)
def test_engines_reach_no_unlisted_private_name(path):
    """The engine modules' own classes use no leading underscore for their
    members, so every ``x._name`` there, and every ``_name`` method they
    define (an override), is a library internal and must be listed."""
    listed = {e.name for e in PRIVATE_API}
    with open(path) as f:
        tree = ast.parse(f.read())
    used = {node.attr for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and _private(node.attr)}
    used |= {node.name for cls in ast.walk(tree)
             if isinstance(cls, ast.ClassDef) for node in cls.body
             if isinstance(node, ast.FunctionDef) and _private(node.name)}
    assert used <= listed, f'not in private_api.PRIVATE_API: {used - listed}'


def test_metric_overrides_only_listed_private_methods():
    from mmpose.evaluation import CocoMetric

    from mmipr.evaluation import DifficultySplitCocoMetric
    listed = {e.name for e in PRIVATE_API if e.owner.endswith(':CocoMetric')}
    overrides = {name for name in vars(DifficultySplitCocoMetric)
                 if _private(name) and hasattr(CocoMetric, name)
                 and name != '_abc_impl'}  # ABCMeta's, on every subclass
    assert overrides == listed
