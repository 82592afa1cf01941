# Integral regression with the bias compensation as Gu et al. 2021 derive it
# (background logits 0 over all H*W pixels, beta included); debias=True is
# MMPose's formula instead (docs/heads.md).
_base_ = ['./sbl_r50_integral.py']

model = dict(head=dict(debias='gu2021'))
