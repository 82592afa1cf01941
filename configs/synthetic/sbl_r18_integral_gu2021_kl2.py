# CPU-sized ../sbl_r50_integral_gu2021_kl2.py.
_base_ = ['./sbl_r18_integral_kl2.py']

model = dict(head=dict(debias='gu2021'))
