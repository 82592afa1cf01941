# Detection on HRNet-W32 (COCO, 256x192 input, 64x48 heatmaps): MMPose's
# td-hm_hrnet-w32_8xb64-210e_coco-256x192.py (74.6 AP in MMPose's metafile)
# with the conventions of ../sbl_r50_detection.py, so that the HRNet variants
# compare as the SimpleBaseline ones do:
# - ArgmaxHead (MMPose's HeatmapHead, batched decoding; same state dict);
# - the Gaussian target centred on the exact sub-pixel keypoint
#   (unbiased=True, as KLPriorLoss centres the prior), hence DARK decoding;
# - DifficultySplitCocoMetric on MMPose's person detections (AP_H 56).
# HRNet's head has no deconvolution (deconv_out_channels=None): the 32-channel
# stride-4 branch goes through the final 1x1 conv to the K heatmaps. Those
# trunk arguments are MMPose's and are inherited as they are (the head is
# merged, not replaced).
# Schedule, data and augmentation are MMPose's: Adam 5e-4 for a total batch of
# 512, 210 epochs, lr x0.1 at 170 and 200, ImageNet-pretrained HRNet-W32.
_base_ = ['mmpose::body_2d_keypoint/topdown_heatmap/coco/'
          'td-hm_hrnet-w32_8xb64-210e_coco-256x192.py']
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

# Checkpoints written atomically, and a validation cut off by a kill is run
# after --resume (as ../sbl_r50_detection.py).
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
custom_hooks = [
    dict(type='SyncBuffersHook'),
    dict(type='ResumeValidationHook')
]

val_evaluator = dict(
    type='DifficultySplitCocoMetric',
    ann_file='data/coco/annotations/person_keypoints_val2017.json')
test_evaluator = val_evaluator
