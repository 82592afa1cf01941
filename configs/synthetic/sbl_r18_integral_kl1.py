# CPU-sized ../sbl_r50_integral_kl1.py: the paper's prior sigma 1 is 0.5 pixels
# of this config's 32x24 heatmap (half the paper's 64x48).
_base_ = ['./sbl_r18_integral_kl2.py']

model = dict(head=dict(prior_loss=dict(sigma=0.5)))
