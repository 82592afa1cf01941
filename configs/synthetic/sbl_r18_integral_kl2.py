# CPU-sized ../sbl_r50_integral_kl2.py: the paper's prior sigma 2, in pixels of
# the same 64x48 heatmap; KLPriorLoss's default loss_weight (1:1 with the L1
# term at initialisation, see its docstring).
_base_ = ['./sbl_r18_integral.py']

model = dict(head=dict(prior_loss=dict(type='KLPriorLoss', sigma=2.0)))
