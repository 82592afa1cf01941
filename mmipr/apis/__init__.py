"""Inference on images with mmipr models, on top of MMPose's Inferencer."""
from .inference import (  # noqa: F401
                        WHOLE_IMAGE,
                        infer_with_boxes,
                        init_inferencer,
)
