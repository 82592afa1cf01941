# Integral regression + spatial prior, sigma 2 (Gu et al. 2022, Table 1
# "+sigma=2", 71.4 AP): KL(G_sigma || softmax(beta h)) on the same normalised
# heatmap the expectation uses, weighted 1:1 with the L1 loss at initialisation
# (App. A.4; KLPriorLoss's default loss_weight, see its docstring).
_base_ = ['./sbl_r50_integral.py']

model = dict(
    head=dict(prior_loss=dict(type='KLPriorLoss', sigma=2.0)))
