"""Durations as admins type them: 30d, 12h, 90m, 2w, 600s (a bare number is days)."""

import re
from datetime import timedelta

from .errors import InvalidInput

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text, what="duration"):
    match = re.fullmatch(r"\s*(\d+)\s*([smhdw]?)\s*", text or "")
    if not match:
        raise InvalidInput(f"{what} {text!r} is not a duration", hint="use a number with a unit: 30d, 12h, 90m, 600s")
    amount, unit = int(match.group(1)), match.group(2) or "d"
    return timedelta(**{_UNITS[unit]: amount})
