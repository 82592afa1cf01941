"""Registered mmipr modules."""
from . import heads, losses  # noqa: F401  (registration)
