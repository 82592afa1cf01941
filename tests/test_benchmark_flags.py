"""Every numeric flag of tools/benchmark is checked at parse time: argparse
exits with 2 and names the flag (mmipr.utils.validation's argparse types).

The tools' own ``parse_args(argv)`` is called, as tests/test_cuda.py uses
the benchmark modules; nothing is measured.
"""
import importlib
import os.path as osp
import sys

import pytest
from conftest import REPO

sys.path.insert(0, osp.join(REPO, 'tools', 'benchmark'))

POSITIVE = ['0', '-1', '2.5', 'x']
NON_NEGATIVE = ['-1', '1.5', 'x']

#: (tool, flag, bad values, a good value)
TABLE = [
    ('bench_cpu_amp', '--batch', POSITIVE, '4'),
    ('bench_cpu_amp', '--reps', POSITIVE, '2'),
    ('bench_cpu_amp', '--warmup', NON_NEGATIVE, '0'),
    ('bench_data_loading', '--instances', POSITIVE, '10'),
    ('bench_data_loading', '--rounds', POSITIVE, '1'),
    ('bench_decode', '--instances', POSITIVE, '8'),
    ('bench_decode', '--keypoints', POSITIVE, '3'),
    ('bench_decode', '--repeats', POSITIVE, '3'),
    ('bench_decode', '--threads', POSITIVE, '2'),
    ('bench_decode', '--device', ['gpu', 'cuda:x', ''], 'cpu'),
    ('bench_integral_head', '--batch', POSITIVE, '4'),
    ('bench_integral_head', '--reps', POSITIVE, '2'),
    ('bench_metric', '--num-instances', POSITIVE, '100'),
    ('bench_metric', '--rounds', POSITIVE, '1'),
    ('bench_metric', '--modes', ['all', 'GT'], 'det'),
    ('bench_train_iter', '--batch', POSITIVE, '4'),
    ('bench_train_iter', '--reps', POSITIVE, '2'),
    ('bench_train_iter', '--warmup', NON_NEGATIVE, '0'),
    ('bench_train_iter', '--limit', ['0', '-1', 'inf', 'nan', 'x'], '1.2'),
    ('gpu_check', '--batch', POSITIVE, '8'),
    ('gpu_check', '--reps', POSITIVE, '2'),
    ('gpu_check', '--warmup', NON_NEGATIVE, '0'),
]
CASES = [(tool, flag, bad) for tool, flag, bads, _ in TABLE for bad in bads]


@pytest.mark.parametrize('tool, flag, bad', CASES,
                         ids=[f'{t}{f}={b}' for t, f, b in CASES])
def test_bad_flag_value_exits_2_naming_the_flag(tool, flag, bad, capsys):
    with pytest.raises(SystemExit) as info:
        importlib.import_module(tool).parse_args([flag, bad])
    assert info.value.code == 2
    assert f'argument {flag}' in capsys.readouterr().err


@pytest.mark.parametrize('tool, flag, good',
                         [(t, f, g) for t, f, _, g in TABLE],
                         ids=[f'{t}{f}' for t, f, *_ in TABLE])
def test_good_flag_value_parses(tool, flag, good):
    args = importlib.import_module(tool).parse_args([flag, good])
    value = getattr(args, flag[2:].replace('-', '_'))
    if isinstance(value, list):  # nargs='+'
        value, = value
    assert value == type(value)(good)


@pytest.mark.parametrize('tool', sorted({t for t, *_ in TABLE}))
def test_defaults_parse(tool):
    assert importlib.import_module(tool).parse_args([]) is not None


def test_heatmap_size_takes_two_positive_whole_numbers(capsys):
    bench_decode = importlib.import_module('bench_decode')
    with pytest.raises(SystemExit):
        bench_decode.parse_args(['--heatmap-size', '48', '0'])
    assert 'argument --heatmap-size' in capsys.readouterr().err
    assert bench_decode.parse_args(['--heatmap-size', '24', '32'
                                    ]).heatmap_size == [24, 32]
