"""beta must be positive and finite: beta = 0 gives a uniform softmax whatever
the logits, hence a zero gradient into the trunk."""
import math

import pytest
import torch
from mmpose.registry import MODELS

import mmipr  # noqa: F401  (registers IntegralHead and the losses)
from mmipr.heatmap import check_beta, expectation, flat_softmax
from mmipr.models.heads.integral_head import IntegralHead

BAD = [0, 0.0, -1.0, float('nan'), float('inf'), -float('inf')]


def test_beta_zero_really_gives_no_gradient():
    """Why beta = 0 is refused: d J / d h is exactly 0."""
    logits = torch.randn(1, 1, 8, 6, requires_grad=True)
    expectation(flat_softmax(logits, 0.0)).sum().backward()
    assert (logits.grad == 0).all()


@pytest.mark.parametrize('beta', BAD)
def test_integral_head_rejects_bad_beta(beta):
    with pytest.raises(ValueError, match='IntegralHead: beta must be a finite number > 0'):
        IntegralHead(in_channels=8, out_channels=3, beta=beta)


@pytest.mark.parametrize('beta', BAD)
@pytest.mark.parametrize('loss',
                         ['KLPriorLoss', 'JSPriorLoss', 'VarianceRegLoss'])
def test_prior_losses_reject_bad_beta(loss, beta):
    with pytest.raises(ValueError, match=f'{loss}: beta must be a finite number > 0'):
        MODELS.build(dict(type=loss, beta=beta))


def test_beta_type_and_good_values():
    # strings and booleans are refused as values (one ValueError for every
    # invalid setting, mmipr.utils.validation)
    with pytest.raises(ValueError, match=r"X: beta must be .*got '1.0' \(str\)"):
        check_beta('1.0', 'X')
    with pytest.raises(ValueError, match='X: beta must be .*got True'):
        check_beta(True, 'X')
    for beta in (1, 0.5, 10.0, 1e-3):
        check_beta(beta, 'X')
        assert IntegralHead(in_channels=8, out_channels=3, beta=beta).beta \
            == beta
    assert math.isfinite(MODELS.build(dict(type='KLPriorLoss', beta=3)).beta)
