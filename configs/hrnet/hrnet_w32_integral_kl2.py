# Integral regression + spatial prior, sigma 2 on HRNet-W32 (COCO, 256x192):
# KL(G_sigma || softmax(beta h)) as ../sbl_r50_integral_kl2.py. HRNet's
# heatmaps are 64x48, the paper's geometry, so sigma 2 is the paper's best in
# the paper's pixels and KLPriorLoss's default weight is its 1:1 at
# initialisation (docs/heads.md).
_base_ = ['./hrnet_w32_integral.py']

model = dict(
    head=dict(prior_loss=dict(type='KLPriorLoss', sigma=2.0)))
