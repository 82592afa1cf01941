from .kl_prior_loss import KLPriorLoss

__all__ = ['KLPriorLoss']
