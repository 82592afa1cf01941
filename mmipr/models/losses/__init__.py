from .kl_prior_loss import KLPriorLoss
from .visible_l1_loss import VisibleL1Loss

__all__ = ['KLPriorLoss', 'VisibleL1Loss']
