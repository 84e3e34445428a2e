"""Times as Go prints them (RFC 3339 in UTC, whole seconds), as in metav1.Time and x509 errors."""

import datetime
from typing import Optional


def _go_time(t: datetime.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _timestamp(t: Optional[datetime.datetime] = None) -> str:
    return _go_time(t or datetime.datetime.now(datetime.timezone.utc))
