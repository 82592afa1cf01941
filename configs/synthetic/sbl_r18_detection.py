# CPU-sized detection on the synthetic dataset (tools/dataset/make_synthetic_coco.py).
# Inherits ../sbl_r50_detection.py (head, loss, decoding, evaluator) and changes
# only what the CPU and the synthetic data require:
# - backbone: ResNet-18 at half width (base 32); no ImageNet weights here, so
#   the study (tools/reproduce.py) starts every variant from the same seeded
#   initial weights (load_from);
# - the paper's heatmap geometry: 128x96 input, four deconvolutions
#   (64, 64, 32, 32 channels) to 64x48 heatmaps (stride 2), so every sigma and
#   window in heatmap pixels is the paper's own number;
# - data: data/synthetic_coco, evaluated on its detected boxes like COCO
#   (ground-truth boxes: --cfg-options val_dataloader.dataset.bbox_file=None
#   test_dataloader.dataset.bbox_file=None);
# - training: Adam lr 2e-3 (fused), batch 32, 10 epochs, warm-up 100
#   iterations, lr x0.1 after epochs 8 and 9 (MMPose's schedule shape,
#   170/210 and 200/210 of training, rounded: mmipr.study.runs.lr_drops);
#   milder augmentation than MMPose's
#   (rotation +-30 degrees, scale 0.75-1.25, no half-body crops), the same for
#   every variant;
# - float32 (MMEngine's OptimWrapper), so that a run's numbers do not depend
#   on which processor a session gets: bfloat16 autocast (CPUAmpOptimWrapper)
#   pays only on CPUs with bfloat16 units and was 12x slower than float32 on
#   an AVX2-only one (mmipr/engine/cpu_amp.py); the other CPU measures of
#   learnability_r18_detection.py: channels-last weights, images decoded once
#   and loaded in the main process, glibc's allocator kept from unmapping;
# - the COCO config's kill-safe checkpoints (AtomicCheckpointHook,
#   ResumeValidationHook).
_base_ = ['../sbl_r50_detection.py']

data_root = 'data/synthetic_coco/'
max_epochs = 10
codec = dict(
    type='MSRAHeatmap', input_size=(96, 128), heatmap_size=(48, 64), sigma=2,
    unbiased=True)

train_cfg = dict(max_epochs=max_epochs, val_interval=1)
optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='Adam', lr=2e-3, fused=True))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=100, start_factor=0.001,
         by_epoch=False),
    dict(type='MultiStepLR', begin=0, end=max_epochs,
         milestones=[8, 9], gamma=0.1, by_epoch=True)
]
auto_scale_lr = dict(base_batch_size=32)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(
        type='AtomicCheckpointHook', interval=1, max_keep_ckpts=2))
custom_hooks = [
    dict(type='SyncBuffersHook'),
    dict(type='ChannelsLastHook'),
    dict(type='GlibcMallocHook'),
    dict(type='ResumeValidationHook')
]

model = dict(
    backbone=dict(
        depth=18, base_channels=32, stem_channels=32, init_cfg=None),
    head=dict(
        in_channels=256,
        deconv_out_channels=(64, 64, 32, 32),
        deconv_kernel_sizes=(4, 4, 4, 4),
        decoder=codec))

train_pipeline = [
    dict(type='CachedLoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(
        type='RandomBBoxTransform', rotate_factor=30,
        scale_factor=(0.75, 1.25)),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
val_pipeline = [
    dict(type='CachedLoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs')
]
train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=64,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        bbox_file=data_root +
        'person_detection_results/synthetic_val2017_detections_person.json',
        pipeline=val_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(
    ann_file=data_root + 'annotations/person_keypoints_val2017.json')
test_evaluator = val_evaluator
