# Integral regression + spatial prior, sigma 0.5 (Gu et al. 2022, Table 1).
_base_ = ['./sbl_r50_integral_kl2.py']

model = dict(head=dict(prior_loss=dict(sigma=0.5)))
