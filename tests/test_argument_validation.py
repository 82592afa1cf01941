"""Every numeric or enumerated argument of mmipr's registered modules is
checked where the module is built (issue 22, item 2).

One row per argument: bad values (wrong type, non-finite, out of range,
out of a range set by another setting), each of which must raise
``InvalidArgumentError`` (a ``ValueError``) naming the module and the
argument, and a good value that builds. The defaults build too.
"""
import math

import pytest
import torch
from mmpose.registry import HOOKS, MODELS, OPTIM_WRAPPERS, TRANSFORMS

import mmipr  # noqa: F401  (registers the modules)
from mmipr.utils.validation import InvalidArgumentError

INF, NAN = math.inf, math.nan
HEAD = dict(in_channels=8, out_channels=3, deconv_out_channels=None,
            deconv_kernel_sizes=None)
# an integral codec with a 48x64 (W x H) heatmap: score_window <= 23
INTEGRAL_CODEC = dict(type='IntegralRegressionLabel', input_size=(192, 256),
                      heatmap_size=(48, 64), sigma=2.0)


def _optim_wrapper(**kwargs):
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    return OPTIM_WRAPPERS.build(
        dict(type='CPUAmpOptimWrapper', optimizer=optimizer, **kwargs))


#: module -> (builder(kwargs), the other arguments a build needs)
BUILDERS = {
    'IntegralHead': (lambda kw: MODELS.build(dict(type='IntegralHead', **kw)),
                     HEAD),
    'ArgmaxHead': (lambda kw: MODELS.build(dict(type='ArgmaxHead', **kw)),
                   HEAD),
    'KLPriorLoss': (lambda kw: MODELS.build(dict(type='KLPriorLoss', **kw)),
                    {}),
    'JSPriorLoss': (lambda kw: MODELS.build(dict(type='JSPriorLoss', **kw)),
                    {}),
    'VarianceRegLoss':
    (lambda kw: MODELS.build(dict(type='VarianceRegLoss', **kw)), {}),
    'VisibleL1Loss':
    (lambda kw: MODELS.build(dict(type='VisibleL1Loss', **kw)), {}),
    'CPUAmpOptimWrapper': (lambda kw: _optim_wrapper(**kw), {}),
    'GlibcMallocHook':
    (lambda kw: HOOKS.build(dict(type='GlibcMallocHook', **kw)), {}),
    'PriorGradientRatioHook':
    (lambda kw: HOOKS.build(dict(type='PriorGradientRatioHook', **kw)), {}),
    'HeatmapSnapshotHook':
    (lambda kw: HOOKS.build(dict(type='HeatmapSnapshotHook', **kw)), {}),
    'CachedLoadImage':
    (lambda kw: TRANSFORMS.build(dict(type='CachedLoadImage', **kw)), {}),
    'GenerateSilhouetteTarget':
    (lambda kw: TRANSFORMS.build(dict(type='GenerateSilhouetteTarget', **kw)),
     dict(heatmap_size=(48, 64))),
}

BETA = ([0, -1.0, INF, NAN, '1.0', True], 2.5)
LOSS_WEIGHT = ([-0.1, INF, NAN, '0.1', None], 0.5)
USE_TARGET_WEIGHT = ([1, 'yes', None], False)
SIGMA = ([0, -2.0, INF, NAN, '2', None], 1.5)

