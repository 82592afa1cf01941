# CPU-sized detection on the synthetic dataset (tools/dataset/make_synthetic_coco.py).
# Inherits ../sbl_r50_detection.py (head, loss, decoding, evaluator) and changes
# only what the CPU and the synthetic data require:
# - backbone: ResNet-18 at half width (base 32), trained from scratch (no
#   pretrained weights can be downloaded here); head: 3 deconvs of 128 channels;
# - input 128x96 -> heatmap 32x24 (stride 4, as the paper's 256x192 -> 64x48),
#   so every sigma in heatmap pixels is half the paper's (paper sigma 2 -> 1);
# - data: data/synthetic_coco, evaluated on its detected boxes like COCO
#   (ground-truth boxes: --cfg-options val_dataloader.dataset.bbox_file=None
#   test_dataloader.dataset.bbox_file=None);
# - training: Adam lr 2e-3, batch 32, 20 epochs, warm-up 100 iterations,
#   lr x0.1 at epoch 16; milder augmentation than MMPose's (rotation +-30
#   degrees, scale 0.75-1.25, no half-body crops), since a from-scratch model
#   gets minutes, not 210 epochs (every variant's pipeline does the same).
_base_ = ['../sbl_r50_detection.py']

data_root = 'data/synthetic_coco/'
codec = dict(
    type='MSRAHeatmap', input_size=(96, 128), heatmap_size=(24, 32), sigma=1)

train_cfg = dict(max_epochs=20, val_interval=5)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=2e-3))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=100, start_factor=0.001,
         by_epoch=False),
    dict(type='MultiStepLR', begin=0, end=20, milestones=[16], gamma=0.1,
         by_epoch=True)
]
auto_scale_lr = dict(base_batch_size=32)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=1, max_keep_ckpts=2))

model = dict(
    backbone=dict(
        depth=18, base_channels=32, stem_channels=32, init_cfg=None),
    head=dict(
        in_channels=256, deconv_out_channels=(128, 128, 128), decoder=codec))

train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    dataset=dict(
        data_root=data_root,
        pipeline=[
            dict(type='LoadImage'),
            dict(type='GetBBoxCenterScale'),
            dict(type='RandomFlip', direction='horizontal'),
            dict(
            type='RandomBBoxTransform', rotate_factor=30,
            scale_factor=(0.75, 1.25)),
            dict(type='TopdownAffine', input_size=codec['input_size']),
            dict(type='GenerateTarget', encoder=codec),
            dict(type='PackPoseInputs')
        ]))
val_dataloader = dict(
    batch_size=64,
    num_workers=2,
    dataset=dict(
        data_root=data_root,
        bbox_file=data_root +
        'person_detection_results/synthetic_val2017_detections_person.json',
        pipeline=[
            dict(type='LoadImage'),
            dict(type='GetBBoxCenterScale'),
            dict(type='TopdownAffine', input_size=codec['input_size']),
            dict(type='PackPoseInputs')
        ]))
test_dataloader = val_dataloader

val_evaluator = dict(
    ann_file=data_root + 'annotations/person_keypoints_val2017.json')
test_evaluator = val_evaluator
