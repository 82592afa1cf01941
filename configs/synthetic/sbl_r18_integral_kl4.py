# CPU-sized ../sbl_r50_integral_kl4.py: the paper's prior sigma 4 is 2.0 pixels
# of this config's 32x24 heatmap (half the paper's 64x48).
_base_ = ['./sbl_r18_integral_kl2.py']

model = dict(head=dict(prior_loss=dict(sigma=2.0)))
