# CPU-sized ../sbl_r50_integral_kl0.5.py: prior sigma 0.5 on the same 64x48 heatmap.
_base_ = ['./sbl_r18_integral_kl2.py']

model = dict(head=dict(prior_loss=dict(sigma=0.5)))
