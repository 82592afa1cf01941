# Integral regression (Gu et al. 2022, Table 1 "Regression"): the same
# SimpleBaseline ResNet-50 network as sbl_r50_detection.py, decoded by
# softmax + expectation (Eq. 2) and trained with L1 on coordinates (Eq. 4).
# Only decoding and supervision differ from detection; schedule, data and
# evaluation (detected boxes, DifficultySplitCocoMetric) are inherited.
# Coordinates are normalised by the input size (MMPose's RegressionLabel).
# The L1 loss is averaged over the labelled joints (VisibleL1Loss), as the
# prior is: MMPose's L1Loss averages over all B*K*2 entries, invisible ones
# included.
_base_ = ['./sbl_r50_detection.py']

codec = dict(type='RegressionLabel', input_size=(192, 256))

model = dict(
    head=dict(
        type='IntegralHead',
        beta=1.0,
        debias=False,
        # _delete_: replace (not merge into) the detection config's loss/codec
        loss=dict(_delete_=True, type='VisibleL1Loss', use_target_weight=True),
        decoder=dict(_delete_=True, **codec)),
    # IntegralHead flips coordinates (shift_coords, as MMPose's
    # IntegralRegressionHead); flip_mode does not apply, and shift_heatmap
    # only concerns the heatmaps it returns for analysis.
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
