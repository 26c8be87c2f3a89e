"""Checks of numbers that come from users, with one set of rules and messages.

Every configuration that a user can set (command-line flags, ``--option``/``--set`` values,
experiment configs, dataset options) goes through these functions before any work or memory is
spent on it:

* :func:`check_int` -- a true integer (``bool`` and integral floats such as ``4.0`` are refused)
  inside inclusive bounds;
* :func:`check_real` -- a finite real number (``NaN`` and ``inf`` are refused, and so are
  ``bool`` and strings) inside bounds, each bound closed or open;
* :func:`check_seed` -- an integer in ``[0, MAX_SEED]``, the range that both
  ``numpy.random.SeedSequence`` (non-negative integers) and ``jax.random.key`` (a C ``long``)
  accept.

Each raises ``error`` (a ``ValueError`` subclass, ``ValueError`` by default) whose one-line
message names the setting, what was expected and what arrived, so callers keep their own error
types (``DatasetConfigError``, ``CircuitError``, ...).

    >>> check_real("learning_rate", 0.01, minimum=0, min_open=True)
    0.01
    >>> check_int("epochs", 0, minimum=1)
    Traceback (most recent call last):
    ...
    ValueError: epochs must be an integer >= 1, got 0.
"""

from __future__ import annotations

import math
import numbers

#: Largest accepted seed: ``2**63 - 1`` (``jax.random.key`` overflows above it).
MAX_SEED = 2**63 - 1


def _shown(value) -> str:
    """``repr(value)``, cut to 40 characters (a 1000-digit integer stays one short line)."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...{text[-8:]} ({len(text)} characters)"


def _number_text(value) -> str:
    return "2**63 - 1" if value == MAX_SEED else str(value)


def _bounds_text(minimum, maximum, min_open: bool = False, max_open: bool = False) -> str:
    minimum = None if minimum is None else _number_text(minimum)
    maximum = None if maximum is None else _number_text(maximum)
    if minimum is not None and maximum is not None:
        return f" in {'(' if min_open else '['}{minimum}, {maximum}{')' if max_open else ']'}"
    if minimum is not None:
        return f" {'>' if min_open else '>='} {minimum}"
    if maximum is not None:
        return f" {'<' if max_open else '<='} {maximum}"
    return ""


def _with_hint(message: str, hint: str) -> str:
    return f"{message} {hint}" if hint else message


def check_int(
    name: str,
    value,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    hint: str = "",
    error: type[ValueError] = ValueError,
) -> int:
    """``value`` as an ``int`` if it is an integer in ``[minimum, maximum]``, else ``error``.

    ``hint``, a sentence saying what the setting means or how to fix it, follows the message.
    """
    expected = f"{name} must be an integer{_bounds_text(minimum, maximum)}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise error(_with_hint(f"{expected}, got {_shown(value)}.", hint))
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise error(_with_hint(f"{expected}, got {_shown(value)}.", hint))
    return int(value)


def check_real(
    name: str,
    value,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    min_open: bool = False,
    max_open: bool = False,
    hint: str = "",
    error: type[ValueError] = ValueError,
) -> float:
    """``value`` as a ``float`` if it is a finite real number within the bounds, else ``error``.

    ``min_open``/``max_open`` make a bound strict (``learning_rate > 0``: ``minimum=0,
    min_open=True``). Integers are accepted (``1`` for ``1.0``); ``bool``, strings, ``NaN``
    and ``inf`` are not.
    """
    bounds = _bounds_text(minimum, maximum, min_open, max_open)
    expected = f"{name} must be a finite number{bounds}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise error(_with_hint(f"{expected}, got {_shown(value)}.", hint))
    try:
        number = float(value)
    except OverflowError:  # an int beyond the float range
        raise error(_with_hint(f"{expected}, got {_shown(value)}.", hint)) from None
    if not math.isfinite(number):
        raise error(_with_hint(f"{expected}, got {_shown(value)}.", hint))
    below = minimum is not None and (number <= minimum if min_open else number < minimum)
    above = maximum is not None and (number >= maximum if max_open else number > maximum)
    if below or above:
        raise error(_with_hint(f"{expected}, got {_shown(value)}.", hint))
    return number


def check_seed(name: str, value, *, error: type[ValueError] = ValueError) -> int:
    """``value`` as an ``int`` if it is a seed in ``[0, MAX_SEED]`` (module docstring)."""
    return check_int(name, value, minimum=0, maximum=MAX_SEED, error=error)
