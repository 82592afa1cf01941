"""Old names that keep working: one warning per name and process.

No MMPose import here: the pure layers use it.
"""
from __future__ import annotations

import warnings

_warned: set = set()


def warn_once(old: str, message: str) -> None:
    """Issue ``FutureWarning(message)`` the first time ``old`` is used.

    ``FutureWarning`` rather than ``DeprecationWarning``: Python shows it by
    default, so users of a config (not only developers) see it.

    Args:
        old (str): the old name; later uses of the same name stay silent.
        message (str): what the name is now and what to write instead.
    """
    if old in _warned:
        return
    _warned.add(old)
    warnings.warn(message, FutureWarning, stacklevel=3)
