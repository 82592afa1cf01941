"""The pure parts of mmipr.evaluation import no MMPose; the metric is
imported on first access (PEP 562) and registered by
``mmipr.evaluation.metrics``."""
import subprocess
import sys
import textwrap

import pytest
from conftest import REPO


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code)],
                          cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def test_pure_modules_import_no_mmpose_below_the_top_level():
    """mmipr.evaluation's own part, whatever ``mmipr/__init__`` imports: the
    top-level package is replaced by a bare one."""
    result = run(f'''
        import sys, types
        pkg = types.ModuleType('mmipr')
        pkg.__path__ = [{REPO + '/mmipr'!r}]
        sys.modules['mmipr'] = pkg
        import mmipr.evaluation.splits, mmipr.evaluation.oks
        import mmipr.evaluation.gt_formats
        import mmipr.heatmap.coords
        import mmipr.evaluation as ev
        loaded = sorted(m for m in sys.modules if m.startswith('mmpose'))
        assert not loaded, loaded
        assert 'DifficultySplitCocoMetric' in dir(ev)
        from mmipr.compat import ensure_mmcv_ops
        ensure_mmcv_ops()
        metric = ev.DifficultySplitCocoMetric  # imported now
        from mmpose.registry import METRICS
        assert METRICS.get('DifficultySplitCocoMetric') is metric
    ''')
    assert result.returncode == 0, result.stderr


def test_pure_modules_import_no_mmpose():
    if run('import mmipr, sys; assert "mmpose" not in sys.modules'
           ).returncode:
        pytest.skip('import mmipr itself imports MMPose (its lazy '
                    'registration is another change)')
    for module in ('mmipr.evaluation.splits', 'mmipr.evaluation.oks',
                   'mmipr.evaluation.gt_formats', 'mmipr.evaluation'):
        result = run(f'import {module}, sys; '
                     'assert "mmpose" not in sys.modules')
        assert result.returncode == 0, (module, result.stderr)


def test_importing_mmipr_registers_the_metric():
    result = run('''
        import mmipr
        from mmpose.registry import METRICS
        assert METRICS.get('DifficultySplitCocoMetric') is not None
    ''')
    assert result.returncode == 0, result.stderr
