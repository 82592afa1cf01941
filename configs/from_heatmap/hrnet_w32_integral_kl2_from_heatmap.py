# Integral regression + prior sigma 2 on HRNet-W32
# (../hrnet/hrnet_w32_integral_kl2.py) fine-tuned from MMPose's published
# HRNet-W32 COCO heatmap model, as hrnet_w32_integral_from_heatmap.py.
_base_ = ['./hrnet_w32_integral_from_heatmap.py']

model = dict(
    head=dict(prior_loss=dict(type='KLPriorLoss', sigma=2.0)))
