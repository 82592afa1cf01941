"""The toy dynamics of the paper's Sec. 5.3 reproduce its qualitative cases."""
import pytest
import torch
from conftest import one_torch_thread

from mmipr.analysis import TOY_CASES, simulate_toy_dynamics
from mmipr.heatmap.gaussian import gaussian_heatmaps
from mmipr.heatmap.integral import expectation, flat_softmax, integral_l1_grad
from mmipr.heatmap.stats import activation_sum

TARGET = (36.0, 48.0)
STEPS = 400


@pytest.fixture(scope='module', autouse=True)
def single_thread():
    # 4 maps of 64 x 48
    with one_torch_thread():
        yield


@pytest.fixture(scope='module')
def integral():
    return simulate_toy_dynamics('integral', steps=STEPS, target=TARGET,
                                 record_steps=(0, STEPS))


@pytest.fixture(scope='module')
def detection():
    return simulate_toy_dynamics('detection', steps=STEPS, target=TARGET,
                                 record_steps=(0, STEPS))


def test_integral_updates_move_the_expectation_to_the_ground_truth(integral):
    dist = integral['distance']
    assert dist.shape == (STEPS + 1, len(TOY_CASES))
    # every case ends closer than it started; the three far ones end within
    # a pixel of the ground truth from 11.7 to 39 pixels away
    assert (dist[-1] < dist[0]).all()
    far = [TOY_CASES.index(c) for c in ('random', 'upper_left', 'plane')]
    assert (dist[0, far] > 10).all()
    assert (dist[-1, far] < 1).all()


def test_integral_case_1_aligns_without_localising(integral):
    # Sec. 5.3: the expectation reaches the ground truth although the heatmap
    # is not a localised blob around it
    c = TOY_CASES.index('random')
    assert integral['distance'][-1, c] < 1
    assert integral['activation_sum'][-1, c] < 0.05


def test_integral_case_4_shrinks(integral):
    # Sec. 5.2 (4): at the ground truth the update only sharpens the peak
    c = TOY_CASES.index('at_gt')
    a2 = integral['activation_sum'][:, c]
    assert a2[-1] > a2[0] + 0.04
    assert (integral['distance'][:, c] <= integral['distance'][0, c]).all()


def test_detection_updates_converge_to_the_gaussian(detection):
    gt = torch.tensor(TARGET, dtype=torch.float64).expand(1, 1, 2)
    target = gaussian_heatmaps(gt, (48, 64), 2.0)[0, 0]
    final = detection['logits'][-1]  # (C, H, W)
    assert (final - target).abs().amax() < 1e-3
    assert (detection['distance'][-1] == 0).all()
    a2_target = activation_sum((target / target.sum())[None, None], gt, 2)
    assert torch.allclose(detection['activation_sum'][-1],
                          a2_target[0].expand(len(TOY_CASES)), atol=1e-4)
    # from every initialisation: each one started elsewhere
    assert (detection['logits'][0] - target).abs().amax(dim=(-2, -1)).min() \
        > 0.01


def test_one_integral_step_is_eq_11_with_eq_10():
    res = simulate_toy_dynamics('integral', steps=1, lr=3.0, beta=2.0,
                                target=TARGET, record_steps=(0, 1))
    h0, h1 = res['logits'][:, :, None]  # (C, 1, H, W) each
    probs = flat_softmax(h0, 2.0)
    gt = torch.tensor(TARGET, dtype=torch.float64).expand(len(TOY_CASES), 1,
                                                          2)
    grad = integral_l1_grad(probs, expectation(probs), gt, 2.0)
    assert torch.allclose(h1, h0 - 3.0 * grad, atol=1e-10)


def test_deterministic_and_checked():
    a = simulate_toy_dynamics('integral', steps=3, record_steps=(3, ))
    b = simulate_toy_dynamics('integral', steps=3, record_steps=(3, ))
    assert torch.equal(a['logits'], b['logits'])
    with pytest.raises(ValueError, match='toy case'):
        simulate_toy_dynamics('integral', cases=('nope', ), steps=1)
    with pytest.raises(ValueError, match='loss'):
        simulate_toy_dynamics('mse', steps=1)


def test_toy_dynamics_experiment(tmp_path):
    import json

    from mmipr.analysis.toy_report import toy_dynamics_experiment
    toy_dynamics_experiment(str(tmp_path), steps=5, show_steps=[0, 5],
                            dpi=30)
    assert (tmp_path / 'toy_dynamics.png').read_bytes()[:4] == b'\x89PNG'
    data = json.loads((tmp_path / 'toy_dynamics.json').read_text())
    ref = simulate_toy_dynamics('integral', steps=5)
    assert data['integral']['plane']['distance'] == \
        ref['distance'][:, TOY_CASES.index('plane')].tolist()
