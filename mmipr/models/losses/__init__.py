from .kl_prior_loss import JSPriorLoss, KLPriorLoss, VarianceRegLoss
from .pixel_ce_loss import PixelCrossEntropyLoss
from .visible_l1_loss import VisibleL1Loss

__all__ = ['JSPriorLoss', 'KLPriorLoss', 'PixelCrossEntropyLoss',
           'VarianceRegLoss', 'VisibleL1Loss']
