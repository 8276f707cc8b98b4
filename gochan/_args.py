"""The validators of gochan's numeric arguments: seconds and counts.

Every parameter that is a number of seconds (a timeout, a duration, a
deadline, an interval) goes through :func:`seconds` or :func:`timeout`,
and every count (a capacity, a limit, a number of workers) through
:func:`count`, so all of gochan accepts and rejects the same values:

* seconds: any real number -- ``int``, ``float``, ``Fraction``, ``Decimal``
  (any ``numbers.Real``). ``bool`` and anything else: ``TypeError`` naming
  the parameter. NaN: ``ValueError``. Values too large for a float
  (``10**400``) become ``inf``: a timeout that never expires, a timer that
  never fires. Non-positive: already expired.
* counts: an ``int`` (not a ``bool``) at least the given minimum.
"""

from __future__ import annotations

import decimal
import math
import numbers

__all__ = ["count", "seconds", "timeout"]


def seconds(value: object, name: str) -> float:
    """``value`` as float seconds; ``name`` (``"Timer: duration"``) is in the errors."""
    kind = type(value)
    if kind is float:
        if value == value:  # not NaN: the common case, checked first
            return value  # type: ignore[return-value]  # it is a float
        raise ValueError(f"{name} must not be NaN")
    if kind is int:
        try:
            return float(value)  # type: ignore[arg-type]  # it is an int
        except OverflowError:  # 10**400: forever
            return math.inf if value > 0 else -math.inf  # type: ignore[operator]
    if kind is bool or not isinstance(value, (numbers.Real, decimal.Decimal)):
        raise TypeError(f"{name} must be a number of seconds, got {kind.__name__}")
    try:
        is_nan = value != value or (isinstance(value, decimal.Decimal) and value.is_nan())
    except decimal.InvalidOperation:  # a signaling NaN refuses comparison
        is_nan = True
    if is_nan:
        raise ValueError(f"{name} must not be NaN")
    return _to_float(value)


def _to_float(value: object) -> float:
    """A real number as a float, saturating to +-inf instead of overflowing."""
    try:
        return float(value)  # type: ignore[arg-type]  # a Real converts to float
    except OverflowError:
        return math.inf if value > 0 else -math.inf  # type: ignore[operator]


def timeout(value: object, name: str = "timeout") -> float | None:
    """A ``timeout`` argument: ``None`` (wait forever) or :func:`seconds`."""
    if value is None:
        return None
    return seconds(value, name)


def count(value: object, name: str, minimum: int, go: str = "") -> int:
    """An ``int`` count of at least ``minimum``; ``name`` is in the errors.

    ``go``, if given, is Go's wording for a value out of range, added to
    the message (``Chan: capacity must be >= 0, got -1 (makechan: size out
    of range)``).
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        suffix = f" ({go})" if go else ""
        raise ValueError(f"{name} must be >= {minimum}, got {value}{suffix}")
    return value
