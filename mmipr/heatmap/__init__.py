"""Pure tensor math on (B, K, H, W) heatmaps: no registry, no MMPose import, no I/O."""
from .decode import (decode_argmax, gaussian_blur,  # noqa: F401
                     gaussian_kernel1d, get_heatmap_maximum,
                     refine_keypoints, refine_keypoints_dark)
from .gaussian import (gaussian_heatmaps, gaussian_kl_divergence,  # noqa: F401
                       log_gaussian_heatmaps)
from .integral import (debias, expectation, flat_log_softmax,  # noqa: F401
                       flat_softmax, integral_l1_grad)
from .stats import (activation_sum, activation_sum_curve,  # noqa: F401
                    best_fit_sigma, expected_epe, normalize_heatmaps,
                    pearson_chi_square)
