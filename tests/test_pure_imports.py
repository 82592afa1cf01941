"""Pure layers import without MMPose; ``import mmipr`` and
``custom_imports=['mmipr']`` still register everything (mmipr.registration).

Each case runs in a fresh interpreter: what is imported depends on what was
imported before, so only a clean ``sys.modules`` tells.
"""
import subprocess
import sys
import textwrap

import pytest


def run_isolated(*parts: str) -> str:
    """Run the parts (each dedented) one after the other in a fresh
    interpreter."""
    code = '\n'.join(textwrap.dedent(part) for part in parts)
    out = subprocess.run([sys.executable, '-c', code],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


@pytest.mark.parametrize('module', [
    'mmipr.heatmap', 'mmipr.evaluation.splits', 'mmipr.evaluation.oks',
    'mmipr.evaluation.gt_formats', 'mmipr.utils.validation'
])
def test_pure_layer_imports_without_mmpose(module):
    run_isolated(f'''
        import sys
        import {module}
        loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'mmpose')
        assert not loaded, loaded
        ''')


REGISTERED = '''
    from mmengine.registry import MODEL_WRAPPERS
    from mmpose.registry import HOOKS, METRICS, MODELS, OPTIM_WRAPPERS, TRANSFORMS
    for registry, names in (
            (MODELS, ('IntegralHead', 'ArgmaxHead', 'KLPriorLoss',
                      'JSPriorLoss', 'VarianceRegLoss', 'VisibleL1Loss')),
            (METRICS, ('DifficultySplitCocoMetric', )),
            (HOOKS, ('PriorGradientRatioHook', 'HeatmapSnapshotHook',
                     'GlibcMallocHook', 'ChannelsLastHook')),
            (TRANSFORMS, ('CachedLoadImage', 'GenerateSilhouetteTarget')),
            (OPTIM_WRAPPERS, ('CPUAmpOptimWrapper', )),
            (MODEL_WRAPPERS, ('DeviceAwareDistributedDataParallel', ))):
        for name in names:
            assert registry.get(name) is not None, (registry.name, name)
'''


def test_import_mmipr_then_mmpose_registry_registers_everything():
    run_isolated('''
        import sys
        import mmipr
        assert 'mmpose' not in sys.modules
        from mmpose.registry import MODELS
        assert MODELS.get('IntegralHead').__module__ == \\
            'mmipr.models.heads.integral_head'
        ''', REGISTERED)


SLOW = pytest.mark.slow  # one interpreter start with MMPose each (~5-15 s)


@pytest.mark.parametrize('first', [
    'import mmpose.models',
    'from mmipr.models.heads import IntegralHead',
    pytest.param('import mmpose', marks=SLOW),
    pytest.param('from mmipr.engine.hooks import HeatmapSnapshotHook',
                 marks=SLOW),
    pytest.param('from mmipr.datasets.transforms import CachedLoadImage',
                 marks=SLOW),
])
def test_registration_whatever_is_imported_first(first):
    """Registration waits for the outermost import: neither a half-loaded
    mmpose nor a half-loaded mmipr package breaks it."""
    run_isolated(f'''
        import mmipr
        {first}
        ''', REGISTERED)


def test_mmpose_imported_before_mmipr_registers_at_once():
    run_isolated('''
        import mmpose.registry
        import mmipr
        ''', REGISTERED)


def test_mmcv_placeholder_is_installed_before_mmpose_loads():
    """With mmcv-lite, MMPose's models (EDPoseHead imports mmcv.ops) load
    only because the placeholder is in place before MMPose imports it."""
    run_isolated('''
        import sys
        import mmipr
        from mmipr.compat import is_placeholder
        import mmcv.ops
        import mmpose.models
        lite = is_placeholder(sys.modules['mmcv.ops'])
        try:
            import mmcv._ext  # noqa: F401
            assert not lite, 'full MMCV was replaced by the placeholder'
        except ImportError:
            assert lite, 'mmcv-lite without the placeholder'
        ''')


def test_custom_imports_in_a_config_registers_and_builds(tmp_path):
    """custom_imports through Config.fromfile, then MMEngine builds mmipr
    modules by name in the mmpose scope (as tools/train.py does)."""
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text(textwrap.dedent('''
        custom_imports = dict(imports=['mmipr'], allow_failed_imports=False)
        default_scope = 'mmpose'
        head = dict(type='IntegralHead', in_channels=8, out_channels=3,
                    deconv_out_channels=None, deconv_kernel_sizes=None,
                    prior_loss=dict(type='KLPriorLoss', sigma=2.0))
        loss = dict(type='KLPriorLoss', sigma=1.5)
        metric = dict(type='DifficultySplitCocoMetric', ann_file=None)
        '''))
    run_isolated(f'''
        import sys
        from mmengine.config import Config
        cfg = Config.fromfile({str(cfg_file)!r})
        assert 'mmipr' in sys.modules
        from mmengine.registry import METRICS, MODELS, init_default_scope
        init_default_scope(cfg.default_scope)
        head = MODELS.build(cfg.head)
        assert type(head).__name__ == 'IntegralHead', type(head)
        assert type(head.prior_loss_module).__name__ == 'KLPriorLoss'
        assert MODELS.build(cfg.loss).sigma == 1.5
        metric = METRICS.build(cfg.metric)
        assert type(metric).__name__ == 'DifficultySplitCocoMetric'
        ''')