#: (module, argument, bad values, a good value, other arguments)
TABLE = [
    ('IntegralHead', 'in_channels', [0, 2.5, '8', [], [8, 0]], 16, {}),
    ('IntegralHead', 'out_channels', [0, -1, 1.5, '3'], 17, {}),
    ('IntegralHead', 'beta', *BETA, {}),
    ('IntegralHead', 'debias', [1, 'yes', None, 'MMPose'], 'gu2021', {}),
    ('IntegralHead', 'score_window', [-1, 2.5, '2', True, None], 0, {}),
    # the window against the decoder's 48x64 heatmap: 2s + 1 < 48
    ('IntegralHead', 'score_window', [24, 32, 64], 23,
     dict(decoder=INTEGRAL_CODEC)),
    ('ArgmaxHead', 'in_channels', [0, 2.5, '8'], 16, {}),
    ('ArgmaxHead', 'out_channels', [0, 1.5, None], 17, {}),
    ('KLPriorLoss', 'sigma', *SIGMA, {}),
    ('KLPriorLoss', 'beta', *BETA, {}),
    ('KLPriorLoss', 'use_target_weight', *USE_TARGET_WEIGHT, {}),
    ('KLPriorLoss', 'loss_weight', [-0.1, INF, NAN, '0.1'], 0.1, {}),
    ('KLPriorLoss', 'divergence', ['kl', 'JS', None, 1], 'kl_h_g', {}),
    ('JSPriorLoss', 'sigma', *SIGMA, {}),
    ('JSPriorLoss', 'beta', *BETA, {}),
    ('JSPriorLoss', 'use_target_weight', *USE_TARGET_WEIGHT, {}),
    ('JSPriorLoss', 'loss_weight', *LOSS_WEIGHT, {}),
    ('VarianceRegLoss', 'sigma', *SIGMA, {}),
    ('VarianceRegLoss', 'beta', *BETA, {}),
    ('VarianceRegLoss', 'use_target_weight', *USE_TARGET_WEIGHT, {}),
    ('VarianceRegLoss', 'loss_weight', *LOSS_WEIGHT, {}),
    ('VisibleL1Loss', 'use_target_weight', *USE_TARGET_WEIGHT, {}),
    ('VisibleL1Loss', 'loss_weight', *LOSS_WEIGHT, {}),
    ('CPUAmpOptimWrapper', 'dtype', ['float16', torch.float16, 'bf16', None],
     torch.bfloat16, {}),
    ('GlibcMallocHook', 'mmap_threshold', [-1, 64 * 2**20, 1.5, '1024'],
     2**20, {}),
    ('GlibcMallocHook', 'trim_threshold', [-1, 2**31, 0.5, None], 2**30, {}),
    ('PriorGradientRatioHook', 'interval', [0, -5, 1.5, '50', None], 10, {}),
    ('PriorGradientRatioHook', 'logits_layer', ['', 'a.b', 1, None],
     'conv', {}),
    ('PriorGradientRatioHook', 'integral_loss', ['', 3], 'l1', {}),
    ('PriorGradientRatioHook', 'prior_loss', ['', None], 'kl', {}),
    ('HeatmapSnapshotHook', 'indices', [(), 'ab', 3, (0.5, ), ('0', )],
     (0, -1), {}),
    ('HeatmapSnapshotHook', 'interval', [0, 1.5, '1'], 2, {}),
    ('HeatmapSnapshotHook', 'keypoint_indices', [(-1, ), 3, (1.5, )],
     (0, 16), {}),
    ('HeatmapSnapshotHook', 'at_start', [1, 'no', None], False, {}),
    ('HeatmapSnapshotHook', 'out_dir', ['', None, 3], 'snaps', {}),
    ('HeatmapSnapshotHook', 'cols', [0, 2.5, '6'], 4, {}),
    ('CachedLoadImage', 'max_cache_mb', [-1, INF, NAN, '10', None], 0, {}),
    ('GenerateSilhouetteTarget', 'heatmap_size',
     [(48, ), (0, 64), (48.5, 64), 48, (48, 64, 1), '48x64'], [24, 32], {}),
    ('GenerateSilhouetteTarget', 'use_udp', [1, 'yes', None], True, {}),
]

CASES = [(module, arg, bad, other) for module, arg, bads, _, other in TABLE
         for bad in bads]


@pytest.mark.parametrize('module, arg, bad, other', CASES,
                         ids=[f'{m}.{a}={b!r}' for m, a, b, _ in CASES])
def test_bad_value_is_refused_naming_the_argument(module, arg, bad, other):
    build, required = BUILDERS[module]
    with pytest.raises(InvalidArgumentError) as info:
        build({**required, **other, arg: bad})
    message = str(info.value)
    assert module in message and arg in message, message
    assert 'must be' in message and 'got ' in message, message  # allowed, value


@pytest.mark.parametrize('module, arg, good, other',
                         [(m, a, g, o) for m, a, _, g, o in TABLE],
                         ids=[f'{m}.{a}' for m, a, *_ in TABLE])
def test_good_value_builds(module, arg, good, other):
    build, required = BUILDERS[module]
    built = build({**required, **other, arg: good})
    assert built is not None


@pytest.mark.parametrize('module', sorted(BUILDERS))
def test_defaults_build(module):
    build, required = BUILDERS[module]
    assert build(dict(required)) is not None


def test_table_covers_every_module():
    assert {row[0] for row in TABLE} == set(BUILDERS)


def test_score_window_checked_against_the_heatmap_at_first_forward():
    """With RegressionLabel (no heatmap size) the window is checked where the
    heatmap size is first known: the first forward, training or not."""
    head = MODELS.build(dict(type='IntegralHead', score_window=3, **HEAD))
    feats = (torch.zeros(1, 8, 8, 6), )  # 8x6 heatmaps: s <= 2
    with pytest.raises(InvalidArgumentError,
                       match=r'score_window .*<= 2 .*6x8 .*got 3'):
        head.forward(feats)
    ok = MODELS.build(dict(type='IntegralHead', score_window=2, **HEAD))
    coords, heatmaps = ok.forward(feats)
    assert heatmaps.shape[-2:] == (8, 6)


def test_a_window_as_large_as_the_heatmap_would_score_every_keypoint_one():
    """Why the bound: with 2s + 1 >= the heatmap side every keypoint scores
    (about) 1 whatever its heatmap, so A(s) no longer ranks keypoints."""
    from mmipr.heatmap import expectation, flat_softmax
    from mmipr.heatmap.stats import activation_sum
    logits = torch.randn(4, 3, 8, 6)  # flat-ish, unconfident heatmaps
    heatmaps = flat_softmax(logits)
    centers = expectation(heatmaps)
    torch.testing.assert_close(activation_sum(heatmaps, centers, 8),
                               torch.ones(4, 3))
    assert (activation_sum(heatmaps, centers, 2) < 0.95).all()
