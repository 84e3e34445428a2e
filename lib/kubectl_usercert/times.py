"""Times and durations as this tool reads and writes them: the one place a duration is parsed or
written (`parse_duration`; `duration_text` as it reads back, `human_duration` in messages).

Timestamps are UTC in RFC 3339 with a Z (as Kubernetes writes them); durations are typed as
admins type them: 30d, 12h, 90m, 2w, 600s (a bare number is days).
"""

import re
from datetime import datetime, timedelta, timezone

from .errors import InvalidInput

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_ISO = "%Y-%m-%dT%H:%M:%SZ"
_ISO_PARTS = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z", re.ASCII)


def iso(moment):
    return moment.strftime(_ISO)


def parse_iso(text):
    """A timestamp as iso() writes it; ValueError for anything else. (Not strptime: a ledger has
    three per line, and strptime was most of the time it took to read one.)"""
    match = _ISO_PARTS.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not a time as YYYY-MM-DDTHH:MM:SSZ")
    return datetime(*map(int, match.groups()), tzinfo=timezone.utc)


DAY_SECONDS = 86400


def days_left(not_after, now=None):
    now = now or datetime.now(timezone.utc)
    return int((not_after - now).total_seconds() // DAY_SECONDS)


MAX_DURATION = timedelta(days=100 * 365)


def parse_duration(text, what="duration", default_unit="d"):
    """A duration as admins type it (30d, 12h, 90m, 2w, 600s; a bare number is in `default_unit`),
    at most a hundred years."""
    match = re.fullmatch(r"\s*(\d{1,12})\s*([smhdw]?)\s*", text or "")
    if not match:
        raise InvalidInput(
            f"{what} {text!r} is not a duration",
            hint="use a number with a unit: 30d, 12h, 90m, 600s",
        )
    amount, unit = int(match.group(1)), match.group(2) or default_unit
    seconds = amount * timedelta(**{_UNITS[unit]: 1}).total_seconds()
    if seconds > MAX_DURATION.total_seconds():
        raise InvalidInput(
            f"{what} {text!r} is longer than a hundred years", hint="use a shorter duration"
        )
    return timedelta(seconds=seconds)


def duration_text(delta):
    """A duration as parse_duration reads it back, in the largest unit that says it exactly: 30d,
    8h, 90m, or 600s (the ledger, -o json, and messages that quote a roster)."""
    seconds = int(delta.total_seconds())
    for unit, size in (("d", DAY_SECONDS), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def human_duration(delta):
    """A duration as people read it in a message: whole days as "30 days", anything else in hours
    and minutes ("8h00m", "0h30m")."""
    seconds = int(delta.total_seconds())
    if seconds and is_whole_days(delta):
        return f"{seconds // DAY_SECONDS} days"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def is_whole_days(delta):
    return delta.total_seconds() % DAY_SECONDS == 0
