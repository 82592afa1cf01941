# CPU-sized ../sbl_r50_integral_kl2.py: the paper's prior sigma 2 is 1 pixel of
# this config's 32x24 heatmap (half the paper's 64x48).
_base_ = ['./sbl_r18_integral.py']

model = dict(
    head=dict(prior_loss=dict(type='KLPriorLoss', sigma=1.0, loss_weight=0.05)))
