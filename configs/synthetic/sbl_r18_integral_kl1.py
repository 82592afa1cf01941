# CPU-sized ../sbl_r50_integral_kl1.py: prior sigma 1 on the same 64x48 heatmap.
_base_ = ['./sbl_r18_integral_kl2.py']

model = dict(head=dict(prior_loss=dict(sigma=1)))
