from .kl_prior_loss import JSPriorLoss, KLPriorLoss, VarianceRegLoss
from .visible_l1_loss import VisibleL1Loss

__all__ = ['JSPriorLoss', 'KLPriorLoss', 'VarianceRegLoss', 'VisibleL1Loss']
