"""bfloat16 mixed precision and channels-last layout for training on the CPU.

MMEngine's ``AmpOptimWrapper`` asserts a GPU-like device, and nothing in
MMEngine or MMPose moves a model to the channels-last layout. On a CPU with
bfloat16 matrix units (AVX512-BF16 or AMX), the two together made a training
step of the synthetic ResNet-18 model 1.85x as fast
(``python tools/benchmark/bench_cpu_amp.py``, docs/benchmarks.md). On a CPU
without them (AVX2 only) PyTorch emulates bfloat16 and the same step was 12x
*slower* than float32 (3.3 s against 0.28 s, 2026-12-03, an AMD EPYC with
AVX2 only), so :class:`CPUAmpOptimWrapper` warns there
(:func:`cpu_has_bfloat16_units`).
"""
import functools
import warnings
from contextlib import contextmanager
from typing import Any, Iterator, Union

import torch
from mmengine.device import is_cuda_available
from mmengine.hooks import Hook
from mmengine.optim import OptimWrapper
from mmengine.runner.amp import autocast
from mmpose.registry import HOOKS, OPTIM_WRAPPERS
from torch import nn

from mmipr.utils.validation import check_choice

#: CPU flags (``/proc/cpuinfo``) of bfloat16 matrix units
BFLOAT16_CPU_FLAGS = ('avx512_bf16', 'amx_bf16')


def cpu_flags(cpuinfo: str = '/proc/cpuinfo') -> set:
    """The CPU's feature flags (Linux), or an empty set where unreadable."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith('flags'):
                    return set(line.split(':', 1)[1].split())
    except OSError:
        pass
    return set()


@functools.lru_cache(maxsize=None)
def cpu_has_bfloat16_units() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX):
    :data:`BFLOAT16_CPU_FLAGS` in its flags, or PyTorch's CPU capability
    naming them where the flags cannot be read."""
    flags = cpu_flags()
    if flags:
        return any(flag in flags for flag in BFLOAT16_CPU_FLAGS)
    capability = torch.backends.cpu.get_cpu_capability()
    return 'BF16' in capability or 'AMX' in capability


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(OptimWrapper):
    """An ``OptimWrapper`` that runs the forward pass under CPU bfloat16 autocast.

    Convolutions and matrix products run in bfloat16; losses, reductions and
    the parameters (and so the optimizer update) stay in float32, as with
    ``torch.autocast('cpu')``. bfloat16 has float32's exponent range, so no
    loss scaling is needed (unlike ``AmpOptimWrapper``'s float16).

    A pose estimator's head returns float32: MMPose's heads pass their outputs
    to numpy for the training accuracy, and numpy has no bfloat16 (a forward
    hook on ``model.head.final_layer``, added on the first step, casts them).

    Use it in a config as ``optim_wrapper = dict(type='CPUAmpOptimWrapper',
    optimizer=...)``. On a GPU use MMEngine's ``AmpOptimWrapper`` instead:
    CPU autocast does not touch CUDA tensors, so a model on a GPU trains in
    float32 with this wrapper (it warns).

    Args:
        dtype (str | torch.dtype): the autocast dtype. Only ``'bfloat16'``:
            CPU autocast supports no other. Defaults to ``'bfloat16'``.
        **kwargs: the arguments of ``OptimWrapper`` (``optimizer``,
            ``accumulative_counts``, ``clip_grad``).
    """

    def __init__(self,
                 dtype: Union[str, torch.dtype] = 'bfloat16',
                 **kwargs) -> None:
        check_choice(
            'CPUAmpOptimWrapper', 'dtype', dtype, ('bfloat16', torch.bfloat16),
            hint='CPU autocast runs in bfloat16 only; for float16 on a GPU '
            'use AmpOptimWrapper')
        super().__init__(**kwargs)
        self.cast_dtype = torch.bfloat16
        if is_cuda_available():
            warnings.warn(
                'CPUAmpOptimWrapper autocasts CPU tensors only; a model on a '
                'GPU trains in float32 with it. Use AmpOptimWrapper on GPUs.')
        elif not cpu_has_bfloat16_units():
            warnings.warn(
                'CPUAmpOptimWrapper: this CPU has no bfloat16 units (none of '
                f'the flags {", ".join(BFLOAT16_CPU_FLAGS)}), so PyTorch '
                'emulates bfloat16 and a training step is about 10x slower '
                'than in float32. Use optim_wrapper=dict(type=\'OptimWrapper\', '
                'optimizer=...) on this machine.')

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        """Gradient-accumulation context of ``OptimWrapper`` plus autocast.

        Args:
            model (nn.Module): the training model.
        """
        head = getattr(getattr(model, 'module', model), 'head', None)
        # HeatmapHead.loss calls self.forward(), which skips the head's own
        # hooks, so the hook goes on its final layer where there is one.
        last = getattr(head, 'final_layer', head)
        if last is not None and not getattr(last, '_mmipr_float32_outputs',
                                            False):
            last.register_forward_hook(_float32_outputs)
            last._mmipr_float32_outputs = True
        with super().optim_context(model), autocast(
                device_type='cpu', dtype=self.cast_dtype):
            yield


def _float32_outputs(module: nn.Module, args: Any, output: Any) -> Any:
    """Forward hook: bfloat16 tensors in ``output`` (or a tuple) to float32."""
    if isinstance(output, torch.Tensor):
        return output.float() if output.dtype == torch.bfloat16 else output
    if isinstance(output, tuple):
        return tuple(_float32_outputs(module, args, o) for o in output)
    return output


@HOOKS.register_module()
class ChannelsLastHook(Hook):
    """Store the model's 4-D weights in the channels-last (NHWC) layout.

    oneDNN convolutions run faster on NHWC; a convolution whose weight is NHWC
    returns NHWC output, so the layout propagates without converting inputs.
    The parameters are re-strided in place, so the optimizer (built before
    ``before_train``) keeps the same tensors. Checkpoints hold the same values
    and load into a model of either layout.

    Use it as ``custom_hooks = [dict(type='ChannelsLastHook')]``.
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        """Convert ``runner.model`` in place.

        Args:
            runner (Runner): the runner of the training process.
        """
        runner.model.to(memory_format=torch.channels_last)
