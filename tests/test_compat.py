"""mmipr.compat: MMPose imports with mmcv-lite; full MMCV is left alone."""
import subprocess
import sys
import textwrap

import pytest

import mmipr
from mmipr.compat import MissingMMCVOpError, is_placeholder


def run_isolated(code: str) -> str:
    """Run ``code`` in a fresh interpreter (clean sys.modules)."""
    out = subprocess.run([sys.executable, '-c', textwrap.dedent(code)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_lite_mmcv_gets_placeholder_that_fails_clearly():
    import mmcv.ops
    if not is_placeholder(mmcv.ops):
        pytest.skip('full MMCV with compiled ops is installed')
    from mmcv.ops import MultiScaleDeformableAttention
    with pytest.raises(MissingMMCVOpError, match='MultiScaleDeformableAttention'):
        MultiScaleDeformableAttention(embed_dims=256)
    from mmcv.ops.nms import batched_nms
    with pytest.raises(MissingMMCVOpError, match=r'mmcv\.ops\.nms\.batched_nms.*full MMCV'):
        batched_nms(None, None, None, None)
    # Library code may subclass an op at import time; instances still fail.
    Sub = type('Sub', (MultiScaleDeformableAttention, ), {})
    with pytest.raises(MissingMMCVOpError, match='MultiScaleDeformableAttention'):
        Sub()


def test_stock_mmpose_topdown_model_builds_and_runs_after_import_mmipr():
    import torch
    from mmengine.hub import get_config
    from mmpose.registry import MODELS
    from mmpose.testing import get_packed_inputs
    from mmpose.utils import register_all_modules
    register_all_modules()
    cfg = get_config(
        'mmpose::body_2d_keypoint/topdown_heatmap/coco/'
        'td-hm_res50_8xb64-210e_coco-256x192.py')
    cfg.model.backbone.depth = 18
    cfg.model.backbone.init_cfg = None
    cfg.model.head.in_channels = 512
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'TopdownPoseEstimator'
    assert type(model.head).__name__ == 'HeatmapHead'
    packed = get_packed_inputs(2, img_shape=(256, 192), num_keypoints=17)
    data = model.data_preprocessor(packed, training=True)
    losses = model(**data, mode='loss')
    assert torch.isfinite(losses['loss_kpt'])


def test_full_mmcv_is_left_untouched():
    # Simulate an MMCV whose compiled ops import: a finder serving `mmcv.ops`.
    out = run_isolated('''
        import importlib.abc, importlib.machinery, sys, types

        class FullOps(importlib.abc.MetaPathFinder, importlib.abc.Loader):
            def find_spec(self, name, path=None, target=None):
                if name == 'mmcv.ops':
                    return importlib.machinery.ModuleSpec(name, self)
            def create_module(self, spec):
                module = types.ModuleType(spec.name)
                module.REAL_OPS = True
                # every op MMPose imports is there, as in full MMCV
                def ops(name):
                    if name.startswith('__'):
                        raise AttributeError(name)
                    return type(name, (), {})
                module.__getattr__ = ops
                return module
            def exec_module(self, module):
                pass

        sys.meta_path.insert(0, FullOps())
        from mmipr.compat import ensure_mmcv_ops
        print(ensure_mmcv_ops(), getattr(sys.modules['mmcv.ops'], 'REAL_OPS', False),
              any(type(f).__name__ == '_PlaceholderFinder' for f in sys.meta_path))
    ''')
    assert out.split() == ['False', 'True', 'False']


def test_unrelated_import_error_is_not_masked():
    out = run_isolated('''
        import importlib.abc, sys

        class Broken(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == 'mmcv.ops':
                    raise ImportError('No module named scipy')

        sys.meta_path.insert(0, Broken())
        try:
            import mmipr  # noqa: F401  (runs ensure_mmcv_ops)
        except ImportError as err:
            print('raised', err)
    ''')
    assert out.startswith('raised No module named scipy')


def test_version_single_source():
    from mmipr.version import __version__
    assert mmipr.__version__ == __version__
