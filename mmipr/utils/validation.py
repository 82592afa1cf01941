"""Argument checks shared by every registered module and every tool flag.

One home for the rule "a bad value fails where it is built, naming the
argument, the value and what is allowed". Modules call :func:`check_number`
and :func:`check_choice` in ``__init__``; command-line tools use
:func:`cli_number` (and its two common cases :func:`positive_int`,
:func:`non_negative_int`) as ``argparse`` types, which turn the same checks
into ``argparse.ArgumentTypeError`` so that argparse prints
``argument --flag: ...`` and exits with 2.

No MMPose import here: the pure layers may use it.
"""
from __future__ import annotations

import argparse
import math
import numbers
from typing import Any, Callable, Iterable, Optional


class InvalidArgumentError(ValueError):
    """A module or tool argument of the wrong type or out of range.

    A ``ValueError`` (and raised for wrong types too, so that one ``except``
    catches every invalid setting); the message names the owner, the
    argument, the value and what is allowed.
    """


def _range_text(integer: bool, low, high, low_open: bool,
                high_open: bool) -> str:
    kind = 'a whole number' if integer else 'a finite number'
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high}")
    return kind + (' ' + ' and '.join(parts) if parts else '')


def check_number(owner: str,
                 name: str,
                 value: Any,
                 *,
                 integer: bool = False,
                 low: Optional[float] = None,
                 high: Optional[float] = None,
                 low_open: bool = False,
                 high_open: bool = False,
                 allow_none: bool = False,
                 hint: str = '') -> Any:
    """Check that ``value`` is a finite (whole) number within a range.

    Booleans and strings are refused (``sigma='2'`` from a config file fails
    here, not deep inside a formula); NaN and infinities are refused.

    Args:
        owner (str): who takes the argument, e.g. ``'KLPriorLoss'``.
        name (str): the argument's name, e.g. ``'sigma'``.
        value: the value given.
        integer (bool): require a whole number (an ``int``, or a float with
            no fractional part is refused too: say 3, not 3.0).
        low, high (float, optional): bounds; closed unless ``low_open`` /
            ``high_open``.
        allow_none (bool): accept None (returned as is).
        hint (str): appended to the message, e.g. why the bound exists.

    Returns:
        the value, unchanged.

    Raises:
        InvalidArgumentError: naming ``owner``, ``name``, the value and the
            allowed range.
    """
    if value is None and allow_none:
        return value
    allowed = _range_text(integer, low, high, low_open, high_open)
    is_number = (isinstance(value, numbers.Real)
                 and not isinstance(value, bool))
    ok = is_number and (not integer or isinstance(value, numbers.Integral))
    if ok and not integer:
        ok = math.isfinite(float(value))
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        message = f'{owner}: {name} must be {allowed}, got {value!r}'
        if not is_number and value is not None:
            message += f' ({type(value).__name__})'
        raise InvalidArgumentError(message + (f'; {hint}' if hint else ''))
    return value


def check_choice(owner: str, name: str, value: Any, choices: Iterable,
                 hint: str = '') -> Any:
    """Check that ``value`` is one of ``choices``.

    Raises:
        InvalidArgumentError: naming the argument, the value and the choices.
    """
    choices = list(choices)
    if not any(value is c or (type(value) is type(c) and value == c)
               for c in choices):
        raise InvalidArgumentError(
            f'{owner}: {name} must be one of {choices}, got {value!r}' +
            (f'; {hint}' if hint else ''))
    return value


def check_bool(owner: str, name: str, value: Any) -> bool:
    """Check that ``value`` is a ``bool`` (not 0/1, not 'False')."""
    if not isinstance(value, bool):
        raise InvalidArgumentError(
            f'{owner}: {name} must be True or False, got {value!r}')
    return value


def cli_number(*, integer: bool = False, low: Optional[float] = None,
               high: Optional[float] = None, low_open: bool = False,
               high_open: bool = False,
               hint: str = '') -> Callable[[str], Any]:
    """An ``argparse`` type: the text as a number checked by
    :func:`check_number`.

    Example::

        parser.add_argument('--lr', type=cli_number(low=0, low_open=True))

    Returns:
        callable: text -> int or float, raising
        ``argparse.ArgumentTypeError`` with the allowed range.
    """
    def parse(text: str):
        allowed = _range_text(integer, low, high, low_open, high_open)
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f'expected {allowed}, got {text!r}') from None
        try:
            return check_number('', 'the value', value, integer=integer,
                                low=low, high=high, low_open=low_open,
                                high_open=high_open)
        except InvalidArgumentError:
            raise argparse.ArgumentTypeError(
                f'must be {allowed}, got {text}' +
                (f': {hint}' if hint else '')) from None
    parse.__name__ = 'whole number' if integer else 'number'
    return parse


def positive_int(text: str) -> int:
    """An ``argparse`` type: a whole number of at least 1 (``--epochs``).

    Raises:
        argparse.ArgumentTypeError: if ``text`` is not a whole number >= 1;
            argparse prints ``argument --epochs: ...`` and exits with 2.
    """
    return cli_number(integer=True, low=1, hint='with nothing to run the run '
                      'would finish at once and report nothing')(text)


def non_negative_int(text: str) -> int:
    """An ``argparse`` type: a whole number of at least 0
    (``--pretrain-epochs``, where 0 means none)."""
    return cli_number(integer=True, low=0, hint='0 means none')(text)
