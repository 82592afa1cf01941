# Integral regression + prior sigma 2 (../sbl_r50_integral_kl2.py) fine-tuned
# from MMPose's published SimpleBaseline ResNet-50 COCO heatmap model, as
# sbl_r50_integral_from_heatmap.py (see there for the recipe and why).
_base_ = ['./sbl_r50_integral_from_heatmap.py']

model = dict(
    head=dict(prior_loss=dict(type='KLPriorLoss', sigma=2.0)))
