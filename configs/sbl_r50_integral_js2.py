# Integral regression + Jensen-Shannon divergence to G_sigma, sigma 2: DSNT's
# regulariser (MMPose's JSDiscretLoss, dsntnn's js_reg_losses).
_base_ = ['./sbl_r50_integral.py']

model = dict(
    head=dict(
        prior_loss=dict(type='JSPriorLoss', sigma=2.0)))
