# Integral regression fine-tuned from a heatmap model: ../sbl_r50_integral.py
# started from MMPose's published SimpleBaseline ResNet-50 COCO heatmap model
# (td-hm_res50_8xb64-210e_coco-256x192, 71.8 AP; its Weights URL in MMPose's
# metafile resnet_coco.yml) instead of ImageNet. The network is the same
# (IntegralHead has HeatmapHead's state dict), so every tensor loads.
# MMPose's integral configs (ipr_res50_*-8xb64-210e_coco-256x256.py: IPR 63.3,
# DSNT 67.4, debias 67.5 AP) start the same way and keep the heatmap recipe:
# Adam 5e-4, 210 epochs, lr x0.1 at 170 and 200; so does this config (only
# the starting weights change). They load the weights through the model's
# init_cfg from download.openmmlab.com/mmpose/pretrain_models/; this config
# uses MMEngine's load_from with the metafile's URL, and drops the backbone's
# ImageNet init_cfg, which the checkpoint overwrites.
# When to use it: see configs/README.md, "Starting from a heatmap model".
_base_ = ['../sbl_r50_integral.py']

load_from = ('https://download.openmmlab.com/mmpose/v1/body_2d_keypoint/'
             'topdown_heatmap/coco/'
             'td-hm_res50_8xb64-210e_coco-256x192-04af38ce_20220923.pth')
model = dict(backbone=dict(init_cfg=None))
