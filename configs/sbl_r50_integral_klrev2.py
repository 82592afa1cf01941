# Integral regression + KL(h~ || G_sigma), sigma 2: dsntnn's direction of the
# divergence (kl_reg_losses), beside the paper's KL(G || h~).
_base_ = ['./sbl_r50_integral.py']

model = dict(
    head=dict(
        prior_loss=dict(
            type='KLPriorLoss', sigma=2.0, divergence='kl_h_g')))
