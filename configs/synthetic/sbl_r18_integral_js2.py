# CPU-sized ../sbl_r50_integral_js2.py.
_base_ = ['./sbl_r18_integral.py']

model = dict(
    head=dict(
        prior_loss=dict(type='JSPriorLoss', sigma=2.0)))
