# A candidate neutral start (issue 24, item 3): the silhouette pretraining
# (./pretrain_r18_silhouette.py) with a richer target, the instance's body
# parts. Still no keypoint, joint heatmap or coordinate is supervised, and
# neither head is favoured: the parts are regions (head, torso, each limb's
# upper and lower segment, left and right told apart), from the generator's
# exact part shapes (the part maps beside the images, docs/synthetic_data.md).
#
# Changes from the silhouette pretraining:
# - HeatmapHead with one output channel per part class (11, background
#   included), trained by a per-pixel softmax cross-entropy
#   (PixelCrossEntropyLoss) against the one-hot part map at 64x48
#   (GeneratePartTarget: flipped samples swap left and right classes).
_base_ = ['./pretrain_r18_silhouette.py']

num_part_classes = 11  # mmipr.datasets.synthetic_body.PART_CLASSES
heatmap_size = (48, 64)

model = dict(
    head=dict(
        out_channels=num_part_classes,
        loss=dict(_delete_=True, type='PixelCrossEntropyLoss')))

train_pipeline = [
    dict(type='CachedLoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(
        type='RandomBBoxTransform', rotate_factor=30,
        scale_factor=(0.75, 1.25)),
    dict(type='TopdownAffine', input_size=(96, 128)),
    dict(
        type='GeneratePartTarget',
        heatmap_size=heatmap_size,
        num_classes=num_part_classes),
    dict(type='PackPoseInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
