from .kl_prior_loss import KLPriorLoss, VarianceRegLoss
from .visible_l1_loss import VisibleL1Loss

__all__ = ['KLPriorLoss', 'VarianceRegLoss', 'VisibleL1Loss']
