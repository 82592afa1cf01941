# The study's stand-in for ImageNet pretraining: the synthetic configs'
# backbone trained once to segment the person of each top-down crop (the
# generator's exact silhouette polygons), a task that favours neither head:
# no keypoint, no heatmap of a joint, no coordinate is supervised.
# tools/reproduce.py trains it (mmipr.study.pretrain.pretrained_backbone),
# keeps only the backbone's weights, caches them outside the clone keyed by
# this config and the data, and starts every variant from them; the heads'
# layers start from the seeded initialisation, as on top of ImageNet.
#
# Inherits ./sbl_r18_detection.py (backbone, 128x96 input, augmentation, CPU
# measures) and changes only the head and the target:
# - MMPose's HeatmapHead with one output channel on the same four
#   deconvolutions, trained by binary cross-entropy on logits (BCELoss) against
#   the instance's silhouette at 64x48 (GenerateSilhouetteTarget);
# - no validation (nothing of it is kept but the backbone).
_base_ = ['./sbl_r18_detection.py']

max_epochs = 8
heatmap_size = (48, 64)

model = dict(
    head=dict(
        _delete_=True,
        type='HeatmapHead',
        in_channels=256,
        out_channels=1,
        deconv_out_channels=(64, 64, 32, 32),
        deconv_kernel_sizes=(4, 4, 4, 4),
        loss=dict(type='BCELoss'),
        decoder=None),
    # HeatmapHead's keypoint accuracy means nothing on a mask
    train_cfg=dict(compute_acc=False),
    test_cfg=dict(_delete_=True))

train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs + 1)
param_scheduler = [
    dict(type='LinearLR', begin=0, end=100, start_factor=0.001,
         by_epoch=False),
    dict(type='MultiStepLR', begin=0, end=max_epochs,
         milestones=[max_epochs * 2 // 3], gamma=0.1, by_epoch=True)
]
default_hooks = dict(
    checkpoint=dict(
        type='AtomicCheckpointHook', interval=1, max_keep_ckpts=1))

train_pipeline = [
    dict(type='CachedLoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(
        type='RandomBBoxTransform', rotate_factor=30,
        scale_factor=(0.75, 1.25)),
    dict(type='TopdownAffine', input_size=(96, 128)),
    dict(type='GenerateSilhouetteTarget', heatmap_size=heatmap_size),
    dict(type='PackPoseInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_pipeline = None  # no validation: the base's pipeline runs nowhere here
val_dataloader = None
val_cfg = None
val_evaluator = None
test_dataloader = None
test_cfg = None
test_evaluator = None
