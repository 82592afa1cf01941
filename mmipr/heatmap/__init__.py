"""Pure tensor math on (B, K, H, W) heatmaps: no registry, no MMPose import, no I/O.

``debias`` is the former name of ``debias_mmpose`` (it warns once).
"""
from .checks import check_beta, check_heatmaps  # noqa: F401
from .decode import (  # noqa: F401
                     decode_argmax,
                     gaussian_blur,
                     gaussian_kernel1d,
                     get_heatmap_maximum,
                     refine_keypoints,
                     refine_keypoints_dark,
)
from .gaussian import gaussian_heatmaps, gaussian_kl_divergence, log_gaussian_heatmaps  # noqa: F401
from .integral import (  # noqa: F401
                       debias,
                       debias_gu2021,
                       debias_mmpose,
                       expectation,
                       flat_log_softmax,
                       flat_softmax,
                       integral_l1_grad,
)
from .priors import (  # noqa: F401
                     gaussian_js_divergence,
                     heatmap_variance,
                     reverse_gaussian_kl_divergence,
                     variance_regularization,
)
from .stats import (  # noqa: F401
                     activation_sum,
                     activation_sum_curve,
                     best_fit_sigma,
                     expected_epe,
                     normalize_heatmaps,
                     pearson_chi_square,
                     round_half_up,
)
