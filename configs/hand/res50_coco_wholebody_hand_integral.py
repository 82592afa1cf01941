# Integral regression on MMPose's SimpleBaseline ResNet-50
# COCO-WholeBody-Hand config
# (td-hm_res50_8xb32-210e_coco-wholebody-hand-256x256.py):
# K = 21, 256x256 input, 64x64 heatmaps. Its heatmap logits are
# decoded by softmax + expectation (the paper's Eq. 2) and trained with L1 on
# coordinates (Eq. 4), as ../sbl_r50_integral.py on COCO.
# The trunk (three deconvolutions, 1x1 final conv) is the base's: the
# head is merged, not replaced, so only its type, losses and codec change.
# Schedule, data, augmentation and evaluation (PCK@0.2, AUC, EPE) are the
# base config's. The L1 is averaged over the labelled joints (VisibleL1Loss),
# as the prior is; coordinates are normalised by the input size
# (RegressionLabel).
_base_ = ['mmpose::hand_2d_keypoint/topdown_heatmap/coco_wholebody_hand/'
          'td-hm_res50_8xb32-210e_coco-wholebody-hand-256x256.py']
custom_imports = dict(imports=['mmipr'], allow_failed_imports=False)

codec = dict(type='RegressionLabel', input_size=(256, 256))

model = dict(
    head=dict(
        type='IntegralHead',
        beta=1.0,
        debias=False,
        # _delete_: replace (not merge into) the base's MSE loss and codec
        loss=dict(_delete_=True, type='VisibleL1Loss', use_target_weight=True),
        decoder=dict(_delete_=True, **codec)),
    # IntegralHead flips coordinates (shift_coords); flip_mode does not apply.
    test_cfg=dict(
        _delete_=True, flip_test=True, shift_coords=True, shift_heatmap=False))

# the base's training pipeline, with the new codec's targets
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(
        type='RandomBBoxTransform', rotate_factor=180,
        scale_factor=(0.7, 1.3)),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
# MMEngine scopes the base's top-level val_pipeline but not the copy under
# its loaders; running the top-level one keeps the two the same object
# (the steps are the base's, unchanged).
val_dataloader = dict(dataset=dict(pipeline={{_base_.val_pipeline}}))
test_dataloader = val_dataloader

# Checkpoints written atomically, and a validation cut off by a kill is run
# after --resume (as mmipr's COCO configs).
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
custom_hooks = [
    dict(type='SyncBuffersHook'),
    dict(type='ResumeValidationHook')
]
