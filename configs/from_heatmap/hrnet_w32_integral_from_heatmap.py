# Integral regression on HRNet-W32 (../hrnet/hrnet_w32_integral.py) fine-tuned
# from MMPose's published HRNet-W32 COCO heatmap model
# (td-hm_hrnet-w32_8xb64-210e_coco-256x192, 74.6 AP; its Weights URL in
# MMPose's metafile hrnet_coco.yml) instead of ImageNet, with the heatmap
# recipe kept, as sbl_r50_integral_from_heatmap.py (see there for why).
# When to use it: see configs/README.md, "Starting from a heatmap model".
_base_ = ['../hrnet/hrnet_w32_integral.py']

load_from = ('https://download.openmmlab.com/mmpose/v1/body_2d_keypoint/'
             'topdown_heatmap/coco/'
             'td-hm_hrnet-w32_8xb64-210e_coco-256x192-81c58e40_20220909.pth')
model = dict(backbone=dict(init_cfg=None))
