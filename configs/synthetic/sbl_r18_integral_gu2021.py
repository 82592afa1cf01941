# CPU-sized ../sbl_r50_integral_gu2021.py.
_base_ = ['./sbl_r18_integral.py']

model = dict(head=dict(debias='gu2021'))
