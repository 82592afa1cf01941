"""Errors that explain a problem of the config, data or checkpoint in words.

The command-line tools print them as a message (no traceback): each names the
file or setting, what is wrong and what to do. They subclass the built-in
types (``ValueError``, ``FileNotFoundError``, ``RuntimeError``), so callers
that catch those keep working. Raised by the preflight checks of the tools
(:mod:`mmipr.engine.preflight`), the annotation and image checks
(:mod:`mmipr.datasets.annotation_checks`) and the checkpoint code
(:mod:`mmipr.checkpoint_loader`, :mod:`mmipr.engine.checkpoint`).
"""


class PreflightError(Exception):
    """Base of the errors a preflight check raises: a problem of the config,
    data or checkpoint, explained in its message (no traceback needed)."""


class PreflightValueError(PreflightError, ValueError):
    """A config value, data file or checkpoint content is invalid."""


class PreflightFileNotFoundError(PreflightError, FileNotFoundError):
    """A data file, folder or checkpoint is missing or incomplete."""


class PreflightRuntimeError(PreflightError, RuntimeError):
    """The machine cannot run what the config asks for."""
