"""Checks of the arguments both heads pass to MMPose's ``HeatmapHead``
trunk, which takes them unchecked (``out_channels=0`` builds, and fails
only at the first forward)."""
from __future__ import annotations

from typing import Sequence, Union

from mmipr.utils.validation import check_number


def check_trunk_channels(owner: str, in_channels: Union[int, Sequence[int]],
                         out_channels: int) -> None:
    """Check ``in_channels`` (a channel count, or one per input level) and
    ``out_channels`` (the number of keypoints K): whole numbers >= 1.

    Args:
        owner (str): the head's name, for the message.
        in_channels (int | Sequence[int]): as ``HeatmapHead``.
        out_channels (int): as ``HeatmapHead``.

    Raises:
        InvalidArgumentError: naming the argument and the value.
    """
    if isinstance(in_channels, (list, tuple)):
        if not in_channels:
            check_number(owner, 'in_channels', None,
                         hint='give the channels of the input feature map')
        for channels in in_channels:
            check_number(owner, 'in_channels', channels, integer=True, low=1,
                         hint='the channels of the input feature map')
    else:
        check_number(owner, 'in_channels', in_channels, integer=True, low=1,
                     hint='the channels of the input feature map')
    check_number(owner, 'out_channels', out_channels, integer=True, low=1,
                 hint='the number of keypoints K, one heatmap each')
