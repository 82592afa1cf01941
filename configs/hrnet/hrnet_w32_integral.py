# Integral regression on HRNet-W32 (COCO, 256x192): the network of
# hrnet_w32_detection.py decoded by softmax + expectation (the paper's Eq. 2)
# and trained with L1 on coordinates (Eq. 4), as ../sbl_r50_integral.py is on
# SimpleBaseline. Only decoding and supervision differ from detection;
# schedule, data and evaluation are inherited. IntegralHead takes HeatmapHead's
# trunk arguments, so HRNet's deconv_out_channels=None and 1x1 final conv carry
# over unchanged: the softmax runs on the 64x48 logits of that conv.
_base_ = ['./hrnet_w32_detection.py']

codec = dict(type='RegressionLabel', input_size=(192, 256))

model = dict(
    head=dict(
        type='IntegralHead',
        beta=1.0,
        debias=False,
        # _delete_: replace (not merge into) the detection config's loss/codec
        loss=dict(_delete_=True, type='VisibleL1Loss', use_target_weight=True),
        decoder=dict(_delete_=True, **codec)),
    # IntegralHead flips coordinates (shift_coords); flip_mode does not apply.
    test_cfg=dict(
        _delete_=True, flip_test=True, shift_coords=True, shift_heatmap=False))

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
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
