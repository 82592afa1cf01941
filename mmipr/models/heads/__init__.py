from .argmax_head import ArgmaxHead
from .integral_head import IntegralHead

__all__ = ['ArgmaxHead', 'IntegralHead']
