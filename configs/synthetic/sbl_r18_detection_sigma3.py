# CPU-sized ../sbl_r50_detection_sigma3.py: the paper's sigma 3 is 1.5 pixels of
# this config's 32x24 heatmap (half the paper's 64x48).
_base_ = ['./sbl_r18_detection.py']

codec = dict(
    type='MSRAHeatmap', input_size=(96, 128), heatmap_size=(24, 32), sigma=1.5)

model = dict(head=dict(decoder=codec))

train_dataloader = dict(
    dataset=dict(pipeline=[
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
