# CPU-sized ../sbl_r50_detection_sigma1.py: the same sigma 1 on the same
# 64x48 heatmap geometry.
_base_ = ['./sbl_r18_detection.py']

codec = dict(
    type='MSRAHeatmap', input_size=(96, 128), heatmap_size=(48, 64), sigma=1,
    unbiased=True)

model = dict(head=dict(decoder=codec))

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
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
