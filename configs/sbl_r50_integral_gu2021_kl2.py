# Gu et al. 2021's bias compensation (debias='gu2021') with the paper's prior,
# sigma 2.
_base_ = ['./sbl_r50_integral_kl2.py']

model = dict(head=dict(debias='gu2021'))
