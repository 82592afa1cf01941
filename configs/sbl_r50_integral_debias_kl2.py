# Bias-compensated integral regression (Gu et al. 2021) with the spatial prior
# of Gu et al. 2022 (sigma 2): a combination no published config has.
_base_ = ['./sbl_r50_integral_kl2.py']

model = dict(head=dict(debias=True))
