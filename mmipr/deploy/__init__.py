"""Deployment: ONNX export of mmipr's heads with their decoding."""
from .onnx import (  # noqa: F401
                   DecodedPoseEstimator,
                   export_onnx,
                   export_onnx_from_config,
)
