# CPU-sized integral regression on the synthetic dataset: the same delta from
# ./sbl_r18_detection.py as ../sbl_r50_integral.py has from ../sbl_r50_detection.py
# (tests/test_configs.py checks that the two cannot drift apart).
_base_ = ['./sbl_r18_detection.py']

codec = dict(type='RegressionLabel', input_size=(96, 128))

model = dict(
    head=dict(
        type='IntegralHead',
        beta=1.0,
        debias=False,
        # _delete_: replace (not merge into) the detection config's loss/codec
        loss=dict(_delete_=True, type='VisibleL1Loss', use_target_weight=True),
        decoder=dict(_delete_=True, **codec)),
    test_cfg=dict(
        _delete_=True, flip_test=True, shift_coords=True, shift_heatmap=False))

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
