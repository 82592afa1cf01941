# Integral regression + a variance regulariser toward sigma^2, sigma 2:
# dsntnn's variance_reg_losses.
_base_ = ['./sbl_r50_integral.py']

model = dict(
    head=dict(prior_loss=dict(type='VarianceRegLoss', sigma=2.0)))
