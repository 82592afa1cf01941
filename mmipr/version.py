"""The single place mmipr's version is defined (setup.cfg reads it)."""

__version__ = '0.1.0'
