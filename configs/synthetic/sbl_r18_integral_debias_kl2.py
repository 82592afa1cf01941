# CPU-sized ../sbl_r50_integral_debias_kl2.py.
_base_ = ['./sbl_r18_integral_kl2.py']

model = dict(head=dict(debias=True))
