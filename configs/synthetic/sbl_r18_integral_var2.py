# CPU-sized ../sbl_r50_integral_var2.py.
_base_ = ['./sbl_r18_integral.py']

model = dict(
    head=dict(prior_loss=dict(type='VarianceRegLoss', sigma=2.0)))
