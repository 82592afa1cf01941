# The learnability check of the synthetic dataset (docs/synthetic_data.md):
# a small MMPose-style detection model trained on the CPU for under 10 minutes.
# Data: python tools/dataset/make_synthetic_coco.py data/synthetic_coco_3k --num-train 3000
# Train: python tools/train.py configs/synthetic/learnability_r18_detection.py
#
# Inherits the synthetic detection config and changes only what makes the most
# of 10 CPU minutes:
# - bfloat16 autocast (CPUAmpOptimWrapper) and channels-last weights
#   (ChannelsLastHook): a training step 1.85x as fast on a CPU with
#   bfloat16 units (tools/benchmark/bench_cpu_amp.py); on a GPU use
#   AmpOptimWrapper instead;
# - 3 deconvolutions of 64 channels instead of 128, PyTorch's fused Adam and
#   glibc's allocator kept from returning each iteration's memory to the
#   kernel (GlibcMallocHook), so as to fit more epochs (docs/synthetic_data.md);
# - a Gaussian of sigma 2 on the 32x24 heatmap (four times the target mass of
#   sigma 1, a stronger gradient from the start), encoded and decoded as DARK
#   (unbiased=True: targets centred at the exact sub-pixel position, and
#   DARK's Taylor refinement at decoding);
# - images loaded in the main process (num_workers=0): on 2 cores, worker
#   processes slow the training step's two threads more than they save
#   (iterations 1.21x as fast: tools/benchmark/bench_data_loading.py), and
#   decoded once (mmipr's CachedLoadImage; its own share of the speed-up is
#   not settled: docs/synthetic_data.md);
# - 13 epochs of 3,000 images, batch 32, lr x0.1 for the last epoch,
#   validation once at the end on ground-truth boxes. (A cosine decay and
#   batch 16 measured worse: docs/synthetic_data.md.)
_base_ = ['./sbl_r18_detection.py']

data_root = 'data/synthetic_coco_3k/'
max_epochs = 13
codec = dict(
    type='MSRAHeatmap', input_size=(96, 128), heatmap_size=(24, 32), sigma=2,
    unbiased=True)

train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(
    type='CPUAmpOptimWrapper', optimizer=dict(type='Adam', lr=2e-3, fused=True))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=100, start_factor=0.001,
         by_epoch=False),
    dict(type='MultiStepLR', begin=0, end=max_epochs,
         milestones=[max_epochs - 1], gamma=0.1, by_epoch=True)
]
custom_hooks = [
    dict(type='SyncBuffersHook'),
    dict(type='ChannelsLastHook'),
    dict(type='GlibcMallocHook')
]
# Its own geometry (32x24 heatmaps, three deconvolutions), as measured.
model = dict(
    head=dict(
        deconv_out_channels=(64, 64, 64),
        deconv_kernel_sizes=(4, 4, 4),
        decoder=codec))

# The base's pipelines with this codec (its GenerateTarget encodes 32x24).
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
train_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root, bbox_file=None))
test_dataloader = val_dataloader
val_evaluator = dict(
    ann_file=data_root + 'annotations/person_keypoints_val2017.json')
test_evaluator = val_evaluator
