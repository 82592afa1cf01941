# Detection (Gu et al. 2022, Table 1 "Detection", Fig. 2d sigma = 2):
# SimpleBaseline ResNet-50, 256x192 input, 64x48 heatmaps, trained with MSE to
# Gaussian heatmaps (sigma 2), decoded by argmax.
#
# Schedule (MMPose's SBL-R50 recipe, td-hm_res50_8xb64-210e_coco-256x192):
# Adam lr 5e-4 for a total batch of 512 (8 GPUs x 64; auto_scale_lr base 512),
# 210 epochs, linear warm-up over 500 iterations, lr x0.1 at epochs 170 and 200,
# ImageNet-pretrained ResNet-50 (torchvision://resnet50), flip test.
# Evaluation: COCO val2017 on MMPose's person detections (AP_H 56) with
# DifficultySplitCocoMetric. Ground-truth boxes instead: add
#   --cfg-options val_dataloader.dataset.bbox_file=None test_dataloader.dataset.bbox_file=None
#
# One change from MMPose's recipe, for a fair comparison with the prior
# (sbl_r50_integral_kl*.py): the Gaussian target is centred on the exact
# sub-pixel keypoint (unbiased=True), as KLPriorLoss centres the prior, not on
# the rounded pixel; with it, decoding is DARK's (Zhang et al. 2020), a
# sub-pixel decoder as the integral expectation is.
# Everything else is MMPose's config; only the head, codec and evaluator change.
_base_ = ['mmpose::body_2d_keypoint/topdown_heatmap/coco/'
          'td-hm_res50_8xb64-210e_coco-256x192.py']
custom_imports = dict(imports=['mmipr'], allow_failed_imports=False)

codec = dict(
    type='MSRAHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2,
    unbiased=True)

model = dict(
    head=dict(
        type='ArgmaxHead',
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder=codec))

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomHalfBody'),
    dict(type='RandomBBoxTransform'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader

# Checkpoints written atomically (a kill while saving leaves a resumable
# one), and a validation cut off by a kill is run after --resume.
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
custom_hooks = [
    dict(type='SyncBuffersHook'),
    dict(type='ResumeValidationHook')
]

val_evaluator = dict(
    type='DifficultySplitCocoMetric',
    ann_file='data/coco/annotations/person_keypoints_val2017.json')
test_evaluator = val_evaluator
