"""The idealised single-heatmap experiment of the paper's Sec. 5.3 (Fig. 3).

One heatmap of logits h (64 x 48 by default) is updated directly by Eq. 11,

.. math::
    h^{n+1}_p = h^n_p - \\gamma \\nabla^n_p,

with the gradient of either the integral loss (L1 between the expectation of
softmax(beta * h) and the ground truth, Eq. 2 and 4) or the detection loss
(sum of squared differences to a Gaussian of sigma 2 at the ground truth,
Eq. 3), both by autograd. The four initialisations are the cases of Sec. 5.2;
all four evolve together as one batch.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor

from mmipr.heatmap.decode import get_heatmap_maximum
from mmipr.heatmap.gaussian import gaussian_heatmaps
from mmipr.heatmap.integral import expectation, flat_softmax
from mmipr.heatmap.stats import activation_sum, normalize_heatmaps

#: the four initialisations of Sec. 5.2, in the paper's order
TOY_CASES = ('random', 'upper_left', 'plane', 'at_gt')

#: step sizes gamma per loss: larger integral steps overshoot (the L1
#: gradient does not shrink near the target) and collapse the map to a pixel
DEFAULT_LR = dict(integral=1.0, detection=0.05)


def toy_initial_heatmaps(cases: Sequence[str] = TOY_CASES,
                         heatmap_size: Tuple[int, int] = (48, 64),
                         target: Tuple[float, float] = (36.0, 48.0),
                         amplitude: float = 10.0,
                         upper_left: Tuple[float, float] = (12.0, 16.0),
                         sigma: float = 2.0,
                         seed: int = 0) -> Tensor:
    """Initial logits of the toy cases (Sec. 5.2).

    - ``'random'``: uniform in [0, amplitude / 10) (case 1, a freshly
      initialised network: after the softmax, nearly uniform);
    - ``'upper_left'``: ``amplitude`` times a Gaussian of ``sigma`` (peak 1)
      at ``upper_left`` (case 2, localised far from the ground truth);
    - ``'plane'``: over the lower-right quadrant a plane rising linearly
      from 0 at the image centre to ``amplitude`` at the lower-right corner,
      0 elsewhere (case 3, mass in the corner of the ground truth's quadrant);
    - ``'at_gt'``: ``amplitude`` times a Gaussian of ``sigma`` at ``target``
      (case 4, localised at the ground truth).

    Args:
        cases (Sequence[str]): any of :data:`TOY_CASES`.
        heatmap_size (tuple): (W, H), MMPose's order. Default: (48, 64).
        target (tuple): ground truth (x, y) in heatmap pixels.
            Default: (36, 48), in the lower-right quadrant.
        amplitude (float): logit scale of the localised cases. Default: 10.
        upper_left (tuple): (x, y) of the ``'upper_left'`` Gaussian.
        sigma (float): sigma of the Gaussian cases. Default: 2.
        seed (int): seed of the ``'random'`` case. Default: 0.

    Returns:
        Tensor: logits, shape (len(cases), 1, H, W), float64.
    """
    W, H = heatmap_size
    maps = []
    for case in cases:
        if case == 'random':
            gen = torch.Generator().manual_seed(seed)
            hm = torch.rand(H, W, generator=gen, dtype=torch.float64)
            hm = hm * amplitude / 10
        elif case in ('upper_left', 'at_gt'):
            center = upper_left if case == 'upper_left' else target
            c = torch.tensor([[center]], dtype=torch.float64)
            hm = amplitude * gaussian_heatmaps(c, heatmap_size, sigma)[0, 0]
        elif case == 'plane':
            xs = torch.arange(W, dtype=torch.float64)
            ys = torch.arange(H, dtype=torch.float64)
            u = ((xs - W / 2) / (W - 1 - W / 2)).clamp(min=0)
            v = ((ys - H / 2) / (H - 1 - H / 2)).clamp(min=0)
            inside = (v[:, None] > 0) & (u[None, :] > 0)
            hm = amplitude * (u[None, :] + v[:, None]) / 2 * inside
        else:
            raise ValueError(f'unknown toy case {case!r}; choose from '
                             f'{TOY_CASES}')
        maps.append(hm)
    return torch.stack(maps)[:, None]


def _normalised(logits: Tensor, loss: str, beta: float) -> Tensor:
    if loss == 'integral':
        return flat_softmax(logits, beta)
    # a detection heatmap is a score map, not logits: its positive part
    # normalised (mmipr.heatmap.stats.normalize_heatmaps, mode 'sum')
    return normalize_heatmaps(logits, 'sum')


def simulate_toy_dynamics(loss: str = 'integral',
                          cases: Sequence[str] = TOY_CASES,
                          steps: int = 400,
                          lr: Optional[float] = None,
                          beta: float = 1.0,
                          sigma: float = 2.0,
                          heatmap_size: Tuple[int, int] = (48, 64),
                          target: Tuple[float, float] = (36.0, 48.0),
                          record_steps: Sequence[int] = (),
                          **init_kwargs) -> Dict[str, Tensor]:
    """Evolve the toy heatmaps by Eq. 11 under one loss (Sec. 5.3, Fig. 3).

    Integral: L = |J^_x - J_x| + |J^_y - J_y| with J^ the expectation of
    softmax(beta * h); the prediction is J^. Detection:
    L = sum_p (h_p - G_p)^2, G a Gaussian of ``sigma`` (peak 1) at the ground
    truth, gradient 2 (h - G) (Eq. 9); the prediction is the argmax. The
    gradient is autograd's; the computation is float64 and deterministic.

    Args:
        loss (str): ``'integral'`` or ``'detection'``.
        cases (Sequence[str]): initialisations, see
            :func:`toy_initial_heatmaps`.
        steps (int): number of updates. Default: 400.
        lr (float, optional): step size gamma; :data:`DEFAULT_LR` [loss] if
            omitted.
        beta (float): softmax scale of the integral loss. Default: 1.
        sigma (float): sigma of the detection target. Default: 2.
        heatmap_size (tuple): (W, H). Default: (48, 64).
        target (tuple): ground truth (x, y) in heatmap pixels.
        record_steps (Sequence[int]): steps whose heatmaps to keep.
        **init_kwargs: passed to :func:`toy_initial_heatmaps`.

    Returns:
        dict:
        - ``'predictions'``: (x, y) per step, shape (steps + 1, C, 2);
        - ``'distance'``: distance of the prediction to the ground truth,
          shape (steps + 1, C);
        - ``'activation_sum'``: A(2) of the normalised heatmap (softmax for
          integral, positive part over its sum for detection), shape
          (steps + 1, C);
        - ``'loss'``: per case, shape (steps + 1, C);
        - ``'heatmaps'``: normalised heatmaps at ``record_steps``, shape
          (len(record_steps), C, H, W);
        - ``'logits'``: the same steps' logits h, same shape.
    """
    if loss not in DEFAULT_LR:
        raise ValueError(f"loss must be 'integral' or 'detection', got "
                         f'{loss!r}')
    lr = DEFAULT_LR[loss] if lr is None else lr
    h = toy_initial_heatmaps(cases, heatmap_size, target, sigma=sigma,
                             **init_kwargs)
    gt = torch.tensor(target, dtype=h.dtype).expand(len(cases), 1, 2)
    g = gaussian_heatmaps(gt, heatmap_size, sigma)
    record = set(record_steps)
    out = {k: [] for k in ('predictions', 'distance', 'activation_sum',
                           'loss', 'heatmaps', 'logits')}
    for n in range(steps + 1):
        h = h.detach().requires_grad_(True)
        if loss == 'integral':
            pred = expectation(flat_softmax(h, beta))
            per_case = (pred - gt).abs().sum(dim=(-2, -1))
        else:
            per_case = ((h - g)**2).sum(dim=(-3, -2, -1))
            pred = get_heatmap_maximum(h.detach())[0]
        grad, = torch.autograd.grad(per_case.sum(), h)
        with torch.no_grad():
            norm = _normalised(h, loss, beta)
            out['predictions'].append(pred.detach()[:, 0])
            out['distance'].append((pred.detach() - gt).norm(dim=-1)[:, 0])
            out['activation_sum'].append(activation_sum(norm, gt, 2)[:, 0])
            out['loss'].append(per_case.detach())
            if n in record:
                out['heatmaps'].append(norm[:, 0])
                out['logits'].append(h.detach()[:, 0])
            h = h - lr * grad  # Eq. 11
    W, H = heatmap_size
    empty = torch.zeros(0, len(cases), H, W, dtype=torch.float64)
    return {
        k: torch.stack(v) if v else empty
        for k, v in out.items()
    }
